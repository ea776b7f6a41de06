// Policy decisions over a snapshot.
#include <algorithm>

#include <bastion/common/escape.hpp>
#include <bastion/policy/evaluator.hpp>

namespace bastion::policy {

result<parsed_username> parse_username(std::string_view name) {
  parsed_username out;
  const auto at = name.find('@');
  if (at == std::string_view::npos) {
    if (auto ok = check_user_name(name); !ok) {
      return ok.error();
    }
    out.bastion_user = name;
    return out;
  }
  const std::string_view login = name.substr(0, at);
  const std::string_view target = name.substr(at + 1);
  if (auto ok = check_login(login); !ok) {
    return ok.error();
  }
  if (auto ok = check_target_name(target); !ok) {
    return ok.error();
  }
  out.login = login;
  out.target = target;
  return out;
}

key_decision decide_key(const policy_snapshot& snap, const parsed_username& name,
                        std::string_view fingerprint) {
  const snapshot_key* key = snap.find_key(fingerprint);
  if (key == nullptr) {
    return {false, {}, "unknown key " + std::string(fingerprint)};
  }
  if (!name.username_form() && key->user != name.bastion_user) {
    return {false, {}, "key " + std::string(fingerprint) + " belongs to another user"};
  }
  const snapshot_user* user = snap.find_user(key->user);
  if (user == nullptr || user->disabled) {
    return {false, {}, "user " + key->user + " is disabled"};
  }
  return {true, key->user, {}};
}

const target_info* resolve_destination(const policy_snapshot& snap, std::string_view host,
                                       int port) {
  if (const target_info* t = snap.find_target_by_name(host);
      t != nullptr && (port == 22 || port == t->port)) {
    return t;
  }
  return snap.find_target_by_address(host, port);
}

access_decision decide_access(const policy_snapshot& snap, std::string_view user,
                              const target_info& target, std::string_view login) {
  const snapshot_grant* grant = snap.find_grant(user, target.name, login);
  if (grant == nullptr) {
    return {false,
            &target,
            {},
            "user " + escape(user, 64) + " may not log in to " + target.name + " as " +
                escape(login, 64)};
  }
  return {true, &target, grant->kinds, {}};
}

bool allows(const access_decision& d, channel_kind kind) {
  return d.allowed && std::find(d.kinds.begin(), d.kinds.end(), kind) != d.kinds.end();
}

}  // namespace bastion::policy
