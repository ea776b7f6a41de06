// A direct-tcpip channel on the outer connection whose destination is a registered host's other
// port (a database, a web console), not its SSH service: a plain TCP forward from the bastion
// (`ssh -L 5432:db1:5432 alice@bastion`), which the grant on that target must allow as `forward`.
// The bastion connects to the target's address on that port and pumps the channel to the socket
// like a -J tunnel. Each is a recorded session of its own with one channel (kind direct-tcpip):
// its destination, bytes each way and duration, never its bytes (unless the grant records forward
// data). Runs on the connection's strand. Internal to proxy/.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>

#include <bastion/proxy/fd_watch.hpp>
#include <bastion/proxy/upstream.hpp>

#include "forward_bridge.hpp"
#include "session_tap.hpp"
#include "tunnel.hpp"

namespace bastion::proxy {

class outer_forward : public std::enable_shared_from_this<outer_forward> {
 public:
  struct params {
    std::string connect_host;  // the target's address
    forward_endpoint where;    // as the client named it
    duration connect_timeout;
    // The tighter of limits.* and the grant's (zero: none), as a relay takes them.
    duration max_duration{};
    duration idle_limit{};
    bool record_data = false;
    bool ssh_inside = false;  // the grant's forward_ssh_inside
    // Called when the first bytes either way are an SSH identification line.
    std::function<void(bool allowed)> on_ssh_inside;
    std::string log_prefix;
    std::function<void()> wake;  // one step of the connection (never inside a step)
  };
  // Takes `channel`, the accepted direct-tcpip channel; `tap` records it (null: unrecorded).
  outer_forward(const strand_type& strand, ssh_channel channel, params p,
                std::shared_ptr<session_tap> tap);
  ~outer_forward();
  outer_forward(const outer_forward&) = delete;
  outer_forward& operator=(const outer_forward&) = delete;

  void start();  // resolves and connects, within connect_timeout
  bool pump();
  void arm(const std::function<void()>& on_ready);
  bool finished() const { return finished_; }
  // Ends the forward and its session row with `reason` (ended_reason when set by an admin).
  void close(const std::string& reason);
  const std::string& session_id() const;

 private:
  void on_connected(const boost::system::error_code& ec);
  void on_bytes(bool to_socket, const char* data, std::size_t n);
  void arm_limits();
  void arm_idle_check(duration after);
  void fail(const std::string& reason);

  strand_type strand_;
  ssh_channel_ptr pending_;  // the client's channel, until the connection is made
  params p_;
  std::shared_ptr<session_tap> tap_;
  channel_tap channel_tap_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer deadline_;
  boost::asio::steady_timer duration_limit_;
  boost::asio::steady_timer idle_check_;
  std::chrono::steady_clock::time_point last_activity_;
  bool first_in_ = true;  // nothing has crossed that way yet
  bool first_out_ = true;
  ssh_inside_check ssh_inside_;
  std::unique_ptr<tunnel> tunnel_;
  fd_watch watch_;
  std::string failure_;
  bool finished_ = false;
};

}  // namespace bastion::proxy
