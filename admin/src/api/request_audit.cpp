// Audit rows and counters of admin API requests.
#include "request_audit.hpp"

#include <bastion/common/escape.hpp>
#include <bastion/common/metrics.hpp>
#include <bastion/policy/sessions.hpp>

#include "../views.hpp"
#include "query.hpp"

namespace bastion::admin {
namespace {

prometheus::Family<prometheus::Counter>& requests_family() {
  return metrics::counter_family(
      "bastion_admin_requests_total",
      "Admin API requests by result: ok, denied (no valid admin token), error; unaudited counts "
      "refusals past the per-address audit rate");
}

std::string address_of(const std::string& peer) {
  const auto colon = peer.rfind(':');
  return colon == std::string::npos ? peer : peer.substr(0, colon);
}

}  // namespace

request_audit::request_audit(policy::journal& journal)
    : journal_(journal),
      ok_(requests_family().Add({{"result", "ok"}})),
      denied_(requests_family().Add({{"result", "denied"}})),
      error_(requests_family().Add({{"result", "error"}})),
      unaudited_(requests_family().Add({{"result", "unaudited"}})) {}

bool request_audit::admit_refusal(const std::string& peer) {
  const auto now = std::chrono::steady_clock::now();
  const std::lock_guard lock(mutex_);
  if (windows_.size() >= max_sources) {
    std::erase_if(windows_,
                  [&](const auto& w) { return now - w.second.start >= std::chrono::minutes(1); });
    if (windows_.size() >= max_sources) {
      unaudited_.Increment();
      return false;
    }
  }
  auto& w = windows_[address_of(peer)];
  if (now - w.start >= std::chrono::minutes(1)) {
    w = {now, 0};
  }
  if (w.written >= per_minute) {
    unaudited_.Increment();
    return false;
  }
  ++w.written;
  return true;
}

void request_audit::request(const api_request& req, const std::string& peer,
                            const std::string& user, std::int64_t token_id, unsigned status) {
  const bool denied = status == 401 || status == 403;
  const char* result = status < 400 ? "ok" : denied ? "denied" : "error";
  (status < 400 ? ok_ : denied ? denied_ : error_).Increment();
  // Refusals, and probes for paths that nothing serves, are kept at a bounded rate per address.
  if ((denied || (status == 404 && user.empty())) && !admit_refusal(peer)) {
    return;
  }
  // A live watch's query may hold a ticket, a credential (under any spelling that decodes to
  // "ticket"): the trail keeps its path without the query.
  const std::string_view path = req.target();
  const auto query = path.find('?');
  const bool redact = query != std::string_view::npos && path.substr(0, query).ends_with("/live");
  nlohmann::json detail{
      {"method", std::string(req.method_string())},
      {"path", redact ? escape(path.substr(0, query), 200) + "?(redacted)" : escape(path, 200)},
      {"status", status}};
  if (token_id != 0) {
    detail["token"] = token_id;
  }
  const auto segments = split_path(path.substr(0, path.find('?')));
  if (segments.size() > 4 && segments[3] == "sessions" && policy::is_session_id(segments[4])) {
    detail["session"] = std::string(segments[4]);
  }
  journal_.record(policy::audit_event{.kind = "admin.api",
                                      .result = result,
                                      .actor = user,
                                      .source_addr = peer,
                                      .detail_json = dump_json(detail)});
}

void request_audit::unreadable(const std::string& peer, unsigned status) {
  error_.Increment();
  if (!admit_refusal(peer)) {
    return;
  }
  journal_.record(policy::audit_event{.kind = "admin.api",
                                      .result = "error",
                                      .source_addr = peer,
                                      .detail_json = dump_json({{"status", status}})});
}

}  // namespace bastion::admin
