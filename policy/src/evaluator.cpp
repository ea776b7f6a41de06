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
                        std::string_view fingerprint, const key_context& where) {
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
  if (!source_allowed(key->options, where.source_ip)) {
    return {false,
            {},
            "key " + std::string(fingerprint) + " is not allowed from " +
                escape(where.source_ip, 64) + " (its from= option)"};
  }
  if (key->options.expires_unix && where.now_unix >= *key->options.expires_unix) {
    return {
        false, {}, "key " + std::string(fingerprint) + " has expired (its expiry-time= option)"};
  }
  return {true, key->user, {}, key->options};
}

const target_info* resolve_destination(const policy_snapshot& snap, std::string_view host,
                                       int port) {
  if (const target_info* t = snap.find_target_by_name(host);
      t != nullptr && (port == 22 || port == t->port)) {
    return t;
  }
  return snap.find_target_by_address(host, port);
}

const target_info* resolve_service(const policy_snapshot& snap, std::string_view host, int port) {
  if (resolve_destination(snap, host, port) != nullptr) {
    return nullptr;
  }
  const auto ssh_service_at = [&](const std::string& address) {
    return std::any_of(snap.targets().begin(), snap.targets().end(),
                       [&](const target_info& o) { return o.host == address && o.port == port; });
  };
  if (const target_info* t = snap.find_target_by_name(host); t != nullptr) {
    // Another target's SSH service on the same address is that target's, never a plain forward.
    return ssh_service_at(t->host) ? nullptr : t;
  }
  const target_info* found = nullptr;
  for (const auto& t : snap.targets()) {
    if (t.host == host) {
      if (found != nullptr) {
        return nullptr;  // two targets share the address: the user must use a name
      }
      found = &t;
    }
  }
  return found;
}

access_decision decide_plain_forward(const policy_snapshot& snap, std::string_view user,
                                     const target_info& target, const key_options& key,
                                     std::string_view host, int port, const key_context& at) {
  const grant_decision reach = snap.decide_reach(user, target, at.source_ip, at.now_unix);
  access_decision out;
  out.grant = reach.rule != nullptr ? reach.rule->id : 0;
  if (!reach.allowed || reach.rule == nullptr) {
    out.reason = reach.reason;
    return out;
  }
  // The first login whose deciding grant allows forward: each login is decided on its own, by
  // its most specific grant.
  for (const auto& rule : snap.grants()) {
    for (const auto& login : rule.logins) {
      const grant_decision d = snap.decide_grant(user, target, login, at.source_ip, at.now_unix);
      if (d.allowed && d.rule != nullptr &&
          std::find(d.rule->kinds.begin(), d.rule->kinds.end(), channel_kind::forward) !=
              d.rule->kinds.end()) {
        out = decide_access(snap, user, target, login, at);
        out.login = login;
        break;
      }
    }
    if (!out.login.empty()) {
      break;
    }
  }
  if (out.login.empty()) {
    out.reason = "grant " + std::to_string(out.grant) + " does not allow forward to " + target.name;
    return out;
  }
  restrict_access(out, key);
  if (!allows(out, channel_kind::forward)) {
    out.allowed = false;
    out.reason = "the key's no-port-forwarding (or restrict) option does not let it forward";
    return out;
  }
  if (!open_permitted(key, host, port)) {
    out.allowed = false;
    out.reason = "the key's permitopen= option does not let it open " + std::string(host) + ":" +
                 std::to_string(port);
  }
  return out;
}

access_decision decide_access(const policy_snapshot& snap, std::string_view user,
                              const target_info& target, std::string_view login,
                              const key_context& at) {
  const grant_decision d = snap.decide_grant(user, target, login, at.source_ip, at.now_unix);
  access_decision out;
  if (!d.allowed || d.rule == nullptr) {  // an allowing decision always names its grant
    out.reason = d.reason;
    out.grant = d.rule != nullptr ? d.rule->id : 0;
    return out;
  }
  out.allowed = true;
  out.kinds = d.rule->kinds;
  out.grant = d.rule->id;
  out.max_session_seconds = d.rule->max_session_seconds;
  out.idle_timeout_seconds = d.rule->idle_timeout_seconds;
  out.auth = d.rule->auth;
  out.record_forward_data = d.rule->record_forward_data;
  out.forward_ssh_inside = d.rule->forward_ssh_inside;
  return out;
}

bool forward_permitted(const access_decision& d, std::string_view host, int port) {
  if (!allows(d, channel_kind::forward)) {
    return false;
  }
  if (!d.permitopen) {
    return true;
  }
  key_options only;
  only.permitopen = *d.permitopen;
  return !only.permitopen.empty() && open_permitted(only, host, port);
}

access_decision decide_live(const policy_snapshot& snap, const live_session& session,
                            const key_context& at) {
  std::vector<key_options> options;
  for (const auto& key : session.keys) {
    const auto decided = decide_key(snap, key.name, key.fingerprint, at);
    if (!decided.accepted || decided.user != session.user) {
      access_decision out;
      out.reason = "the key " + key.fingerprint + " is no longer accepted for " +
                   std::string(session.user) +
                   (decided.reason.empty() ? "" : " (" + decided.reason + ")");
      return out;
    }
    options.push_back(decided.options);
  }
  const target_info* target = snap.find_target_by_name(session.target);
  if (target == nullptr) {
    access_decision out;
    out.reason = std::string(session.target) + " is no longer a registered target";
    return out;
  }
  auto access = decide_access(snap, session.user, *target, session.login, at);
  for (const auto& o : options) {
    restrict_access(access, o);
  }
  return access;
}

void restrict_access(access_decision& access, const key_options& options) {
  const auto drop = [&](channel_kind kind) { std::erase(access.kinds, kind); };
  if (!options.port_forwarding) {
    drop(channel_kind::forward);
    drop(channel_kind::remote_forward);
  }
  if (!options.agent_forwarding) {
    drop(channel_kind::agent);
  }
  if (!options.x11_forwarding) {
    drop(channel_kind::x11);
  }
  access.pty = access.pty && options.pty;
  if (options.command) {
    if (access.forced_command && *access.forced_command != *options.command) {
      access.allowed = false;
      access.reason = "the keys that authenticated this session force different commands";
    }
    access.forced_command = options.command;
  }
  if (!options.permitopen.empty()) {
    if (!access.permitopen) {
      access.permitopen = options.permitopen;
    } else {  // both keys restrict: only what both permit
      std::erase_if(*access.permitopen, [&](const std::string& p) {
        return std::find(options.permitopen.begin(), options.permitopen.end(), p) ==
               options.permitopen.end();
      });
    }
  }
}

bool allows(const access_decision& d, channel_kind kind) {
  return d.allowed && std::find(d.kinds.begin(), d.kinds.end(), kind) != d.kinds.end();
}

}  // namespace bastion::policy
