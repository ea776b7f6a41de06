// One client session channel and its upstream twin. libssh callbacks only note what happened
// (requests queued, data waiting, EOF, close); pump() does the cross-session work outside any
// callback, because a write into another session from inside a callback polls re-entrantly and,
// during a rekey, drops the connection. Every buffer is bounded.
// Internal to proxy/.
#pragma once

#include <libssh/callbacks.h>

#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <bastion/common/metrics.hpp>
#include <bastion/common/ssh.hpp>
#include <bastion/policy/evaluator.hpp>

#include "callback_guard.hpp"
#include "session_tap.hpp"

namespace bastion::proxy {

class channel_bridge final : public callback_owner {
 public:
  // Takes ownership of `down`, the accepted client channel; `access` decides which requests pass,
  // and `tap` records everything that crosses.
  channel_bridge(ssh_channel down, const policy::access_decision& access, channel_tap tap,
                 std::string log_prefix);
  ~channel_bridge();
  channel_bridge(const channel_bridge&) = delete;
  channel_bridge& operator=(const channel_bridge&) = delete;

  // The upstream session is ready: open the twin channel on it.
  void attach(ssh_session upstream);
  // The session cannot go on (upstream unreachable, not granted): the next pump() tells the
  // client on stderr, with exit status 255, and ends the channel.
  void fail(const std::string& reason);

  // A line from the bastion itself (it is shutting down, say) on the client's stderr, recorded as
  // a notice once written; for a channel whose shell, command or subsystem runs. Best effort: it
  // is dropped when the client's window cannot take it whole.
  void notify(const std::string& text);

  // Moves what it can; returns true if anything moved. Call after every event poll.
  bool pump();
  bool finished() const { return finished_; }
  // What runs on the channel (a command= key's exec is an exec), once started.
  std::optional<policy::channel_kind> kind() const { return kind_; }

  // The client asked for agent (-A) or X11 (-X) forwarding on this channel: `allowed` says
  // whether policy let the request through to the target. Taken once by the relay, which audits
  // it and then accepts the target's agent or X11 channels.
  struct forwarding_ask {
    policy::channel_kind kind;
    bool allowed;
  };
  std::vector<forwarding_ask> take_forwarding_asks() { return std::exchange(asks_, {}); }

  void on_callback_failure() noexcept override { callback_failed_ = true; }

 private:
  struct request {
    enum class kind { pty, env, shell, exec, subsystem, window_change, signal, agent, x11 } type;
    std::string a;  // term, env name, command, subsystem, signal, X11 auth protocol
    // env value; for an exec forced by the key, what the client asked for; the X11 auth cookie
    std::string b;
    int cols = 0;  // X11: the screen
    int rows = 0;  // X11: single connection (1) or not
  };
  enum class up_state { waiting, opening, replaying, open, closed };

  bool open_upstream();
  bool replay_requests();
  bool relay(ssh_channel src, ssh_channel dst, recorder::stream what, std::string& carry,
             bool& waiting);
  bool propagate_end();
  bool report_failure();
  void finish();

  static int on_pty(ssh_session, ssh_channel, const char* term, int cols, int rows, int, int,
                    void* self);
  static int on_shell(ssh_session, ssh_channel, void* self);
  static int on_exec(ssh_session, ssh_channel, const char* command, void* self);
  static int on_subsystem(ssh_session, ssh_channel, const char* subsystem, void* self);
  static int on_env(ssh_session, ssh_channel, const char* name, const char* value, void* self);
  static int on_window_change(ssh_session, ssh_channel, int cols, int rows, int, int, void* self);
  static void on_signal(ssh_session, ssh_channel, const char* signal, void* self);
  static void on_agent_req(ssh_session, ssh_channel, void* self);
  static void on_x11_req(ssh_session, ssh_channel, int single, const char* protocol,
                         const char* cookie, uint32_t screen, void* self);
  static int on_data(ssh_session, ssh_channel, void*, uint32_t, int, void* self);
  static void on_down_eof(ssh_session, ssh_channel, void* self);
  static void on_down_close(ssh_session, ssh_channel, void* self);
  static void on_up_eof(ssh_session, ssh_channel, void* self);
  static void on_up_close(ssh_session, ssh_channel, void* self);
  static void on_exit_status(ssh_session, ssh_channel, int status, void* self);
  static void on_exit_signal(ssh_session, ssh_channel, const char* signal, int core,
                             const char* errmsg, const char* lang, void* self);
  int start(request r, bool allowed);
  int queue(request r);
  void record(const request& r);
  bool start_failed_channel();

  ssh_channel_ptr down_;
  ssh_channel_ptr up_;
  policy::access_decision access_;
  channel_tap tap_;
  std::string log_prefix_;
  ssh_channel_callbacks_struct down_callbacks_{};
  ssh_channel_callbacks_struct up_callbacks_{};
  std::deque<request> requests_;  // bounded: a client gets at most max_requests
  std::vector<forwarding_ask> asks_;
  bool agent_asked_ = false;  // one of each per channel
  bool x11_asked_ = false;
  bool started_ = false;  // shell, exec or subsystem was asked for
  std::optional<policy::channel_kind> kind_;
  metrics::gauge_hold active_;  // bastion_channels_active{kind}, from the start to the end
  up_state up_state_ = up_state::waiting;
  std::string carry_up_;  // read from the client, not yet taken by the upstream window
  std::string carry_down_;
  std::string carry_down_err_;
  // Data may wait in libssh's buffer of that channel and stream (set by on_data).
  bool down_waiting_ = false;
  bool up_waiting_ = false;
  bool up_err_waiting_ = false;
  bool down_eof_ = false;
  bool down_closed_ = false;
  bool up_eof_ = false;
  bool up_closed_ = false;
  bool up_eof_sent_ = false;
  std::optional<int> exit_status_;
  std::optional<std::string> exit_signal_;
  std::string failure_;
  bool finished_ = false;
  bool callback_failed_ = false;
};

}  // namespace bastion::proxy
