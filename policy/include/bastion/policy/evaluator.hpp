// Pure policy decisions: no I/O, no clock, only the snapshot. Default deny: anything not granted
// is refused, and every refusal carries a reason for the audit trail.
#pragma once

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
  std::string user;    // the bastion user the key belongs to
  std::string reason;  // why it was refused (audit only: clients get one reply for every refusal)
};

// Decides a public key (by fingerprint) offered for `name`. In the plain form the key must belong
// to that user; in the username form the key's owner is the user.
key_decision decide_key(const policy_snapshot& snap, const parsed_username& name,
                        std::string_view fingerprint);

// The target a destination names: a registered name (on port 22 or the target's own port), else
// a registered host:port. nullptr when neither matches.
const target_info* resolve_destination(const policy_snapshot& snap, std::string_view host,
                                       int port);

struct access_decision {
  bool allowed = false;
  const target_info* target = nullptr;
  std::vector<channel_kind> kinds;
  std::string reason;  // for the client and the audit trail when refused
};

access_decision decide_access(const policy_snapshot& snap, std::string_view user,
                              const target_info& target, std::string_view login);

bool allows(const access_decision& d, channel_kind kind);

}  // namespace bastion::policy
