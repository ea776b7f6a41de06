// The process's Prometheus registry and the builders that components declare their metrics with.
// Each component keeps its metrics in one struct beside its code (proxy_metrics, recorder_metrics,
// policy_metrics), built once on first use, so that every series exists, at zero, from the start.
// Counting is an atomic add on the series' value: the data path takes no lock. bastiond serves the
// registry on metrics.listen (admin/metrics_endpoint).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace bastion::metrics {

// The one registry of the process.
const std::shared_ptr<prometheus::Registry>& registry();

// A counter that another library keeps (spdlog's count of dropped lines): `value` is read at each
// scrape. Declared once, like the others; a second declaration of `name` is ignored.
void computed_counter(const std::string& name, const std::string& help,
                      std::function<double()> value);

// What a scrape returns: the registry and the computed counters.
std::shared_ptr<prometheus::Collectable> collectable();

prometheus::Family<prometheus::Counter>& counter_family(const std::string& name,
                                                        const std::string& help);
prometheus::Family<prometheus::Gauge>& gauge_family(const std::string& name,
                                                    const std::string& help);
prometheus::Family<prometheus::Histogram>& histogram_family(const std::string& name,
                                                            const std::string& help);

// One unit of a gauge for as long as it is held: a live session, an open channel.
class gauge_hold {
 public:
  gauge_hold() = default;
  explicit gauge_hold(prometheus::Gauge& gauge) : gauge_(&gauge) { gauge_->Increment(); }
  gauge_hold(gauge_hold&& other) noexcept : gauge_(std::exchange(other.gauge_, nullptr)) {}
  gauge_hold& operator=(gauge_hold&& other) noexcept {
    if (this != &other) {
      reset();
      gauge_ = std::exchange(other.gauge_, nullptr);
    }
    return *this;
  }
  gauge_hold(const gauge_hold&) = delete;
  gauge_hold& operator=(const gauge_hold&) = delete;
  ~gauge_hold() { reset(); }

  void reset() {
    if (gauge_ != nullptr) {
      gauge_->Decrement();
      gauge_ = nullptr;
    }
  }

 private:
  prometheus::Gauge* gauge_ = nullptr;
};

// The registry in the text exposition format, as a scrape of /metrics returns it.
std::string exposition();

// One series' current value in `text` (an exposition), e.g. value_of(t,
// "bastion_bytes_total{direction=\"to_target\"}"), if the series is there. For tests and
// benchmarks.
std::optional<double> value_of(const std::string& text, const std::string& series);

}  // namespace bastion::metrics
