// Plain TCP forwards on a -J connection's outer session: `ssh -L 5432:db1:5432 alice@bastion`
// to a registered host's other port (outer_forward.hpp). Decided like a -J hop (the key still
// accepted, the grant's reach), and the deciding grant must allow `forward`.
#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>
#include <bastion/proxy/ssh_server.hpp>

#include "client_connection.hpp"

namespace bastion::proxy {

namespace {

// The tighter of the node's limit (zero: none) and the grant's (nullopt: none).
duration tighter(duration node, std::optional<std::int64_t> grant_seconds) {
  if (!grant_seconds) {
    return node;
  }
  const auto by_grant = std::chrono::duration_cast<duration>(std::chrono::seconds(*grant_seconds));
  return node.count() > 0 && node <= by_grant ? node : by_grant;
}

policy::access_decision decide_forward(const policy::policy_snapshot& snapshot,
                                       const policy::parsed_username& name,
                                       const std::string& fingerprint, const std::string& user,
                                       const policy::key_options& key,
                                       const policy::target_info& service, const std::string& host,
                                       int port, const policy::key_context& at) {
  if (!policy::decide_key(snapshot, name, fingerprint, at).accepted) {
    policy::access_decision refused;
    refused.reason = "the key that authenticated this connection is no longer accepted";
    return refused;
  }
  return policy::decide_plain_forward(snapshot, user, service, key, host, port, at);
}

}  // namespace

int client_connection::open_plain_forward(ssh_message message, const policy::target_info& service) {
  const char* raw_host = ssh_message_channel_request_open_destination(message);
  const std::string host = raw_host != nullptr ? raw_host : "";
  const int port = ssh_message_channel_request_open_destination_port(message);
  const std::string destination = forward_name(host.c_str(), port);
  const auto snapshot = ctx_.policy.current();
  auto access = decide_forward(*snapshot, name_, key_fingerprint_, user_, key_options_, service,
                               host, port, key_context_of(peer_));
  const auto limit = static_cast<std::size_t>(ctx_.cfg.limits.max_forwards);
  if (access.allowed && plain_forwards_.size() >= limit) {
    access.allowed = false;
    access.reason = "limits.max_forwards " + std::to_string(limit) + " reached";
  }
  if (!access.allowed) {
    if (refused_forwards_ < ctx_.cfg.limits.max_auth_tries) {  // then only refused, unlogged
      ++refused_forwards_;
      spdlog::info("src={} user={} forward to {} refused: {}", peer_, log_value(user_),
                   log_value(destination), log_value(access.reason));
      audit("forward.refused", "denied", user_,
            {{"target", service.name}, {"destination", destination}, {"reason", access.reason}});
    }
    return 1;  // administratively prohibited
  }
  const char* origin = ssh_message_channel_request_open_originator(message);
  const int origin_port = ssh_message_channel_request_open_originator_port(message);
  ssh_channel channel = ssh_message_channel_request_open_reply_accept(message);
  if (channel == nullptr) {
    return 0;  // libssh could not reply: nothing more to do with this open
  }
  std::shared_ptr<session_tap> tap;
  if (ctx_.cfg.recording.enabled) {
    tap = std::make_shared<session_tap>(ctx_.recorder, ctx_.journal, ctx_.cfg.node_name,
                                        session_identity{user_, service.name, access.login, peer_,
                                                         client_version(session_.get()), "jump"});
  }
  const std::string session = tap ? tap->id() : "unrecorded";
  outer_forward::params p{service.host,
                          {host, port, origin != nullptr ? origin : "", origin_port},
                          ctx_.cfg.limits.connect_timeout};
  p.max_duration = tighter(ctx_.cfg.limits.max_session_duration, access.max_session_seconds);
  p.idle_limit = tighter(ctx_.cfg.limits.idle_timeout, access.idle_timeout_seconds);
  p.record_data = access.record_forward_data;
  p.ssh_inside = access.forward_ssh_inside;
  p.on_ssh_inside = [weak = weak_from_this(), target = service.name, destination,
                     session](bool allowed) {
    if (auto self = weak.lock()) {
      self->audit("forward.ssh_inside", allowed ? "ok" : "denied", self->user_,
                  {{"target", target}, {"destination", destination}, {"session", session}});
    }
  };
  p.log_prefix = "src=" + peer_ + " user=" + log_value(user_) +
                 " forward=" + log_value(destination) + " session=" + session;
  p.wake = waker();
  auto forward = std::make_shared<outer_forward>(strand_, channel, std::move(p), std::move(tap));
  audit("forward", "ok", user_,
        {{"target", service.name},
         {"destination", destination},
         {"grant", access.grant},
         {"session", session}});
  forward->start();
  plain_forwards_.push_back({std::move(forward), service.name, host, port});
  return 0;
}

// A forward that policy no longer allows ends, revoked.
void client_connection::recheck_plain_forwards(const policy::policy_snapshot& snapshot) {
  for (const auto& f : plain_forwards_) {
    const policy::target_info* service = snapshot.find_target_by_name(f.target);
    const auto access =
        service == nullptr
            ? policy::access_decision{.reason = f.target + " is no longer a registered target"}
            : decide_forward(snapshot, name_, key_fingerprint_, user_, key_options_, *service,
                             f.host, f.port, key_context_of(peer_));
    if (!access.allowed && !f.forward->finished()) {
      audit(
          "session.revoked", "ended", user_,
          {{"target", f.target}, {"session", f.forward->session_id()}, {"reason", access.reason}});
      f.forward->close("revoked");
    }
  }
}

}  // namespace bastion::proxy
