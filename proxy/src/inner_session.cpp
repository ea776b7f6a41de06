// The inner session of a -J hop: handshake, authentication, relay.
#include "inner_session.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <system_error>

#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>
#include <bastion/policy/names.hpp>
#include <bastion/proxy/ssh_server.hpp>

namespace bastion::proxy {

inner_session::inner_session(inner_scope scope, ssh_channel channel,
                             const policy::target_info* target, std::string refusal)
    : server_endpoint(scope.strand, scope.ctx),
      scope_(std::move(scope)),
      tunnel_fd_(scope_.strand),
      grace_(scope_.strand),
      pending_channel_(channel),
      target_(target),
      refusal_(std::move(refusal)),
      prefix_(scope_.log_prefix + " target=" + log_value(target != nullptr ? target->name : "")) {}

inner_session::~inner_session() {
  close("the bastion ended the session");
}

void inner_session::start() {
  ssh_channel channel = std::exchange(pending_channel_, nullptr);
  if (target_ == nullptr) {
    tunnel_ = std::make_unique<tunnel>(channel, plaintext_disconnect(refusal_));
    return end(refusal_);
  }
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0) {
    spdlog::error("{} cannot create a socketpair: {}", prefix_,
                  std::error_code(errno, std::system_category()).message());
    tunnel_ = std::make_unique<tunnel>(
        channel, plaintext_disconnect("the bastion is out of resources; try again later"));
    return end("no socketpair");
  }
  tunnel_ = std::make_unique<tunnel>(channel, sp[0]);
  tunnel_fd_.assign(sp[0]);
  if (!accept(scope_.ctx.inner_bind, sp[1])) {
    return;  // the next pump ends the session with close_reason_
  }
  install_callbacks();
  grace_.expires_after(scope_.ctx.cfg.limits.login_grace_time);
  grace_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!ec && self && self->phase_ != phase::authenticated) {
      self->close_reason_ = self->grace_expired();
      self->scope_.wake();
    }
  });
  relay_ = std::make_shared<relay>(scope_.strand, scope_.ctx, scope_.event, scope_.channels,
                                   scope_.log_prefix, target_->name, scope_.wake, scope_.audit);
  relay_->set_client_session(session_.get());
  relay_->dial(*target_);
}

bool inner_session::pump() {
  if (finished_) {
    return false;
  }
  bool progress = tunnel_->pump();
  if (ending_) {
    if (tunnel_->finished() || linger_over_) {
      tunnel_fd_.release();
      tunnel_->close();
      finished_ = true;
      return true;
    }
    return progress;
  }
  if (session_) {
    if (phase_ == phase::key_exchange) {
      progress = key_exchange_step(scope_.event) || progress;
      if (key_exchanged()) {
        phase_ = phase::authenticating;
      }
    }
    progress = relay_->pump() || progress;
    if (close_reason_.empty() && session_closed(session_.get())) {
      close_reason_ = "the client ended the session";
    }
    if (const auto over = relay_->over(); over && close_reason_.empty()) {
      close_reason_ = *over;
    }
  }
  if (const std::string reason = end_reason(); !reason.empty() || tunnel_->finished()) {
    end(reason.empty() ? "the client closed the tunnel" : reason);
    return true;
  }
  return progress;
}

void inner_session::arm(const std::function<void()>& on_ready) {
  if (finished_) {
    return;
  }
  if (session_) {
    fd_.arm(session_.get(), on_ready);
    relay_->arm(on_ready);
  }
  tunnel_fd_.arm(on_ready, tunnel_->wants_read(), tunnel_->wants_write());
}

void inner_session::end(const std::string& reason) {
  if (ending_ || !tunnel_) {
    return;
  }
  ending_ = true;
  spdlog::info("{} inner session closed: {}", prefix_, log_value(reason));
  if (target_ != nullptr) {  // a refused destination was audited when it was refused
    scope_.audit("session.end", "ok", {{"target", target_->name}, {"reason", reason}});
  }
  if (relay_) {
    relay_->close(reason);
  }
  end_session(scope_.event, reason);  // the client prints the reason of the inner DISCONNECT
  // The client reads the disconnect and closes the channel; one that does not is cut off.
  grace_.expires_after(std::chrono::seconds(5));
  grace_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!ec && self) {
      self->linger_over_ = true;
      self->scope_.wake();
    }
  });
}

void inner_session::close(const std::string& reason) {
  end(reason);
  grace_.cancel();
  if (tunnel_ && !finished_) {
    tunnel_->pump();  // best effort: hand the disconnect to the client before the channel ends
    tunnel_fd_.release();
    tunnel_->close();
    finished_ = true;
  }
}

void inner_session::report_refusal(const std::string& login, const std::string& why, int attempt,
                                   auth_method method) {
  scope_.audit("auth.inner", "denied",
               {{"target", target_->name},
                {"login", escape(login, max_client_name)},
                {"method", to_string(method)},
                {"reason", why},
                {"attempt", attempt}});
  spdlog::info("{} inner auth refused login={} attempt={}: {}", prefix_, log_value(login), attempt,
               log_value(why));
}

// The inner user name is the login on the target; the key must belong to the bastion user who
// authenticated the outer connection (a -J hop never changes who the user is).
int inner_session::decide_pubkey(const std::string& login, ssh_key key, char state) {
  if (phase_ != phase::authenticating || !close_reason_.empty()) {
    return SSH_AUTH_DENIED;
  }
  if (auto ok = policy::check_login(login); !ok) {
    return refuse_auth(login, ok.error().text);
  }
  const std::string fingerprint = sha256_fingerprint(key);
  // Policy as of now: the tunnel may have waited in its handshake across a reload.
  const auto snapshot = scope_.ctx.policy.current();
  const auto at = key_context_of(scope_.source);
  const auto decision = policy::decide_key(*snapshot, owner(), fingerprint, at);
  if (!decision.accepted) {
    return refuse_auth(login, decision.reason);
  }
  if (state == SSH_PUBLICKEY_STATE_VALID) {
    phase_ = phase::authenticated;
    login_ = login;
    fingerprint_ = fingerprint;
    grace_.cancel();
    spdlog::info("{} inner session authenticated as login {} with {}", prefix_, log_value(login),
                 fingerprint);
    scope_.audit("auth.inner", "ok",
                 {{"target", target_->name}, {"login", login}, {"fingerprint", fingerprint}});
    relay_->set_access(
        decide(*snapshot),
        {scope_.user, {}, login, scope_.source, client_version(session_.get()), "jump"});
  }
  return SSH_AUTH_SUCCESS;
}

policy::parsed_username inner_session::owner() const {
  policy::parsed_username name;
  name.bastion_user = scope_.user;
  return name;
}

// Both keys hold, with their options: the outer connection's and this hop's.
policy::access_decision inner_session::decide(const policy::policy_snapshot& snapshot) const {
  const std::array keys{scope_.outer_key, policy::key_use{owner(), fingerprint_}};
  return policy::decide_live(snapshot, {scope_.user, target_->name, login_, keys},
                             key_context_of(scope_.source));
}

void inner_session::recheck(const policy::policy_snapshot& snapshot) {
  if (phase_ == phase::authenticated && relay_ && !ending_) {
    relay_->recheck(decide(snapshot));
  }
}

ssh_channel inner_session::open_session_channel() {
  return phase_ == phase::authenticated ? relay_->open_session_channel(session_.get()) : nullptr;
}

int inner_session::on_message(ssh_message message) {
  return phase_ == phase::authenticated ? relay_->on_client_message(session_.get(), message) : 1;
}

}  // namespace bastion::proxy
