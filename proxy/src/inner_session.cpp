// The inner session of a -J hop: handshake, authentication, relay.
#include "inner_session.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <bastion/common/log.hpp>
#include <bastion/policy/names.hpp>
#include <bastion/proxy/ssh_server.hpp>

namespace bastion::proxy {

inner_session::inner_session(inner_scope scope, ssh_channel channel,
                             const policy::target_info* target, std::string refusal)
    : scope_(std::move(scope)),
      fd_(scope_.strand),
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
  session_.reset(ssh_new());
  {
    const std::lock_guard lock(scope_.ctx.bind_mutex);
    if (ssh_bind_accept_fd(scope_.ctx.inner_bind, session_.get(), sp[1]) != SSH_OK) {
      close_reason_ =
          std::string("cannot start the inner session: ") + ssh_get_error(scope_.ctx.inner_bind);
      ::close(sp[1]);
      session_.reset();
      return;
    }
  }
  fd_.assign(sp[1]);  // libssh owns it; released before the session is freed
  // Callbacks before the key exchange (relay prototype pitfall 3).
  callbacks_.userdata = this;
  callbacks_.auth_pubkey_function = auth_pubkey_cb;
  callbacks_.auth_password_function = auth_password_cb;
  callbacks_.channel_open_request_session_function = channel_open_cb;
  ssh_callbacks_init(&callbacks_);
  ssh_set_server_callbacks(session_.get(), &callbacks_);
  ssh_set_auth_methods(session_.get(), SSH_AUTH_METHOD_PUBLICKEY);
  ssh_set_blocking(session_.get(), 0);
  grace_.expires_after(scope_.ctx.cfg.limits.login_grace_time);
  grace_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!ec && self && self->phase_ != phase::authenticated) {
      self->close_reason_ = "not authenticated within login_grace_time " +
                            format_duration(self->scope_.ctx.cfg.limits.login_grace_time);
      self->scope_.wake();
    }
  });
  relay_ = std::make_shared<relay>(scope_.strand, scope_.ctx, scope_.event, scope_.log_prefix,
                                   target_->name, scope_.wake, scope_.audit);
  relay_->dial(*target_);
}

bool inner_session::key_exchange_step() {
  switch (proxy::key_exchange_step(session_.get())) {
    case key_exchange_progress::done:
      ssh_event_add_session(scope_.event, session_.get());
      in_event_ = true;
      phase_ = phase::authenticating;
      return true;
    case key_exchange_progress::failed:
      close_reason_ = std::string("inner key exchange failed: ") + ssh_get_error(session_.get());
      return false;
    case key_exchange_progress::more:
      return true;
    case key_exchange_progress::wait:
      break;
  }
  return false;
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
      progress = key_exchange_step() || progress;
    }
    progress = relay_->pump() || progress;
    if (close_reason_.empty() &&
        (ssh_get_status(session_.get()) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0) {
      close_reason_ = "the client ended the session";
    }
  }
  if (!close_reason_.empty() || tunnel_->finished()) {
    end(close_reason_.empty() ? "the client closed the tunnel" : close_reason_);
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
  if (session_) {
    fd_.release();
    if (in_event_) {
      ssh_event_remove_session(scope_.event, session_.get());
    }
    // The reason goes into the inner DISCONNECT, which the client prints.
    ssh_session_set_disconnect_message(session_.get(), reason.c_str());
    ssh_disconnect(session_.get());
    session_.reset();
  }
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

int inner_session::refuse_auth(const std::string& login, const std::string& why) {
  ++failed_auth_;
  scope_.audit(
      "auth.inner", "denied",
      {{"target", target_->name}, {"login", login}, {"reason", why}, {"attempt", failed_auth_}});
  spdlog::info("{} inner auth refused login={} attempt={}: {}", prefix_, log_value(login),
               failed_auth_, log_value(why));
  if (failed_auth_ >= scope_.ctx.cfg.limits.max_auth_tries) {
    close_reason_ = "too many authentication failures (max_auth_tries " +
                    std::to_string(scope_.ctx.cfg.limits.max_auth_tries) + ")";
  }
  return SSH_AUTH_DENIED;
}

// The inner user name is the login on the target; the key must belong to the bastion user who
// authenticated the outer connection (a -J hop never changes who the user is).
int inner_session::decide_pubkey(const char* user, ssh_key key, char state) {
  const std::string login = user != nullptr ? user : "";
  if (phase_ != phase::authenticating || !close_reason_.empty()) {
    return SSH_AUTH_DENIED;
  }
  if (auto ok = policy::check_login(login); !ok) {
    return refuse_auth(login, ok.error().text);
  }
  const std::string fingerprint = sha256_fingerprint(key);
  policy::parsed_username owner;
  owner.bastion_user = scope_.user;
  const auto decision = policy::decide_key(*scope_.snapshot, owner, fingerprint);
  if (!decision.accepted) {
    return refuse_auth(login, decision.reason);
  }
  if (state == SSH_PUBLICKEY_STATE_VALID) {
    phase_ = phase::authenticated;
    grace_.cancel();
    spdlog::info("{} inner session authenticated as login {} with {}", prefix_, log_value(login),
                 fingerprint);
    scope_.audit("auth.inner", "ok",
                 {{"target", target_->name}, {"login", login}, {"fingerprint", fingerprint}});
    relay_->set_access(
        policy::decide_access(*scope_.snapshot, scope_.user, *target_, login),
        {scope_.user, {}, login, scope_.source, client_version(session_.get()), "jump"});
  }
  return SSH_AUTH_SUCCESS;
}

int inner_session::auth_pubkey_cb(ssh_session, const char* user, ssh_key key, char state,
                                  void* self) {
  return static_cast<inner_session*>(self)->decide_pubkey(user, key, state);
}

int inner_session::auth_password_cb(ssh_session, const char* user, const char* /*password*/,
                                    void* self) {
  return static_cast<inner_session*>(self)->refuse_auth(user != nullptr ? user : "",
                                                        "password authentication is disabled");
}

ssh_channel inner_session::channel_open_cb(ssh_session, void* self) {
  auto* s = static_cast<inner_session*>(self);
  return s->phase_ == phase::authenticated ? s->relay_->open_session_channel(s->session_.get())
                                           : nullptr;
}

}  // namespace bastion::proxy
