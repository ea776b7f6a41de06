// Upstream authentication with the user's forwarded agent. libssh's agent calls block on the
// agent socket (and, in blocking mode, on the target), so that one step runs on the blocking pool;
// the strand leaves the session alone until the result is posted back.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include <bastion/common/escape.hpp>
#include <bastion/proxy/upstream.hpp>

namespace bastion::proxy {

namespace asio = boost::asio;

namespace {

// Agent logins queued or running on the pool, over the whole process. Past the bound a login is
// refused at once rather than queued behind others that wait for their users' agents.
constexpr int max_agent_logins = 32;
std::atomic<int> agent_logins{0};

}  // namespace

void upstream_dialer::set_agent(int fd, std::function<void()> abort) {
  if (agent_fd_ >= 0 || phase_ == phase::done) {
    ::close(fd);  // one agent per dial; none once it is over
    return;
  }
  agent_fd_ = fd;
  abort_agent_ = std::move(abort);
  if (phase_ == phase::awaiting_agent) {
    asio::post(strand_, [self = shared_from_this()] {
      if (self->phase_ == phase::awaiting_agent) {
        self->start_agent_auth();
      }
    });
  }
}

void upstream_dialer::abort_agent_auth() {
  if (abort_agent_) {
    abort_agent_();  // the agent's end: libssh's agent reads return 0
  }
  if (socket_fd_ >= 0) {
    ::shutdown(socket_fd_, SHUT_RDWR);  // a kernel call: libssh's waits on the target end too
  }
}

void upstream_dialer::start_agent_auth() {
  if (agent_logins.fetch_add(1) >= max_agent_logins) {
    agent_logins.fetch_sub(1);
    return finish("the bastion is busy logging other users in with their agents; try again");
  }
  phase_ = phase::agent_auth;
  ssh_session s = session_.get();
  agent_given_ = ssh_set_agent_socket(s, agent_fd_) == SSH_OK;  // libssh closes it with s
  // In blocking mode each wait for the target is bounded by the session timeout; the deadline
  // ends every wait at once (abort_agent_auth).
  const long seconds = std::max<long>(
      1, static_cast<long>(
             std::chrono::duration_cast<std::chrono::seconds>(request_.timeout).count()));
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &seconds);
  asio::post(*request_.blocking_pool, [self = shared_from_this(), s, login = request_.login,
                                       given = agent_given_]() mutable {
    int rc = SSH_AUTH_ERROR;
    std::string error = "the bastion could not lend the agent to libssh";
    if (given) {
      ssh_set_blocking(s, 1);
      rc = ssh_userauth_agent(s, login.c_str());
      error = rc == SSH_AUTH_SUCCESS ? std::string() : escape(ssh_get_error(s), 200);
      ssh_set_blocking(s, 0);
    }
    agent_logins.fetch_sub(1);
    auto& strand = self->strand_;
    // The last reference goes on the strand, never on a pool thread.
    asio::post(strand, [self = std::move(self), rc, error = std::move(error)] {
      self->on_agent_auth(rc, error);
    });
  });
}

void upstream_dialer::on_agent_auth(int rc, const std::string& error) {
  phase_ = phase::authenticating;
  if (cancelled_) {
    stop();
    return;
  }
  if (timed_out_ || rc == SSH_AUTH_AGAIN) {
    return finish("logging in to " + request_.target + " with your agent timed out after " +
                  format_duration(request_.timeout));
  }
  if (rc == SSH_AUTH_PARTIAL) {
    return finish(request_.target + " wants more than a key to log in as " +
                  escape(request_.login, 64) + " (upstream_auth agent supports keys only)");
  }
  if (rc != SSH_AUTH_SUCCESS) {
    return finish(request_.target + " accepted no key of your agent for login " +
                  escape(request_.login, 64) +
                  " (upstream_auth agent); add your key to that login's authorized_keys, or check "
                  "that ssh-add -l lists it" +
                  (error.empty() ? "" : " (" + error + ")"));
  }
  finish({});
}

}  // namespace bastion::proxy
