// The client connection's event loop and authentication.
#include "client_connection.hpp"

#include <unistd.h>

#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>
#include <bastion/proxy/ssh_server.hpp>

namespace bastion::proxy {

namespace asio = boost::asio;

namespace {

// How many passes one wake-up may take before yielding the thread to other connections.
constexpr int max_passes = 64;

}  // namespace

client_connection::client_connection(asio::io_context& io, int fd, std::string peer,
                                     const connection_context& ctx)
    : strand_(asio::make_strand(io)),
      fd_(strand_),
      grace_(strand_),
      ctx_(ctx),
      peer_(std::move(peer)) {
  session_.reset(ssh_new());
  event_.reset(ssh_event_new());
  {
    const std::lock_guard lock(ctx_.bind_mutex);
    if (ssh_bind_accept_fd(ctx_.bind, session_.get(), fd) != SSH_OK) {
      spdlog::warn("src={} refused: {}", peer_, log_value(ssh_get_error(ctx_.bind)));
      ::close(fd);
      phase_ = phase::closed;
      return;
    }
  }
  fd_.assign(fd);  // libssh owns the fd now; fd_ only waits on it and is released before ssh_free
  spdlog::debug("src={} accepted", peer_);
}

client_connection::~client_connection() {
  if (phase_ != phase::closed) {
    teardown("connection object destroyed");
  }
}

void client_connection::start() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->phase_ == phase::closed) {
      return;
    }
    ssh_session s = self->session_.get();
    // Callbacks before the key exchange: a service request that arrives with NEWKEYS would
    // otherwise go unanswered (relay prototype pitfall 3).
    self->callbacks_.userdata = self.get();
    self->callbacks_.auth_pubkey_function = auth_pubkey_cb;
    self->callbacks_.auth_password_function = auth_password_cb;
    self->callbacks_.channel_open_request_session_function = channel_open_cb;
    ssh_callbacks_init(&self->callbacks_);
    ssh_set_server_callbacks(s, &self->callbacks_);
    ssh_set_message_callback(s, message_cb, self.get());
    ssh_set_auth_methods(s, SSH_AUTH_METHOD_PUBLICKEY);
    ssh_set_blocking(s, 0);
    self->snapshot_ = self->ctx_.policy.current();
    self->grace_.expires_after(self->ctx_.cfg.limits.login_grace_time);
    self->grace_.async_wait(
        [self](const boost::system::error_code& ec) { self->on_grace_expired(ec); });
    self->step();
  });
}

void client_connection::close(std::string reason) {
  asio::post(strand_,
             [self = shared_from_this(), reason = std::move(reason)] { self->teardown(reason); });
}

bool client_connection::closed() const {
  return phase_ == phase::closed;
}

void client_connection::on_grace_expired(const boost::system::error_code& ec) {
  if (!ec && phase_ != phase::authenticated && phase_ != phase::closed) {
    teardown("not authenticated within login_grace_time " +
             format_duration(ctx_.cfg.limits.login_grace_time));
  }
}

bool client_connection::key_exchange_step() {
  switch (proxy::key_exchange_step(session_.get())) {
    case key_exchange_progress::done:
      spdlog::debug("src={} key exchange done", peer_);
      ssh_event_add_session(event_.get(), session_.get());
      in_event_ = true;
      phase_ = phase::authenticating;
      return true;
    case key_exchange_progress::failed:
      close_reason_ = std::string("key exchange failed: ") + ssh_get_error(session_.get());
      return false;
    case key_exchange_progress::more:
      return true;
    case key_exchange_progress::wait:
      break;
  }
  return false;
}

void client_connection::step() {
  for (int pass = 0; pass < max_passes && phase_ != phase::closed; ++pass) {
    bool progress = false;
    if (phase_ == phase::key_exchange) {
      progress = key_exchange_step();
    } else {
      progress = ssh_event_dopoll(event_.get(), 0) == SSH_OK;
      progress = pump_sessions() || progress;
    }
    const int status = ssh_get_status(session_.get());
    // A socket error leaves ssh_is_connected at 1: the status bits are what tell.
    if (close_reason_.empty() && (status & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0) {
      close_reason_ = (status & SSH_CLOSED_ERROR) != 0
                          ? std::string("connection error: ") + ssh_get_error(session_.get())
                          : "client closed the connection";
    }
    if (!close_reason_.empty()) {
      return teardown(close_reason_);
    }
    if (!progress) {
      arm();
      return arm_sessions();
    }
  }
  if (phase_ != phase::closed) {
    asio::post(strand_, [self = shared_from_this()] { self->step(); });  // yield, then go on
  }
}

void client_connection::arm() {
  fd_.arm(session_.get(), [self = shared_from_this()] { self->step(); });
}

void client_connection::teardown(const std::string& reason) {
  if (phase_ == phase::closed) {
    return;
  }
  phase_ = phase::closed;
  spdlog::info("src={} user={} closed: {}", peer_, log_value(user_), log_value(reason));
  // Every end is in the audit trail with its reason: refused before authentication, or the
  // client, the target or the bastion ending an authenticated connection.
  audit("connection", "closed", user_, {{"reason", reason}});
  grace_.cancel();
  // Sessions toward targets go before the client session whose channels they use.
  for (const auto& inner : inner_) {
    inner->close(reason);
  }
  inner_.clear();
  if (relay_) {
    relay_->close(reason);
    relay_.reset();
  }
  fd_.release();  // libssh closes the fd
  if (in_event_) {
    ssh_event_remove_session(event_.get(), session_.get());
  }
  ssh_disconnect(session_.get());
  session_.reset();
  event_.reset();
}

void client_connection::audit(std::string kind, std::string result, std::string actor,
                              const nlohmann::json& detail) {
  ctx_.journal.record(
      policy::audit_event{std::move(kind),
                          std::move(result),
                          std::move(actor),
                          peer_,
                          {},
                          detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
}

int client_connection::refuse_auth(const std::string& user, const std::string& why) {
  ++failed_auth_;
  audit("auth", "denied", user,
        {{"method", "publickey"}, {"reason", why}, {"attempt", failed_auth_}});
  spdlog::info("src={} auth refused user={} attempt={}: {}", peer_, log_value(user), failed_auth_,
               log_value(why));
  if (failed_auth_ >= ctx_.cfg.limits.max_auth_tries) {
    close_reason_ = "too many authentication failures (max_auth_tries " +
                    std::to_string(ctx_.cfg.limits.max_auth_tries) + ")";
  }
  return SSH_AUTH_DENIED;  // one reply for every refusal: no user enumeration
}

int client_connection::decide_pubkey(const char* user, ssh_key key, char state) {
  const std::string name = user != nullptr ? user : "";
  if (phase_ != phase::authenticating || !close_reason_.empty()) {
    return SSH_AUTH_DENIED;
  }
  const auto parsed = policy::parse_username(name);
  if (!parsed) {
    return refuse_auth(name, parsed.error().text);
  }
  const auto decision = policy::decide_key(*snapshot_, *parsed, sha256_fingerprint(key));
  if (!decision.accepted) {
    return refuse_auth(name, decision.reason);
  }
  if (state == SSH_PUBLICKEY_STATE_VALID) {  // libssh checked the signature
    user_ = decision.user;
    phase_ = phase::authenticated;
    grace_.cancel();
    const std::string fingerprint = sha256_fingerprint(key);
    spdlog::info("src={} user={} authenticated with {}", peer_, log_value(user_), fingerprint);
    audit("auth", "ok", user_,
          {{"method", "publickey"}, {"fingerprint", fingerprint}, {"sent_user", name}});
    on_authenticated(*parsed);
  }
  return SSH_AUTH_SUCCESS;  // for STATE_NONE this only tells the client to go on and sign
}

int client_connection::auth_pubkey_cb(ssh_session, const char* user, ssh_key key, char state,
                                      void* self) {
  return static_cast<client_connection*>(self)->decide_pubkey(user, key, state);
}

int client_connection::auth_password_cb(ssh_session, const char* user, const char* /*password*/,
                                        void* self) {
  auto* c = static_cast<client_connection*>(self);
  return c->refuse_auth(user != nullptr ? user : "", "password authentication is disabled");
}

ssh_channel client_connection::channel_open_cb(ssh_session, void* self) {
  return static_cast<client_connection*>(self)->open_session_channel();
}

}  // namespace bastion::proxy
