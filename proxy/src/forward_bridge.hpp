// One forwarded TCP channel of a session, between the client and the target. A local forward
// (-L, -D) is a direct-tcpip channel that the client opened, relayed as one that the bastion opens
// on the upstream session, so the destination is reached from the target. A remote forward (-R)
// is a forwarded-tcpip channel that the target opened upstream, relayed as one that the bastion
// opens toward the client. Each is recorded as a channel: destination, originator, bytes each way
// and duration; its bytes only when the grant says so. A forward whose first bytes either way are
// an SSH identification line carries an SSH connection around the recording: it is reported
// (and, unless the grant allows it, cut before those bytes pass). As in channel_bridge, libssh
// callbacks only note what happened and pump() does the work. Internal to proxy/.
#pragma once

#include <libssh/callbacks.h>

#include <chrono>
#include <functional>
#include <string>

#include <bastion/common/escape.hpp>
#include <bastion/common/ssh.hpp>
#include <bastion/policy/names.hpp>

#include "callback_guard.hpp"
#include "session_tap.hpp"

namespace bastion::proxy {

// What a forward connects, as the SSH messages name it.
struct forward_endpoint {
  std::string host;  // direct-tcpip: the destination; forwarded-tcpip: the address bound (exact)
  int port = 0;
  std::string origin_host;
  int origin_port = 0;
};

// host:port as a client or target named it: untrusted and up to a packet long, so escaped and cut
// (log lines still quote it with log_value).
inline std::string forward_name(const char* host, int port) {
  return escape(std::string(host != nullptr ? host : "") + ":" + std::to_string(port), 300);
}

// The first bytes of a forward either way say what it carries: an SSH identification line (RFC
// 4253 4.2; a first read shorter than "SSH-" that could still be one counts) is an SSH connection,
// a session that the bastion would neither see nor record. Reported once per forward.
class ssh_inside_check {
 public:
  // Why the forward must end (`allowed` false), or "". `report(allowed)` runs once, if SSH.
  std::string first_bytes(const char* data, std::size_t n, bool allowed,
                          const std::function<void(bool)>& report);

 private:
  bool reported_ = false;
};

struct forward_rules {
  bool record_data = false;  // the grant's record_forward_data
  bool inspect = true;       // look for an SSH connection inside (TCP forwards)
  bool ssh_inside = false;   // the grant's forward_ssh_inside
  // How long the peer may take to answer the open of the bastion's side (limits.connect_timeout).
  std::chrono::steady_clock::duration open_timeout = std::chrono::seconds(30);
  // Called from pump() when the first bytes either way are an SSH identification line.
  std::function<void(bool allowed)> on_ssh_inside;
};

class forward_bridge final : public callback_owner {
 public:
  // local: -L, -D. The others are channels that the target opens toward the client: remote
  // (-R, forwarded-tcpip), agent (-A, auth-agent@openssh.com), x11 (-X).
  enum class kind { local, remote, agent, x11 };

  // `client` is the accepted direct-tcpip channel; the target side opens once attach() gives the
  // upstream session.
  static std::unique_ptr<forward_bridge> local(ssh_channel client, forward_endpoint where,
                                               channel_tap tap, forward_rules rules,
                                               std::string log_prefix);
  // `target` is the channel that the target opened (remote, agent or x11); the client side opens
  // at once on `client_session`.
  static std::unique_ptr<forward_bridge> toward_client(kind k, ssh_session client_session,
                                                       ssh_channel target, forward_endpoint where,
                                                       channel_tap tap, forward_rules rules,
                                                       std::string log_prefix);
  ~forward_bridge();
  forward_bridge(const forward_bridge&) = delete;
  forward_bridge& operator=(const forward_bridge&) = delete;

  void attach(ssh_session upstream);
  // Ends the forward: both channels close at the next pump().
  void fail(const std::string& reason);
  bool pump();
  bool finished() const { return finished_; }
  kind what() const { return kind_; }
  // The channel kind that a grant must allow for it.
  policy::channel_kind granted_as() const {
    switch (kind_) {
      case kind::local:
        return policy::channel_kind::forward;
      case kind::remote:
        return policy::channel_kind::remote_forward;
      case kind::agent:
        return policy::channel_kind::agent;
      case kind::x11:
        break;
    }
    return policy::channel_kind::x11;
  }
  const forward_endpoint& where() const { return where_; }
  void on_callback_failure() noexcept override { callback_failed_ = true; }

 private:
  // One side's channel and what it has told.
  struct side {
    ssh_channel_ptr channel;
    ssh_channel_callbacks_struct callbacks{};
    std::string carry;     // read from this side, not yet taken by the other
    bool waiting = false;  // data may wait in libssh's buffer (set by on_data)
    bool eof = false;
    bool closed = false;
    bool eof_sent = false;  // to this side
    bool first = true;      // nothing read from it yet
  };

  forward_bridge(kind k, forward_endpoint where, channel_tap tap, forward_rules rules,
                 std::string log_prefix);
  void watch(side& s);
  void start_opening();
  bool open_pending();
  bool pump_opening();
  bool relay(side& from, side& to, recorder::stream what);
  bool check_first_bytes(side& from, const char* data, std::size_t n);
  bool propagate_end(side& from, side& to);
  bool drained(side& s) const;
  void finish();

  static int on_data(ssh_session, ssh_channel channel, void*, uint32_t, int, void* self);
  static void on_eof(ssh_session, ssh_channel channel, void* self);
  static void on_close(ssh_session, ssh_channel channel, void* self);
  side& side_of(ssh_channel channel) {
    return channel == client_.channel.get() ? client_ : target_;
  }

  kind kind_;
  forward_endpoint where_;
  channel_tap tap_;
  forward_rules rules_;
  std::string log_prefix_;
  side client_;
  side target_;
  bool opening_ = false;  // the side that the bastion opens is not open yet
  std::chrono::steady_clock::time_point open_deadline_;
  bool abandoned_ = false;  // given up while opening: the accepted side is closed
  ssh_inside_check ssh_inside_;
  std::string failure_;
  bool finished_ = false;
  bool callback_failed_ = false;
};

}  // namespace bastion::proxy
