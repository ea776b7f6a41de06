// The process's Prometheus registry.
#include <prometheus/text_serializer.h>

#include <mutex>
#include <optional>
#include <vector>

#include <bastion/common/metrics.hpp>

namespace bastion::metrics {

const std::shared_ptr<prometheus::Registry>& registry() {
  static const auto r = std::make_shared<prometheus::Registry>();
  return r;
}

namespace {

class scrape_set final : public prometheus::Collectable {
 public:
  void add(prometheus::MetricFamily family, std::function<double()> value) {
    const std::lock_guard lock(mutex_);
    for (const auto& c : computed_) {
      if (c.first.name == family.name) {
        return;
      }
    }
    computed_.emplace_back(std::move(family), std::move(value));
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    auto families = registry()->Collect();
    const std::lock_guard lock(mutex_);
    for (const auto& [family, value] : computed_) {
      auto f = family;
      prometheus::ClientMetric m;
      m.counter.value = value();
      f.metric.push_back(std::move(m));
      families.push_back(std::move(f));
    }
    return families;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<prometheus::MetricFamily, std::function<double()>>> computed_;
};

const std::shared_ptr<scrape_set>& scrapes() {
  static const auto s = std::make_shared<scrape_set>();
  return s;
}

}  // namespace

void computed_counter(const std::string& name, const std::string& help,
                      std::function<double()> value) {
  scrapes()->add({name, help, prometheus::MetricType::Counter, {}}, std::move(value));
}

std::shared_ptr<prometheus::Collectable> collectable() {
  return scrapes();
}

prometheus::Family<prometheus::Counter>& counter_family(const std::string& name,
                                                        const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(*registry());
}

prometheus::Family<prometheus::Gauge>& gauge_family(const std::string& name,
                                                    const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(*registry());
}

prometheus::Family<prometheus::Histogram>& histogram_family(const std::string& name,
                                                            const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(*registry());
}

std::string exposition() {
  return prometheus::TextSerializer().Serialize(scrapes()->Collect());
}

std::optional<double> value_of(const std::string& text, const std::string& series) {
  const std::string key = series + " ";
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view line(text.data() + at, end - at);
    if (line.starts_with(key)) {
      const std::string value(line.substr(key.size()));
      try {
        return std::stod(value);
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
    at = end + 1;
  }
  return std::nullopt;
}

}  // namespace bastion::metrics
