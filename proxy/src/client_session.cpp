// The part of a client connection that relays sessions: choosing the destination once the user is
// known, dialing it while the client sets up its channel, and pumping the channel bridges.
#include <bastion/common/log.hpp>

#include "client_connection.hpp"

namespace bastion::proxy {

namespace asio = boost::asio;

void client_connection::on_authenticated(const policy::parsed_username& name) {
  name_ = name;
  if (!name.username_form()) {
    target_error_ = "no target given; connect with ssh -J " + user_ +
                    "@BASTION LOGIN@TARGET, or ssh LOGIN@TARGET@BASTION";
    return;
  }
  const policy::target_info* target = snapshot_->find_target_by_name(name.target);
  if (target == nullptr) {
    target_error_ = name.target + " is not a registered target";
    audit("session.refused", "denied", user_, {{"target", name.target}, {"reason", target_error_}});
    return;
  }
  access_ = policy::decide_access(*snapshot_, user_, *target, name.login);
  if (!access_.allowed) {
    target_error_ = access_.reason;
    audit("session.refused", "denied", user_, {{"target", name.target}, {"reason", target_error_}});
    return;
  }
  // Dial at once: the key exchange with the target overlaps the client's channel setup.
  upstream_request request{target->name,
                           target->host,
                           target->port,
                           name.login,
                           target->host_keys,
                           ctx_.upstream_key,
                           ctx_.cfg.limits.connect_timeout};
  dialer_ = std::make_shared<upstream_dialer>(
      strand_, std::move(request),
      [self = shared_from_this()](upstream_result r) { self->on_upstream(std::move(r)); });
  dialer_->start();
}

void client_connection::on_upstream(upstream_result result) {
  dialer_.reset();
  if (phase_ == phase::closed) {
    return;
  }
  if (!result.session) {
    target_error_ = result.error;
    spdlog::warn("src={} user={} target={} unreachable: {}", peer_, log_value(user_),
                 log_value(name_.target), log_value(result.error));
    audit("upstream", "error", user_, {{"target", name_.target}, {"reason", result.error}});
    for (auto& b : bridges_) {
      b->fail(target_error_);
    }
  } else {
    upstream_ = std::move(result.session);
    ssh_event_add_session(event_.get(), upstream_.get());
    up_fd_.assign(ssh_get_fd(upstream_.get()));
    spdlog::info("src={} user={} connected to {} as {} (host key {})", peer_, log_value(user_),
                 log_value(name_.target), log_value(name_.login), result.host_key_fingerprint);
    for (auto& b : bridges_) {
      b->attach(upstream_.get());
    }
  }
  step();
}

ssh_channel client_connection::open_session_channel() {
  if (phase_ != phase::authenticated) {
    return nullptr;
  }
  if (bridges_.size() >= static_cast<std::size_t>(ctx_.cfg.limits.max_sessions)) {
    spdlog::info("src={} user={} channel refused: max_sessions {} reached", peer_, log_value(user_),
                 ctx_.cfg.limits.max_sessions);
    return nullptr;  // the client sees the open fail (administratively prohibited)
  }
  ssh_channel channel = ssh_channel_new(session_.get());
  if (channel == nullptr) {
    return nullptr;
  }
  auto bridge = std::make_unique<channel_bridge>(
      channel, access_,
      "src=" + peer_ + " user=" + log_value(user_) + " target=" + log_value(name_.target));
  if (!target_error_.empty()) {
    bridge->fail(target_error_);
  } else if (upstream_) {
    bridge->attach(upstream_.get());
  }
  bridges_.push_back(std::move(bridge));
  spdlog::debug("src={} user={} session channel {} opened", peer_, log_value(user_),
                bridges_.size());
  return channel;
}

bool client_connection::pump_bridges() {
  bool progress = false;
  if (upstream_ && (ssh_get_status(upstream_.get()) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0 &&
      target_error_.empty()) {
    target_error_ = "the connection to " + name_.target + " was lost";
    for (auto& b : bridges_) {
      b->fail(target_error_);
    }
  }
  // By index: a pump reads the client session, and a channel open it handles there appends to
  // bridges_ from inside the callback, which would invalidate an iterator.
  for (std::size_t i = 0; i < bridges_.size(); ++i) {
    progress = bridges_[i]->pump() || progress;
  }
  std::erase_if(bridges_, [](const auto& b) { return b->finished(); });
  return progress;
}

void client_connection::arm_upstream() {
  if (upstream_) {
    up_fd_.arm(upstream_.get(), shared_from_this(), [this] { step(); });
  }
}

}  // namespace bastion::proxy
