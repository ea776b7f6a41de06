// The part of a client connection that relays sessions: in the username form, one relay for the
// outer session's channels; with -J, one inner session per direct-tcpip channel.
#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>
#include <bastion/proxy/ssh_server.hpp>

#include "client_connection.hpp"

namespace bastion::proxy {

namespace asio = boost::asio;

namespace {

std::string no_target_message(const std::string& user) {
  return "no target given; connect with ssh -J " + user +
         "@BASTION LOGIN@TARGET, or ssh LOGIN@TARGET@BASTION";
}

}  // namespace

// Relays and inner sessions call this from inside a step (set_access runs in an auth callback):
// step() then takes one more pass instead of nesting.
std::function<void()> client_connection::waker() {
  return [weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->step();
    }
  };
}

relay::audit_fn client_connection::auditor() {
  return [weak = weak_from_this()](std::string kind, std::string result,
                                   const nlohmann::json& detail) {
    if (auto self = weak.lock()) {
      self->audit(std::move(kind), std::move(result), self->user_, detail);
    }
  };
}

std::shared_ptr<relay> client_connection::make_relay(const std::string& target) {
  return std::make_shared<relay>(strand_, ctx_, event_.get(), channels_,
                                 "src=" + peer_ + " user=" + log_value(user_), target, waker(),
                                 auditor());
}

void client_connection::on_authenticated(const policy::parsed_username& name) {
  name_ = name;
  if (!name.username_form()) {
    return;  // -J opens direct-tcpip channels; a session channel is told how to connect
  }
  relay_ = make_relay(name.target);
  relay_->set_client_session(session_.get());
  const policy::target_info* target = snapshot_->find_target_by_name(name.target);
  if (target == nullptr) {
    return relay_->refuse(name.target + " is not a registered target");
  }
  // Policy first: a target this user may not reach as that login is never connected to.
  relay_->set_access(decide(*snapshot_),
                     {user_, {}, name.login, peer_, client_version(session_.get()), "username"});
  if (relay_->refused()) {
    return;
  }
  // Dial at once: the key exchange with the target overlaps the client's channel setup.
  relay_->dial(*target);
}

policy::access_decision client_connection::decide(const policy::policy_snapshot& snapshot) const {
  const policy::key_use key{name_, key_fingerprint_};
  return policy::decide_live(snapshot, {user_, name_.target, name_.login, std::span(&key, 1)},
                             key_context_of(peer_));
}

ssh_channel client_connection::open_session_channel() {
  if (phase_ != phase::authenticated) {
    return nullptr;
  }
  if (!relay_) {
    relay_ = make_relay({});
    relay_->refuse(no_target_message(user_));
  }
  return relay_->open_session_channel(session_.get());
}

// libssh 0.10 has no server callback for direct-tcpip: it comes through the message API, with
// everything that the server callbacks leave (service requests, auth "none", global requests),
// which get libssh's default reply (return 1).
int client_connection::on_message(ssh_message message) {
  if (phase_ != phase::authenticated) {
    return 1;
  }
  if (name_.username_form()) {  // -L, -D and -R of the session on the target
    return relay_ ? relay_->on_client_message(session_.get(), message) : 1;
  }
  if (ssh_message_type(message) != SSH_REQUEST_CHANNEL_OPEN ||
      ssh_message_subtype(message) != SSH_CHANNEL_DIRECT_TCPIP) {
    return 1;
  }
  {
    const auto snapshot = ctx_.policy.current();
    const char* host = ssh_message_channel_request_open_destination(message);
    if (const policy::target_info* service =
            policy::resolve_service(*snapshot, host != nullptr ? host : "",
                                    ssh_message_channel_request_open_destination_port(message))) {
      return open_plain_forward(message, *service);  // a registered host's other port
    }
  }
  // Ending hops count until their client has closed the tunnel (at most a 5 s linger): each
  // still holds a channel and descriptors.
  if (inner_.size() >= static_cast<std::size_t>(ctx_.cfg.limits.max_sessions)) {
    spdlog::info("src={} user={} tunnel refused: max_sessions {} reached", peer_, log_value(user_),
                 ctx_.cfg.limits.max_sessions);
    return 1;  // administratively prohibited
  }
  return open_tunnel(message) ? 0 : 1;
}

std::string client_connection::tunnel_refusal(const policy::policy_snapshot& snapshot,
                                              const policy::target_info* target,
                                              std::string_view host, int port,
                                              const std::string& destination) const {
  if (target == nullptr) {
    return destination +
           " is not a registered target; `bastionctl target list` on the bastion shows them";
  }
  const auto at = key_context_of(peer_);
  if (auto key = policy::decide_key(snapshot, name_, key_fingerprint_, at); !key.accepted) {
    return "the key that authenticated this connection is no longer accepted";
  }
  if (auto reach = snapshot.decide_reach(user_, *target, at.source_ip, at.now_unix);
      !reach.allowed) {
    return reach.reason;
  }
  if (!policy::open_permitted(key_options_, host, port)) {
    return "the key's permitopen= option does not let it open " + destination;
  }
  return {};
}

// Accepts the direct-tcpip channel and runs an inner session on it; a destination that is not
// a target this user may reach gets the reason in a disconnect message, which ssh prints. False
// if the open is refused as it is (administratively prohibited).
bool client_connection::open_tunnel(ssh_message message) {
  const char* host = ssh_message_channel_request_open_destination(message);
  const int port = ssh_message_channel_request_open_destination_port(message);
  // Untrusted and up to a packet long: escaped and cut wherever it is shown or stored.
  const std::string destination =
      escape(std::string(host != nullptr ? host : "") + ":" + std::to_string(port), 300);
  const auto snapshot = ctx_.policy.current();  // policy as of now, not of the outer login
  const policy::target_info* target =
      policy::resolve_destination(*snapshot, host != nullptr ? host : "", port);
  const std::string refusal =
      tunnel_refusal(*snapshot, target, host != nullptr ? host : "", port, destination);
  if (!refusal.empty() && refused_tunnels_ >= ctx_.cfg.limits.max_auth_tries) {
    return false;  // said once, with the refusal that reached the bound
  }
  ssh_channel channel = ssh_message_channel_request_open_reply_accept(message);
  if (channel == nullptr) {
    return true;  // libssh could not reply: nothing more to do with this open
  }
  if (!refusal.empty()) {
    spdlog::info("src={} user={} tunnel to {} refused: {}", peer_, log_value(user_), destination,
                 log_value(refusal));
    audit("session.refused", "denied", user_, {{"destination", destination}, {"reason", refusal}});
    target = nullptr;
    if (++refused_tunnels_ == ctx_.cfg.limits.max_auth_tries) {
      spdlog::warn(
          "src={} user={} {} destinations refused (limits.max_auth_tries): further ones "
          "on this connection are refused without a row",
          peer_, log_value(user_), refused_tunnels_);
    }
  }
  auto inner =
      std::make_shared<inner_session>(inner_scope{strand_,
                                                  ctx_,
                                                  event_.get(),
                                                  channels_,
                                                  snapshot,
                                                  user_,
                                                  {name_, key_fingerprint_},
                                                  peer_,
                                                  "src=" + peer_ + " user=" + log_value(user_),
                                                  waker(),
                                                  auditor()},
                                      channel, target, refusal);
  inner->start();
  inner_.push_back(std::move(inner));
  return true;
}

bool client_connection::pump_sessions() {
  bool progress = relay_ && relay_->pump();
  if (const auto over = relay_ ? relay_->over() : std::nullopt; over && close_reason_.empty()) {
    close_reason_ = *over;  // the username form: its one target's sessions ended for good
  }
  // By index: a pump reads the outer session, where a new direct-tcpip open appends to inner_.
  for (std::size_t i = 0; i < inner_.size(); ++i) {
    progress = inner_[i]->pump() || progress;
  }
  std::erase_if(inner_, [](const auto& s) { return s->finished(); });
  for (std::size_t i = 0; i < plain_forwards_.size(); ++i) {  // by index, as above
    progress = plain_forwards_[i].forward->pump() || progress;
  }
  // Out of the vector before they go (freeing a channel may poll, and append to it).
  std::vector<plain_forward> done;
  for (auto& f : plain_forwards_) {
    if (f.forward->finished()) {
      done.push_back(std::move(f));
    }
  }
  std::erase_if(plain_forwards_, [](const auto& f) { return !f.forward; });
  return progress;
}

void client_connection::arm_sessions() {
  const std::function<void()> on_ready = [self = shared_from_this()] { self->step(); };
  if (relay_) {
    relay_->arm(on_ready);
  }
  for (const auto& s : inner_) {
    s->arm(on_ready);
  }
  for (const auto& f : plain_forwards_) {
    f.forward->arm(on_ready);
  }
}

}  // namespace bastion::proxy
