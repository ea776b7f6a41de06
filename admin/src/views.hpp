// The JSON forms of sessions, channels and audit rows: one shape for `bastionctl ... --json` and
// for the admin API, so that a script written against one reads the other.
#pragma once

#include <nlohmann/json.hpp>

#include <bastion/policy/sessions.hpp>

namespace bastion::admin {

nlohmann::json session_json(const policy::session_info& s);
nlohmann::json channel_json(const policy::channel_info& c);
nlohmann::json audit_json(const policy::audit_row& a);

// JSON text that never throws: invalid UTF-8 from a client is replaced, not an exception.
std::string dump_json(const nlohmann::json& doc);

}  // namespace bastion::admin
