// Pure policy decisions: no I/O, no clock, only the snapshot. Default deny: anything not granted
// is refused, and every refusal carries a reason for the audit trail.
#pragma once

#include <optional>
#include <span>

#include <bastion/policy/snapshot.hpp>

namespace bastion::policy {

// The SSH user name as clients send it: "alice" (the bastion user; `ssh -J alice@bastion`), or
// "deploy@web1" (login and target; `ssh deploy@web1@bastion`), where the key names the user.
struct parsed_username {
  std::string bastion_user;  // set in the plain form
  std::string login;         // set in the username form
  std::string target;        // set in the username form
  bool username_form() const { return !target.empty(); }
};

result<parsed_username> parse_username(std::string_view name);

struct key_decision {
  bool accepted = false;
  std::string user;     // the bastion user the key belongs to
  std::string reason;   // why it was refused (audit only: clients get one reply for every refusal)
  key_options options;  // what the key's sessions may do
};

// Where and when a key is offered or a login asked for: the client's address (from the accepted
// socket) and the time.
struct key_context {
  std::string_view source_ip;
  std::int64_t now_unix = 0;
};

// Decides a public key (by fingerprint) offered for `name`. In the plain form the key must belong
// to that user; in the username form the key's owner is the user. The key's from= and
// expiry-time= options apply.
key_decision decide_key(const policy_snapshot& snap, const parsed_username& name,
                        std::string_view fingerprint, const key_context& where);

// The target a destination names: a registered name (on port 22 or the target's own port), else
// a registered host:port. nullptr when neither matches.
const target_info* resolve_destination(const policy_snapshot& snap, std::string_view host,
                                       int port);

// A value: it points into no snapshot, so a session keeps it across reloads.
struct access_decision {
  bool allowed = false;
  std::vector<channel_kind> kinds;
  std::string reason;      // for the client and the audit trail when refused
  std::int64_t grant = 0;  // the grant that decided (grants.hpp), 0 if none
  // The deciding grant's limits on the session (nullopt: the node's limits.* alone).
  std::optional<std::int64_t> max_session_seconds;
  std::optional<std::int64_t> idle_timeout_seconds;
  upstream_auth auth = upstream_auth::bastion_key;
  bool record_forward_data = false;
  bool forward_ssh_inside = false;
  // From the key's options: whether a PTY may be requested, the command that runs instead of what
  // the client asks (shell, exec or subsystem), and where -L may go (nullopt: anywhere).
  bool pty = true;
  std::optional<std::string> forced_command;
  std::optional<std::vector<std::string>> permitopen;
  // A plain TCP forward's (decide_plain_forward): the deciding grant's first login, which its
  // session row names.
  std::string login;
};

// What the grants let `user` do on `target` as `login`, from where and when `at` says.
access_decision decide_access(const policy_snapshot& snap, std::string_view user,
                              const target_info& target, std::string_view login,
                              const key_context& at);

// Narrows `access` by a key's options (no-pty, no-*-forwarding, restrict, command=, permitopen=).
// Applied for each key that authenticated the session; two keys forcing different commands refuse
// it.
void restrict_access(access_decision& access, const key_options& options);

bool allows(const access_decision& d, channel_kind kind);

// Whether a -L or -D forward to host:port is allowed: `forward` granted, and every key's
// permitopen= (if any) names it.
bool forward_permitted(const access_decision& d, std::string_view host, int port);

// A destination on the outer connection that names a registered target (by name or address) on
// another port than its SSH service: a plain TCP forward from the bastion to that host. Null if
// it names no target, or is the target's SSH service (then resolve_destination has it).
const target_info* resolve_service(const policy_snapshot& snap, std::string_view host, int port);

// Whether `user` may open a plain TCP forward to `target` now: the grant that decides their
// reach of it allows `forward`, and the key's options (no-port-forwarding, restrict, permitopen=)
// let it. The decision carries that grant (its id and first login, for the session row).
access_decision decide_plain_forward(const policy_snapshot& snap, std::string_view user,
                                     const target_info& target, const key_options& key,
                                     std::string_view host, int port, const key_context& at);

// A key that authenticated a live session: the name it was offered for and its fingerprint.
struct key_use {
  parsed_username name;
  std::string fingerprint;
};

// A session that runs, as its node knows it.
struct live_session {
  std::string_view user;
  std::string_view target;
  std::string_view login;
  std::span<const key_use> keys;  // the outer connection's, then a -J hop's own
};

// The session's access under `snap` (a reload): as at login, every key that authenticated it must
// still be accepted for its user (from where and when `at` says), the target must still be
// registered, and a grant must let the user log in as the login, narrowed by every key's options.
// Refused, the reason says which of these failed.
access_decision decide_live(const policy_snapshot& snap, const live_session& session,
                            const key_context& at);

}  // namespace bastion::policy
