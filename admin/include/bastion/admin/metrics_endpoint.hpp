// The Prometheus scrape endpoint that bastiond serves on metrics.listen: GET /metrics returns
// the process's registry (bastion/common/metrics.hpp) in the text format. It runs on threads of
// its own, never on the io threads that carry sessions.
#pragma once

#include <memory>

#include <bastion/common/config.hpp>

namespace prometheus {
class Exposer;
}

namespace bastion::admin {

class metrics_endpoint {
 public:
  // Listens on cfg.metrics_listen. Throws std::runtime_error naming the key and the fix if it
  // cannot.
  explicit metrics_endpoint(const config& cfg);
  ~metrics_endpoint();
  metrics_endpoint(const metrics_endpoint&) = delete;
  metrics_endpoint& operator=(const metrics_endpoint&) = delete;

 private:
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace bastion::admin
