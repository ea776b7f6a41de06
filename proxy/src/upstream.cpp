// The non-blocking upstream dial.
#include <unistd.h>

#include <bastion/common/escape.hpp>
#include <bastion/proxy/upstream.hpp>

#include "crypto_policy.hpp"
#include "proxy_metrics.hpp"

namespace bastion::proxy {

namespace asio = boost::asio;

upstream_dialer::upstream_dialer(const strand_type& strand, upstream_request request,
                                 std::function<void(upstream_result)> done)
    : strand_(strand),
      request_(std::move(request)),
      done_(std::move(done)),
      resolver_(strand),
      fd_(strand),
      deadline_(strand) {}

upstream_dialer::~upstream_dialer() {
  if (agent_fd_ >= 0 && !agent_given_) {
    ::close(agent_fd_);
  }
}

void upstream_dialer::arm_deadline() {
  deadline_.expires_after(request_.timeout);
  deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) {
      return;
    }
    if (self->phase_ == phase::agent_auth) {  // the pool returns at once, and finishes
      self->timed_out_ = true;
      self->abort_agent_auth();
      return;
    }
    self->finish(self->phase_ == phase::awaiting_agent
                     ? "the grant for " + self->request_.target +
                           " logs in with your agent (upstream_auth agent), and no agent came "
                           "within " +
                           format_duration(self->request_.timeout) + ": connect with ssh -A"
                     : "connecting to " + self->request_.target + " timed out after " +
                           format_duration(self->request_.timeout) +
                           (self->phase_ == phase::authenticating ? " (authenticating)" : ""));
  });
}

void upstream_dialer::start() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    self->started_ = std::chrono::steady_clock::now();
    self->arm_deadline();
    // Resolution through Asio: libssh's own getaddrinfo would block an io thread.
    self->resolver_.async_resolve(self->request_.host, std::to_string(self->request_.port),
                                  [self](const boost::system::error_code& ec, const auto& results) {
                                    self->on_resolved(ec, results);
                                  });
  });
}

void upstream_dialer::cancel() {
  done_ = nullptr;
  stop();
}

// The login is only stored here: the authentication request takes it from request_ (see
// auth_step), whatever phase the dial is in when it arrives.
void upstream_dialer::set_login(std::string login, bool agent_auth) {
  request_.login = std::move(login);
  request_.agent_auth = request_.agent_auth || agent_auth;
  if (phase_ == phase::awaiting_login) {
    phase_ = phase::authenticating;
    arm_deadline();  // authentication gets a timeout of its own
    // The caller is inside a libssh callback of the client's session: go on from the strand.
    asio::post(strand_, [self = shared_from_this()] { self->step(); });
  }
}

void upstream_dialer::on_resolved(const boost::system::error_code& ec,
                                  const asio::ip::tcp::resolver::results_type& results) {
  if (phase_ == phase::done) {
    return;
  }
  if (ec || results.empty()) {
    return finish("cannot resolve " + request_.target + " (" + escape(request_.host, 100) +
                  "): " + ec.message());
  }
  const std::string address = results.begin()->endpoint().address().to_string();
  session_.reset(ssh_new());
  ssh_session s = session_.get();
  const bool no = false;
  const int port = request_.port;
  const int nodelay = 1;  // as on the client's socket: keystrokes go out at once
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);  // ~/.ssh/config could inject a ProxyCommand
  ssh_options_set(s, SSH_OPTIONS_HOST, address.c_str());
  ssh_options_set(s, SSH_OPTIONS_PORT, &port);
  ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay);
  ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");  // trust comes from the database only
  ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  ssh_options_set(s, SSH_OPTIONS_KEY_EXCHANGE, crypto_policy::key_exchange);
  ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, crypto_policy::upstream_ciphers);
  ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, crypto_policy::upstream_ciphers);
  ssh_options_set(s, SSH_OPTIONS_HMAC_C_S, crypto_policy::macs);
  ssh_options_set(s, SSH_OPTIONS_HMAC_S_C, crypto_policy::macs);
  ssh_options_set(s, SSH_OPTIONS_COMPRESSION_C_S, crypto_policy::compression);
  ssh_options_set(s, SSH_OPTIONS_COMPRESSION_S_C, crypto_policy::compression);
  ssh_set_blocking(s, 0);
  phase_ = phase::connecting;
  step();
}

// ssh_connect in non-blocking mode returns SSH_AGAIN until the key exchange is done; each call
// does whatever I/O is ready.
bool upstream_dialer::connect_step() {
  const int rc = ssh_connect(session_.get());
  if (!fd_.is_open() && ssh_get_fd(session_.get()) != SSH_INVALID_SOCKET) {
    socket_fd_ = ssh_get_fd(session_.get());
    fd_.assign(socket_fd_);
  }
  if (rc == SSH_AGAIN) {
    return false;
  }
  if (rc != SSH_OK) {
    finish("cannot connect to " + request_.target + " (" + escape(request_.host, 100) + ":" +
           std::to_string(request_.port) + "): " + escape(ssh_get_error(session_.get()), 200));
    return false;
  }
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(session_.get(), &raw) != SSH_OK) {
    finish(request_.target + " sent no host key");
    return false;
  }
  const ssh_key_ptr key(raw);
  fingerprint_ = sha256_fingerprint(key.get());
  const bool trusted =
      std::any_of(request_.trusted_keys.begin(), request_.trusted_keys.end(),
                  [&](const policy::host_key& k) { return k.fingerprint == fingerprint_; });
  if (!trusted) {
    finish("the host key of " + request_.target + " is " + fingerprint_ +
           ", which is not a key stored for it; if the target's key changed, check it and update "
           "the target "
           "(bastionctl target remove/add)");
    return false;
  }
  proxy_metrics::get().upstream_connect_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
  if (request_.login.empty()) {
    phase_ = phase::awaiting_login;  // the client's authentication is not bounded by our timeout
    deadline_.cancel();
    return false;
  }
  phase_ = phase::authenticating;
  return true;
}

// The user name goes into the call itself. With nullptr, libssh takes SSH_OPTIONS_USER, which
// defaults to the OS user running bastiond when nothing set it before the key exchange: a login
// that arrives while the target's key exchange runs would then authenticate as that user.
bool upstream_dialer::auth_step() {
  if (request_.login.empty()) {
    finish("no login to authenticate to " + request_.target + " as");
    return false;
  }
  if (request_.agent_auth) {
    if (agent_fd_ < 0) {
      phase_ = phase::awaiting_agent;  // until set_agent, within the deadline
    } else {
      start_agent_auth();
    }
    return false;
  }
  const int rc =
      ssh_userauth_publickey(session_.get(), request_.login.c_str(), request_.client_key);
  if (rc == SSH_AUTH_AGAIN) {
    return false;
  }
  if (rc != SSH_AUTH_SUCCESS) {
    finish(request_.target + " refused the bastion's upstream key for login " +
           escape(request_.login, 64) +
           "; authorise `bastionctl upstream-key` in that login's authorized_keys");
    return false;
  }
  finish({});
  return false;
}

void upstream_dialer::step() {
  bool progress = true;
  while (progress && (phase_ == phase::connecting || phase_ == phase::authenticating)) {
    progress = phase_ == phase::connecting ? connect_step() : auth_step();
  }
  if (phase_ == phase::connecting || phase_ == phase::authenticating) {
    arm();
  }
}

void upstream_dialer::arm() {
  fd_.arm(session_.get(), [self = shared_from_this()] { self->step(); });
}

void upstream_dialer::stop() {
  if (phase_ == phase::agent_auth) {  // the pool holds the session: on_agent_auth stops
    cancelled_ = true;
    deadline_.cancel();
    abort_agent_auth();
    return;
  }
  phase_ = phase::done;
  if (agent_fd_ >= 0 && !agent_given_) {
    ::close(std::exchange(agent_fd_, -1));
  }
  deadline_.cancel();
  resolver_.cancel();
  fd_.release();  // libssh owns the socket
  if (session_) {
    ssh_disconnect(session_.get());
    session_.reset();
  }
}

void upstream_dialer::finish(std::string error) {
  if (phase_ == phase::done) {
    return;
  }
  upstream_result result;
  result.error = std::move(error);
  result.host_key_fingerprint = fingerprint_;
  result.login = request_.login;
  if (result.error.empty()) {
    result.session = std::move(session_);
  }
  stop();
  if (done_) {
    asio::post(strand_, [done = std::move(done_), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  }
}

}  // namespace bastion::proxy
