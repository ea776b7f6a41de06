// The process's Prometheus registry.
#include <prometheus/text_serializer.h>

#include <optional>

#include <bastion/common/metrics.hpp>

namespace bastion::metrics {

const std::shared_ptr<prometheus::Registry>& registry() {
  static const auto r = std::make_shared<prometheus::Registry>();
  return r;
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
  return prometheus::TextSerializer().Serialize(registry()->Collect());
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
