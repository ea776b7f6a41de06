// Connecting to a target: name resolution, TCP connect, key exchange, the host-key check against
// the keys stored for the target, and authentication with the bastion-held key; all non-blocking
// on the caller's strand, bounded by the connect timeout. Never reads ~/.ssh/config or a
// known_hosts file, and never trusts a key on first use.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
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
  void set_login(std::string login);

 private:
  enum class phase { resolving, connecting, awaiting_login, authenticating, done };

  void on_resolved(const boost::system::error_code& ec,
                   const boost::asio::ip::tcp::resolver::results_type& results);
  void step();
  bool connect_step();
  bool auth_step();
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
};

}  // namespace bastion::proxy
