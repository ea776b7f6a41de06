// The Prometheus scrape endpoint.
#include <CivetServer.h>
#include <prometheus/exposer.h>

#include <stdexcept>

#include <bastion/admin/metrics_endpoint.hpp>
#include <bastion/common/log.hpp>
#include <bastion/common/metrics.hpp>

namespace bastion::admin {
namespace {

// bastion_build_info{version} 1: which build a node runs, to join with its other series.
void declare_build_info() {
  static auto& info =
      metrics::gauge_family("bastion_build_info", "The bastiond build, as a label; always 1")
          .Add({{"version", BASTION_VERSION}});
  info.Set(1);
}

// civetweb's own account of why it could not start (its exception only says that it did not):
// the first message is the cause ("cannot bind to ...: Address already in use"), later ones only
// say what failed with it.
thread_local std::string civetweb_error;

int log_civetweb(const mg_connection* /*conn*/, const char* message) {
  const std::string text = message != nullptr ? message : "";
  if (civetweb_error.empty()) {
    civetweb_error = text;
  }
  spdlog::debug("metrics endpoint: {}", log_value(text));
  return 1;  // handled: civetweb prints nothing itself
}

}  // namespace

metrics_endpoint::metrics_endpoint(const config& cfg) {
  declare_build_info();
  const std::string where = cfg.metrics_listen.to_string();
  try {
    // A scraper is a trusted neighbour, but the port is still bounded: two threads, and a
    // connection whose next bytes do not come within 10 s is dropped (per read, not per
    // request).
    static CivetCallbacks callbacks;
    callbacks.log_message = log_civetweb;
    civetweb_error.clear();
    exposer_ = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", where, "num_threads", "2", "request_timeout_ms",
                                 "10000"},
        &callbacks);
  } catch (const std::exception& e) {
    const std::string why = civetweb_error.empty() ? e.what() : civetweb_error;
    throw std::runtime_error("metrics.listen: cannot listen on " + where + " (" + log_value(why) +
                             "); free the port, or change `metrics: { listen: ... }` in " +
                             cfg.source.string());
  }
  exposer_->RegisterCollectable(metrics::collectable());
  spdlog::info("metrics on http://{}/metrics", where);
}

metrics_endpoint::~metrics_endpoint() = default;

}  // namespace bastion::admin
