// The sessions that one client runs on one target: the access decided by policy, the upstream
// connection to the target, and one channel bridge per session channel. The username form has one
// relay on the outer session; each `-J` inner session has its own. Everything here runs on the
// connection's strand. Internal to proxy/.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include <bastion/common/metrics.hpp>
#include <bastion/policy/evaluator.hpp>
#include <bastion/proxy/fd_watch.hpp>
#include <bastion/proxy/upstream.hpp>

#include "agent_link.hpp"
#include "channel_bridge.hpp"
#include "connection_context.hpp"
#include "forward_bridge.hpp"
#include "session_tap.hpp"

namespace bastion::proxy {

// The session channels that one client connection has open, over its outer session and every
// inner session it carries: limits.max_sessions holds for the whole connection, as sshd's
// MaxSessions does. Shared by the connection's relays, which may outlive it by a handler.
class channel_budget {
 public:
  explicit channel_budget(int max) : max_(max) {}
  bool take() {
    if (open_ >= max_) {
      return false;
    }
    ++open_;
    return true;
  }
  void give_back(std::size_t n) { open_ -= static_cast<int>(n); }
  int max() const { return max_; }

 private:
  int max_;
  int open_ = 0;
};

// Removes the finished ones from `v`, then destroys them: freeing a channel may flush its session
// and poll the event, and a callback run there may append to `v`. Returns how many.
template <class Bridge>
std::size_t drop_finished(std::vector<std::unique_ptr<Bridge>>& v) {
  std::vector<std::unique_ptr<Bridge>> done;
  for (auto& b : v) {
    if (b->finished()) {
      done.push_back(std::move(b));
    }
  }
  std::erase(v, nullptr);
  return done.size();
}

class relay : public std::enable_shared_from_this<relay> {
 public:
  // Writes an audit row as the connection's user, from its source address.
  using audit_fn =
      std::function<void(std::string kind, std::string result, const nlohmann::json& detail)>;

  // `wake` runs one step of the owning connection's loop (it must not keep the connection
  // alive); `log_prefix` starts every log line ("src=... user=...").
  // `target` is the name the client asked for, until dial() resolves it.
  relay(const strand_type& strand, const connection_context& ctx, ssh_event event,
        std::shared_ptr<channel_budget> channels, std::string log_prefix, std::string target,
        std::function<void()> wake, audit_fn audit);
  ~relay();
  relay(const relay&) = delete;
  relay& operator=(const relay&) = delete;

  // Starts the connection to `target`. Before the login is known (a -J hop), the dial stops
  // after the target's host key check until set_access() gives it.
  void dial(const policy::target_info& target);
  // The access decided for `who.login`: lets the dial authenticate and starts the recording, or
  // refuses with its reason.
  void set_access(policy::access_decision access, session_identity who);
  // The client session (outer or inner) that carries this relay's channels: where the channels
  // that the bastion opens toward the client go (the user's agent for an upstream login, -R, X11).
  void set_client_session(ssh_session session) { client_session_ = session; }
  // No session can run: every channel, present or future, is told `reason` on stderr.
  void refuse(std::string reason);

  // Accepts a session channel on `server_session` (outer or inner), or returns null when the
  // connection has max_sessions channels open.
  ssh_channel open_session_channel(ssh_session server_session);
  // A message of the client's session (`client_session`, outer or inner) that no server callback
  // took: a direct-tcpip open (-L, -D), a tcpip-forward or its cancel (-R). Returns what the
  // message callback returns: 0 once replied, 1 for libssh's default reply (refused).
  int on_client_message(ssh_session client_session, ssh_message message);
  // Moves what it can through every bridge; true if anything moved.
  bool pump();
  // Arms the upstream socket's readiness; `on_ready` must keep alive what it uses.
  void arm(const std::function<void()>& on_ready);
  // Ends every channel, the recording (with `reason`) and the upstream connection.
  void close(const std::string& reason = "the bastion ended the session");
  // Tells every running channel's client `text` (channel_bridge::notify).
  void notify(const std::string& text);
  // After a policy reload, the owner decides the session again (policy::decide_live). One that
  // `access` no longer allows, or whose running channel's kind it no longer grants, ends, telling
  // its clients why, with ended_reason revoked; else `access` is what channels opened from now
  // on get.
  void recheck(policy::access_decision access);
  // Ends the sessions here, with ended_reason killed, if `session_id` is their recording's id
  // (`bastionctl kill`, asked by `by`). True if it is.
  bool kill(std::string_view session_id, const std::string& by);
  // Policy let the sessions here run, and they are not over.
  bool running() const { return access_.allowed && error_.empty() && !closed_; }

  bool upstream_lost() const;
  // No session can run here (refused by policy, or the target could not be reached).
  bool refused() const { return !error_.empty(); }
  // Why the sessions here ended for good (a limit, a lost recording, a target lost or never
  // reached), once the clients had a linger to read it on their channels: the owner then ends the
  // connection or -J hop with it, channels left or not. A policy refusal never ends it: each new
  // channel is told why.
  std::optional<std::string> over() const {
    return lingered_ ? std::optional(error_) : std::nullopt;
  }
  const std::string& target_name() const { return target_; }

 private:
  void on_upstream(upstream_result result);
  void fail_all(const std::string& reason);
  // fail_all, and the sessions here end for good (over()).
  void end_all(const std::string& reason);
  // After end_all, over() waits a linger: a client reads its channels' last words and closes
  // first (OpenSSH drops output that it has not printed yet when the server disconnects), and a
  // channel that it opens meanwhile is told why it cannot run.
  void linger();
  // Ends every channel once the recording has failed under fail_closed; true if it just did.
  bool check_recording();
  // limits.max_session_duration and limits.idle_timeout, from the moment the session may run.
  void start_limits();
  void arm_idle_check(duration after);
  void end_by_limit(const std::string& reason);
  // Ends the sessions here for an admin's reason: `code` is the session row's ended_reason
  // ("revoked", "killed"), `message` what the clients read, `by` the admin who asked, if one did.
  void end_by_admin(std::string code, const std::string& message, const std::string& by = {});
  // Why `access` no longer allows what runs here (a channel's kind, a forward), or "".
  std::string no_longer_allowed(const policy::access_decision& access) const;
  // Port forwarding (relay_forward.cpp).
  int open_local_forward(ssh_message message);
  int remote_forward_request(ssh_message message, bool cancel);
  bool pump_forwards();
  bool pump_listens();
  static int on_upstream_message(ssh_session, ssh_message message, void* self);
  int accept_remote_forward(ssh_message message);
  forward_rules forward_rules_for(const std::string& destination);
  // An audit row for a forward allowed, up to a bound per session (the channel rows have all).
  void audit_allowed(const std::string& what, nlohmann::json detail);
  // Agent (-A) and X11 (-X) forwarding: what the client's channels asked, and the channels that
  // the target then opens (libssh asks for them from inside its packet handling).
  void note_forwarding_asks(channel_bridge& bridge);
  // upstream_auth agent: lends the client's agent to the dial once a channel asked for it.
  void lend_agent();
  void make_agent_link();
  bool pump_agent_link();
  ssh_channel accept_from_target(forward_bridge::kind kind, const char* origin, int origin_port);
  static ssh_channel on_agent_open(ssh_session, void* self);
  static ssh_channel on_x11_open(ssh_session, const char* origin, int origin_port, void* self);
  // Audits a refused forward and logs it, up to a bound per session; returns 1 (refused).
  int refuse_forward(const std::string& what, const std::string& destination,
                     const std::string& reason);

  strand_type strand_;
  const connection_context& ctx_;
  ssh_event event_;
  std::shared_ptr<channel_budget> channels_;
  std::string log_prefix_;
  std::function<void()> wake_;
  audit_fn audit_;
  std::string target_;
  std::string login_;
  policy::access_decision access_;
  std::string error_;     // why no session can be relayed, once known
  std::string end_code_;  // the session row's ended_reason when an admin ended it
  // The session limits in force (limits.* narrowed by the grant's), and what a client is told
  // each came from.
  duration max_duration_{};
  duration idle_limit_{};
  std::string max_duration_from_;
  std::string idle_limit_from_;
  bool lingering_ = false;  // end_all ran: the sessions here are over for good (see linger())
  bool lingered_ = false;
  // After close(), a dial result already posted to the strand is dropped: it must not add an
  // upstream session to the connection's event once the relay has left it.
  bool closed_ = false;
  std::shared_ptr<session_tap> tap_;  // from the moment policy lets the session run
  metrics::gauge_hold active_;        // bastion_sessions_active, from then until close
  std::shared_ptr<upstream_dialer> dialer_;
  boost::asio::steady_timer duration_limit_;
  boost::asio::steady_timer idle_check_;
  boost::asio::steady_timer linger_;
  std::chrono::steady_clock::time_point last_activity_;
  ssh_session_ptr upstream_;
  fd_watch up_fd_;
  // Declared after the upstream session that their channels belong to: destroyed first.
  std::vector<std::unique_ptr<channel_bridge>> bridges_;
  std::vector<std::unique_ptr<forward_bridge>> forwards_;
  // -R: what the client bound, as it named it (the forwarded-tcpip toward it must repeat that
  // string exactly), and the tcpip-forward (or cancel) requests still to send upstream.
  struct remote_listen {
    std::string address;
    int port = 0;
    bool cancel = false;
  };
  std::vector<remote_listen> listening_;
  std::vector<remote_listen> pending_listens_;
  // Where the channels that the target opens (-R, -A, -X) are opened again: the client session
  // that carries this relay's channels (outer or inner).
  ssh_session client_session_ = nullptr;
  int refused_forwards_ = 0;
  int allowed_forwards_ = 0;
  bool agent_wanted_ = false;  // a channel asked for agent forwarding, and policy allowed it
  bool x11_wanted_ = false;
  ssh_callbacks_struct up_callbacks_{};     // on upstream_, for the target's agent and X11 opens
  std::unique_ptr<agent_link> agent_link_;  // while the dial logs in with the client's agent
  bool lend_agent_ = false;                 // the dial logs in with it (upstream_auth agent)
};

}  // namespace bastion::proxy
