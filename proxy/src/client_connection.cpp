// The client connection's event loop and authentication.
#include "client_connection.hpp"

#include <unistd.h>

#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>
#include <bastion/proxy/ssh_server.hpp>

#include "proxy_metrics.hpp"

namespace bastion::proxy {

namespace asio = boost::asio;

namespace {

// How many passes one wake-up may take before yielding the thread to other connections.
constexpr int max_passes = 64;

}  // namespace

client_connection::client_connection(asio::io_context& io, int fd, std::string peer,
                                     preauth_guard::ticket preauth, const connection_context& ctx)
    : server_endpoint(asio::make_strand(io), ctx),
      grace_(strand_),
      preauth_(std::move(preauth)),
      peer_(std::move(peer)),
      channels_(std::make_shared<channel_budget>(ctx.cfg.limits.max_sessions)) {
  event_.reset(ssh_event_new());
  if (!accept(ctx_.bind, fd)) {
    spdlog::warn("src={} refused: {}", peer_, log_value(close_reason_));
    proxy_metrics::get().connections_dropped.Increment();
    phase_ = phase::closed;
    return;
  }
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
    self->install_callbacks(self->ctx_.cfg.banner);
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

void client_connection::notify(std::string text) {
  asio::post(strand_, [self = shared_from_this(), text = std::move(text)] {
    if (self->phase_ == phase::closed) {
      return;
    }
    for (const auto& inner : self->inner_) {
      inner->notify(text);
    }
    if (self->relay_) {
      self->relay_->notify(text);
    }
    self->step();  // an inner session's lines go out through its tunnel
  });
}

void client_connection::recheck(std::shared_ptr<const policy::policy_snapshot> snapshot) {
  asio::post(strand_, [self = shared_from_this(), snapshot = std::move(snapshot)] {
    if (self->phase_ != phase::authenticated) {
      return;  // one still logging in is decided under the snapshot of its start
    }
    if (self->relay_ && self->name_.username_form()) {
      self->relay_->recheck(self->decide(*snapshot));
    }
    for (const auto& inner : self->inner_) {
      inner->recheck(*snapshot);
    }
    self->recheck_plain_forwards(*snapshot);
    self->step();
  });
}

void client_connection::kill(std::string session_id, std::string by) {
  asio::post(strand_, [self = shared_from_this(), id = std::move(session_id), by = std::move(by)] {
    if (self->phase_ != phase::authenticated) {
      return;
    }
    bool found = self->relay_ && self->relay_->kill(id, by);
    for (const auto& inner : self->inner_) {
      found = inner->kill(id, by) || found;
    }
    for (const auto& f : self->plain_forwards_) {
      if (f.forward->session_id() == id) {
        self->audit("session.killed", "ended", self->user_,
                    {{"target", f.target}, {"session", id}, {"by", by}});
        f.forward->close("killed");
        found = true;
      }
    }
    if (found) {
      self->step();
    }
  });
}

bool client_connection::closed() const {
  return phase_ == phase::closed;
}

void client_connection::on_grace_expired(const boost::system::error_code& ec) {
  if (!ec && phase_ != phase::authenticated && phase_ != phase::closed) {
    preauth_.end(preauth_end::grace_exceeded);
    teardown(grace_expired());
  }
}

void client_connection::step() {
  if (stepping_) {
    woken_ = true;
    return;
  }
  stepping_ = true;
  const bool yield = run_passes();
  stepping_ = false;
  if (yield) {
    asio::post(strand_, [self = shared_from_this()] { self->step(); });  // yield, then go on
  }
}

// One pass: the key exchange, or the event poll and every session's pump. True if it moved.
bool client_connection::pass() {
  if (phase_ == phase::key_exchange) {
    const bool moved = key_exchange_step(event_.get());
    if (key_exchanged()) {
      spdlog::debug("src={} key exchange done", peer_);
      phase_ = phase::authenticating;
    }
    return moved;
  }
  const bool polled = ssh_event_dopoll(event_.get(), 0) == SSH_OK;
  return pump_sessions() || polled;
}

// libssh counts a client's SSH_MSG_DISCONNECT as an error ("Received SSH_MSG_DISCONNECT:
// 11:disconnected by user"), though it is how OpenSSH's ssh ends every session: that is the client
// closing, not a failure.
std::string client_connection::closed_reason() const {
  if ((ssh_get_status(session_.get()) & SSH_CLOSED_ERROR) == 0) {
    return "client closed the connection";
  }
  const std::string why = failure_reason(session_.get());
  constexpr std::string_view disconnect = "Received SSH_MSG_DISCONNECT: ";
  if (why.starts_with(disconnect)) {
    return "client disconnected (" + why.substr(disconnect.size()) + ")";
  }
  return "connection error: " + why;
}

// True if the connection must go on after yielding the thread to others.
bool client_connection::run_passes() {
  for (int i = 0; i < max_passes && phase_ != phase::closed; ++i) {
    woken_ = false;
    const bool progress = pass();
    if (close_reason_.empty() && session_closed(session_.get())) {
      close_reason_ = closed_reason();
    }
    if (const std::string reason = end_reason(); !reason.empty()) {
      teardown(reason);
      return false;
    }
    if (!progress && !woken_) {
      arm();
      arm_sessions();
      return false;
    }
  }
  return phase_ != phase::closed;
}

void client_connection::arm() {
  fd_.arm(session_.get(), [self = shared_from_this()] { self->step(); });
}

void client_connection::teardown(const std::string& reason) {
  if (phase_ == phase::closed) {
    return;
  }
  phase_ = phase::closed;
  preauth_.end(failed_auth() > 0 ? preauth_end::authfail : preauth_end::noauth);  // if still held
  spdlog::info("src={} user={} closed: {}", peer_, log_value(user_), log_value(reason));
  // Every end is in the audit trail with its reason: refused before authentication, or the
  // client, the target or the bastion ending an authenticated connection.
  audit("connection", "closed", user_, {{"reason", reason}});
  const auto& m = proxy_metrics::get();
  (!user_.empty()      ? m.connections_authenticated
   : failed_auth() > 0 ? m.connections_denied
                       : m.connections_dropped)
      .Increment();
  grace_.cancel();
  // Sessions toward targets go before the client session whose channels they use.
  for (const auto& inner : inner_) {
    inner->close(reason);
  }
  inner_.clear();
  for (const auto& f : std::exchange(plain_forwards_, {})) {
    f.forward->close(reason);
  }
  if (relay_) {
    relay_->close(reason);
    relay_.reset();
  }
  end_session(event_.get(), reason);  // the client prints it ("Received disconnect ...")
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

void client_connection::report_refusal(const std::string& user, const std::string& why, int attempt,
                                       auth_method method) {
  const auto& m = proxy_metrics::get();
  (method == auth_method::password ? m.auth_password_denied : m.auth_publickey_denied).Increment();
  audit("auth", "denied", escape(user, max_client_name),
        {{"method", to_string(method)}, {"reason", why}, {"attempt", attempt}});
  spdlog::info("src={} auth refused user={} attempt={}: {}", peer_, log_value(user), attempt,
               log_value(why));
}

int client_connection::decide_pubkey(const std::string& name, ssh_key key, char state) {
  if (phase_ != phase::authenticating || !close_reason_.empty()) {
    return SSH_AUTH_DENIED;
  }
  const auto parsed = policy::parse_username(name);
  if (!parsed) {
    return refuse_auth(name, parsed.error().text);
  }
  const auto decision =
      policy::decide_key(*snapshot_, *parsed, sha256_fingerprint(key), key_context_of(peer_));
  if (!decision.accepted) {
    return refuse_auth(name, decision.reason);
  }
  if (state == SSH_PUBLICKEY_STATE_VALID) {  // libssh checked the signature
    user_ = decision.user;
    key_options_ = decision.options;
    key_fingerprint_ = sha256_fingerprint(key);
    phase_ = phase::authenticated;
    grace_.cancel();
    preauth_.end(preauth_end::authenticated);
    const std::string fingerprint = sha256_fingerprint(key);
    proxy_metrics::get().auth_publickey_ok.Increment();
    spdlog::info("src={} user={} authenticated with {}", peer_, log_value(user_), fingerprint);
    audit("auth", "ok", user_,
          {{"method", "publickey"},
           {"fingerprint", fingerprint},
           {"sent_user", escape(name, max_client_name)}});
    on_authenticated(*parsed);
  }
  return SSH_AUTH_SUCCESS;  // for STATE_NONE this only tells the client to go on and sign
}

}  // namespace bastion::proxy
