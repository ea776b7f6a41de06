// Grants: who may reach which targets, as which logins, with which channel kinds, and within what
// limits. Default deny: a login that no grant names is refused. Pure: rules and a request in, a
// decision out, with the rule that decided and the reason, so that it is table-tested.
//
// A grant names its subject (a user, or a group of users), its targets (one by name, the names
// that match a glob, or those that carry a label), its logins and its channel kinds, and may add:
// a validity window (valid_from inclusive, valid_until exclusive), source CIDRs, a maximum session
// duration, an idle timeout, how the bastion authenticates upstream (its own key, the default, or
// the user's forwarded agent), and whether forwarded bytes are recorded.
//
// Precedence: when several grants name the same user, target and login, the most specific one
// decides alone, with its kinds, its window and its sources (they are never merged, so a narrow
// grant narrows a broad one, also in where and when): a grant to the user beats one to a group, a
// target by name beats a label, a label beats a glob, a glob with more literal characters beats
// one with fewer, and the lowest id breaks a tie. If the deciding grant does not admit the request
// (out of its window, or from a source it does not list), the login is refused with that reason,
// even where a broader grant would have admitted it: refusals fail closed. A row that cannot be
// read still decides where it would have, and refuses.
//
// The session limits (max_session_duration, idle_timeout), upstream_auth and the forward options
// (record_forward_data, forward_ssh_inside) are read by the evaluator, which hands them to the
// session with the deciding grant.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <bastion/common/address.hpp>
#include <bastion/common/result.hpp>
#include <bastion/policy/names.hpp>

namespace bastion::policy {

enum class upstream_auth : std::uint8_t { bastion_key, agent };

std::string_view to_string(upstream_auth auth);

// A target's labels, as `bastionctl target add ... --label k=v` sets them.
using target_labels = std::map<std::string, std::string, std::less<>>;

// What a grant names as its targets.
struct target_selector {
  enum class kind : std::uint8_t { name, glob, label };
  kind by = kind::name;
  std::string name;  // the name, or the glob (* and ?)
  std::string label_key;
  std::string label_value;

  bool matches(std::string_view target, const target_labels& labels) const;
  // "web1", "web-*", "label:env=prod": the form parse_target_selector reads.
  std::string to_string() const;
};

// "web1" (a target name), "web-*" or "db-?" (a glob over names), "label:KEY=VALUE".
result<target_selector> parse_target_selector(std::string_view text);

struct grant_rule {
  std::int64_t id = 0;
  bool to_group = false;
  std::string subject;  // a user name, or a group name when to_group
  target_selector targets;
  std::vector<std::string> logins;
  std::vector<channel_kind> kinds;
  std::optional<std::int64_t> valid_from_unix;   // inclusive
  std::optional<std::int64_t> valid_until_unix;  // exclusive
  std::vector<net_block> sources;                // empty: from anywhere
  std::optional<std::int64_t> max_session_seconds;
  std::optional<std::int64_t> idle_timeout_seconds;
  upstream_auth auth = upstream_auth::bastion_key;
  bool record_forward_data = false;
  bool forward_ssh_inside = false;  // a forward may carry an SSH connection
  // Set for a stored row whose limits cannot be read (make_refusing_rule): it still decides where
  // it names the request, and refuses, saying this.
  std::string unreadable;
};

// A grant as it is stored, in text, before it is checked.
struct grant_row {
  std::int64_t id = 0;
  std::string user;  // exactly one of user and group
  std::string group;
  std::string targets;  // as parse_target_selector reads it
  std::vector<std::string> logins;
  std::string kinds;  // "shell,exec,sftp"
  std::optional<std::int64_t> valid_from_unix;
  std::optional<std::int64_t> valid_until_unix;
  std::vector<std::string> sources;  // CIDR blocks or addresses
  std::optional<std::int64_t> max_session_seconds;
  std::optional<std::int64_t> idle_timeout_seconds;
  std::string upstream_auth = "bastion-key";
  bool record_forward_data = false;
  bool forward_ssh_inside = false;
};

// Checks every field. A row that fails is left out of the policy (and logged by the caller), so
// a malformed row never widens access; the error names the grant and the field.
result<grant_rule> make_grant_rule(const grant_row& row);

// For a stored row that make_grant_rule refused: the rule it would have been, without its limits,
// marked unreadable (it refuses every request it names), so that a broader grant never decides in
// its place. Fails only if even its subject, targets, logins or kinds cannot be read; such a row
// names nothing that can be known, and is left out.
result<grant_rule> make_refusing_rule(const grant_row& row, const std::string& why);

struct grant_request {
  std::string_view user;
  std::span<const std::string> groups;  // the user's groups
  std::string_view target;
  const target_labels* labels = nullptr;  // the target's; nullptr: none
  std::string_view login;
  std::string_view source_ip;  // the client's address as the listener saw it
  std::int64_t now_unix = 0;
};

struct grant_decision {
  bool allowed = false;
  // The grant that allowed the login; when refused, the most specific grant that named the login
  // but did not admit it now (nullptr if none named it).
  const grant_rule* rule = nullptr;
  std::string reason;  // when refused: for the client's message and the audit trail
};

grant_decision evaluate_grants(std::span<const grant_rule> rules, const grant_request& request);

// For a -J hop, before its login is known: allowed if some login that a grant on the target names
// would be (request.login is ignored). Refused, it gives the first such login's reason, or a plain
// refusal when no grant names the user and the target.
grant_decision evaluate_reach(std::span<const grant_rule> rules, const grant_request& request);

}  // namespace bastion::policy
