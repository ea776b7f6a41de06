// Upstream authentication with the user's forwarded agent. libssh's agent calls block on the
// agent socket (and, in blocking mode, on the target), so that one step runs on the blocking pool;
// the strand leaves the session alone until the result is posted back.
#include <unistd.h>

#include <bastion/common/escape.hpp>
#include <bastion/proxy/upstream.hpp>

namespace bastion::proxy {

namespace asio = boost::asio;

void upstream_dialer::set_agent(int fd, std::function<void()> abort) {
  if (agent_fd_ >= 0 || phase_ == phase::done) {
    if (phase_ == phase::done) {
      ::close(fd);
    }
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

void upstream_dialer::start_agent_auth() {
  phase_ = phase::agent_auth;
  ssh_session s = session_.get();
  ssh_set_agent_socket(s, agent_fd_);  // closed by libssh with the session
  // In blocking mode each wait for the target is bounded by the session timeout; the agent's
  // are bounded by the deadline, which aborts the link.
  const long seconds = std::max<long>(
      1, static_cast<long>(
             std::chrono::duration_cast<std::chrono::seconds>(request_.timeout).count()));
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &seconds);
  asio::post(*request_.blocking_pool, [self = shared_from_this(), s, login = request_.login] {
    ssh_set_blocking(s, 1);
    const int rc = ssh_userauth_agent(s, login.c_str());
    std::string error = rc == SSH_AUTH_SUCCESS ? std::string() : escape(ssh_get_error(s), 200);
    ssh_set_blocking(s, 0);
    asio::post(self->strand_,
               [self, rc, error = std::move(error)] { self->on_agent_auth(rc, error); });
  });
}

void upstream_dialer::on_agent_auth(int rc, const std::string& error) {
  phase_ = phase::authenticating;
  if (cancelled_) {
    stop();
    return;
  }
  if (timed_out_) {
    return finish("logging in to " + request_.target + " with your agent timed out after " +
                  format_duration(request_.timeout));
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
