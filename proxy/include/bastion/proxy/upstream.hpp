// Connecting to a target: name resolution, TCP connect, key exchange, the host-key check against
// the keys stored for the target, and authentication with the bastion-held key; all non-blocking
// on the caller's strand, bounded by the connect timeout. Never reads ~/.ssh/config or a
// known_hosts file, and never trusts a key on first use.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <bastion/common/duration.hpp>
#include <bastion/common/ssh.hpp>
#include <bastion/policy/store.hpp>
#include <bastion/proxy/fd_watch.hpp>

namespace bastion::proxy {

struct upstream_request {
  std::string target;  // its name, for messages
  std::string host;
  int port = 22;
  std::string login;  // may be set later with set_login: the dial then waits after the host key
  std::vector<policy::host_key> trusted_keys;
  ssh_key client_key = nullptr;  // the bastion-held upstream key (borrowed; outlives the dial)
  duration timeout = std::chrono::seconds(10);
  // Authenticate with the user's forwarded agent (a grant's upstream_auth agent) instead of
  // client_key: the dial waits after the host key until set_agent() lends one, then runs libssh's
  // agent authentication, whose calls block, on `blocking_pool`, with nothing else touching the
  // session until it returns.
  bool agent_auth = false;
  boost::asio::thread_pool* blocking_pool = nullptr;
};

struct upstream_result {
  ssh_session_ptr session;  // connected, authenticated, non-blocking; null on failure
  std::string error;        // one line for the client and the audit trail
  std::string host_key_fingerprint;
  std::string login;  // the user name that the authentication request carried
};

using strand_type = boost::asio::strand<boost::asio::io_context::executor_type>;

class upstream_dialer : public std::enable_shared_from_this<upstream_dialer> {
 public:
  upstream_dialer(const strand_type& strand, upstream_request request,
                  std::function<void(upstream_result)> done);
  ~upstream_dialer();
  upstream_dialer(const upstream_dialer&) = delete;
  upstream_dialer& operator=(const upstream_dialer&) = delete;

  // Runs on the strand. `done` is called at most once, on the strand, and never from inside a
  // call of the owner's (always posted): the owner may be in the middle of a libssh callback.
  void start();
  // Stops the dial without calling `done`: the owner asked, so it needs no answer. On the strand.
  void cancel();
  // The login to authenticate as, when the request had none (a -J inner session learns it only
  // from its own authentication, while the target's key exchange already runs). On the strand.
  void set_login(std::string login, bool agent_auth = false);
  // The agent for upstream_request::agent_auth: `fd`, a socket that speaks the agent protocol
  // (libssh owns it from here); `abort` makes libssh's calls on it fail at once (the dial's
  // deadline uses it, since they would otherwise wait for ever). On the strand.
  void set_agent(int fd, std::function<void()> abort);

 private:
  enum class phase {
    resolving,
    connecting,
    awaiting_login,
    authenticating,
    awaiting_agent,
    agent_auth,  // on the blocking pool: the session is not touched here until it returns
    done
  };

  void on_resolved(const boost::system::error_code& ec,
                   const boost::asio::ip::tcp::resolver::results_type& results);
  void step();
  bool connect_step();
  bool auth_step();
  void start_agent_auth();
  void on_agent_auth(int rc, const std::string& error);
  // Makes a running agent login return at once: the agent link and the target's socket are shut.
  void abort_agent_auth();
  void arm();
  void arm_deadline();
  void finish(std::string error);
  void stop();

  strand_type strand_;
  upstream_request request_;
  std::function<void(upstream_result)> done_;
  boost::asio::ip::tcp::resolver resolver_;
  fd_watch fd_;
  boost::asio::steady_timer deadline_;
  ssh_session_ptr session_;
  std::string fingerprint_;
  std::chrono::steady_clock::time_point started_;  // for bastion_upstream_connect_seconds
  phase phase_ = phase::resolving;
  int agent_fd_ = -1;
  bool agent_given_ = false;  // libssh owns agent_fd_ (it closes it with the session)
  int socket_fd_ = -1;        // the session's socket, for a shutdown that wakes a blocked call
  std::function<void()> abort_agent_;
  bool cancelled_ = false;  // while agent_auth: stop when the pool returns
  bool timed_out_ = false;
};

}  // namespace bastion::proxy
