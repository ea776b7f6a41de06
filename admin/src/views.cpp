// JSON views shared by bastionctl and the admin API.
#include "views.hpp"

namespace bastion::admin {
namespace {

nlohmann::json or_null(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

// A stored JSON text (written by the bastion, but from clients' words) as JSON; as a string if it
// does not parse.
nlohmann::json stored_json(const std::string& text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  return doc.is_discarded() ? nlohmann::json(text) : doc;
}

}  // namespace

nlohmann::json session_json(const policy::session_info& s) {
  return {{"id", s.id},
          {"node", s.node},
          {"user", s.user},
          {"target", s.target},
          {"login", s.login},
          {"source", s.source_addr},
          {"access_form", s.access_form},
          {"started_at", s.started_at},
          {"ended_at", or_null(s.ended_at)},
          {"ended_reason", s.ended_reason},
          {"bytes_raw", s.bytes_raw},
          {"bytes_stored", s.bytes_stored},
          {"lost_bytes", s.lost_bytes}};
}

nlohmann::json channel_json(const policy::channel_info& c) {
  return {{"channel", c.channel_no},
          {"kind", c.kind},
          {"detail", stored_json(c.detail_json)},
          {"opened_at", c.opened_at},
          {"closed_at", or_null(c.closed_at)},
          {"exit_status", c.exit_status ? nlohmann::json(*c.exit_status) : nullptr},
          {"exit_signal", or_null(c.exit_signal)},
          {"bytes_in", c.bytes_in},
          {"bytes_out", c.bytes_out}};
}

nlohmann::json audit_json(const policy::audit_row& a) {
  return {{"id", a.id},
          {"at", a.at},
          {"node", a.node},
          {"kind", a.kind},
          {"result", a.result},
          {"actor", a.actor},
          {"source", a.source_addr},
          {"target", a.target_name},
          {"session", or_null(a.session_id)},
          {"detail", stored_json(a.detail_json)}};
}

std::string dump_json(const nlohmann::json& doc) {
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace bastion::admin
