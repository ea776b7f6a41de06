// Channel bridging: request queueing and replay, window-bounded relay, EOF/exit/close
// propagation. The libssh callbacks that feed it are in channel_bridge_callbacks.cpp.
#include "channel_bridge.hpp"

#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>

#include "byte_pump.hpp"
#include "proxy_metrics.hpp"

namespace bastion::proxy {
namespace {

using policy::channel_kind;

// Requests a client may queue before its upstream exists; more are refused.
constexpr std::size_t max_requests = 32;

}  // namespace

channel_bridge::channel_bridge(ssh_channel down, const policy::access_decision& access,
                               channel_tap tap, std::string log_prefix)
    : down_(down), access_(access), tap_(std::move(tap)), log_prefix_(std::move(log_prefix)) {
  down_callbacks_.userdata = this;
  down_callbacks_.channel_pty_request_function = on_pty;
  down_callbacks_.channel_shell_request_function = on_shell;
  down_callbacks_.channel_exec_request_function = on_exec;
  down_callbacks_.channel_subsystem_request_function = on_subsystem;
  down_callbacks_.channel_env_request_function = on_env;
  down_callbacks_.channel_pty_window_change_function = on_window_change;
  down_callbacks_.channel_signal_function = on_signal;
  // auth-agent-req is answered by libssh itself, success when this callback exists and failure
  // otherwise, and OpenSSH sends it without asking for a reply: the callback always exists and
  // decides. x11-req is answered success whenever its callback exists, so the callback is set only
  // where policy allows X11; elsewhere the request reaches the message callback and is refused
  // (OpenSSH prints "X11 forwarding request failed").
  down_callbacks_.channel_auth_agent_req_function = on_agent_req;
  if (policy::allows(access_, channel_kind::x11)) {
    down_callbacks_.channel_x11_req_function = on_x11_req;
  }
  down_callbacks_.channel_data_function = on_data;
  down_callbacks_.channel_eof_function = on_down_eof;
  down_callbacks_.channel_close_function = on_down_close;
  ssh_callbacks_init(&down_callbacks_);
  ssh_set_channel_callbacks(down_.get(), &down_callbacks_);
}

// libssh keeps a locally freed channel until the peer closes it too, and would still call our
// callbacks with a dangling userdata: unregister them first.
channel_bridge::~channel_bridge() {
  if (down_) {
    ssh_remove_channel_callbacks(down_.get(), &down_callbacks_);
  }
  if (up_) {
    ssh_remove_channel_callbacks(up_.get(), &up_callbacks_);
  }
}

void channel_bridge::attach(ssh_session upstream) {
  if (finished_ || !failure_.empty()) {
    return;
  }
  up_.reset(ssh_channel_new(upstream));
  up_callbacks_.userdata = this;
  up_callbacks_.channel_data_function = on_data;
  up_callbacks_.channel_eof_function = on_up_eof;
  up_callbacks_.channel_close_function = on_up_close;
  up_callbacks_.channel_exit_status_function = on_exit_status;
  up_callbacks_.channel_exit_signal_function = on_exit_signal;
  ssh_callbacks_init(&up_callbacks_);
  ssh_set_channel_callbacks(up_.get(), &up_callbacks_);
  up_state_ = up_state::opening;
}

void channel_bridge::fail(const std::string& reason) {
  if (failure_.empty()) {
    failure_ = reason;
  }
}

// A channel that already failed takes its start request, so the client reads why on stderr
// instead of a bare "request failed".
bool channel_bridge::start_failed_channel() {
  if (failure_.empty()) {
    return false;
  }
  started_ = true;
  return true;
}

int channel_bridge::queue(request r) {
  const bool starts = r.type == request::kind::shell || r.type == request::kind::exec ||
                      r.type == request::kind::subsystem;
  if (requests_.size() >= max_requests || (starts && started_)) {
    return 1;  // refused: libssh answers the client with a failure
  }
  if (starts) {
    started_ = true;
    const channel_kind kind = r.type == request::kind::shell  ? channel_kind::shell
                              : r.type == request::kind::exec ? channel_kind::exec
                                                              : channel_kind::sftp;
    kind_ = kind;
    active_ = metrics::gauge_hold(proxy_metrics::get().channels(kind));
    spdlog::info("{} started {}{}", log_prefix_, policy::to_string(kind),
                 r.type == request::kind::shell ? "" : " " + log_value(r.a));
  }
  record(r);
  requests_.push_back(std::move(r));
  return 0;
}

// A shell, exec or subsystem request that policy let through (`allowed`). A key's command= runs
// instead, whatever the client asked for, as sshd runs it: that is an exec on the target, so it
// needs exec in the grant. A client's command goes along as SSH_ORIGINAL_COMMAND, an env request
// that the target takes if its sshd has `AcceptEnv SSH_ORIGINAL_COMMAND` (for a subsystem sshd
// would pass the program it runs for it, which only the target knows: none is passed). The
// recording keeps what the client asked for beside the command that ran.
int channel_bridge::start(request r, bool allowed) {
  if (!access_.forced_command) {
    return allowed ? queue(std::move(r)) : 1;
  }
  if (!policy::allows(access_, channel_kind::exec)) {
    return 1;
  }
  if (r.type == request::kind::exec && !r.a.empty()) {
    if (started_ || requests_.size() + 2 > max_requests) {
      return 1;  // the env and the exec go together, or neither does
    }
    queue({request::kind::env, "SSH_ORIGINAL_COMMAND", r.a});
  }
  std::string asked = r.type == request::kind::exec        ? r.a
                      : r.type == request::kind::subsystem ? "subsystem " + r.a
                                                           : "shell";
  return queue({request::kind::exec, *access_.forced_command, asked.empty() ? "exec" : asked});
}

// What the client asked for is recorded when it is accepted, at the time the client asked.
void channel_bridge::record(const request& r) {
  switch (r.type) {
    case request::kind::pty:
      return tap_.request(
          {{"request", "pty-req"}, {"term", r.a}, {"cols", r.cols}, {"rows", r.rows}});
    case request::kind::env:
      return tap_.request({{"request", "env"}, {"name", r.a}, {"value", r.b}});
    case request::kind::shell:
      return tap_.request({{"request", "shell"}});
    case request::kind::exec:
      if (!r.b.empty()) {  // a key's command= replaced what the client asked for
        return tap_.request({{"request", "exec"}, {"command", r.a}, {"client_asked", r.b}});
      }
      return tap_.request({{"request", "exec"}, {"command", r.a}});
    case request::kind::subsystem:
      return tap_.request({{"request", "subsystem"}, {"subsystem", r.a}});
    case request::kind::window_change:
      return tap_.window_change(r.cols, r.rows);
    case request::kind::signal:
      return tap_.signal(r.a);
    case request::kind::agent:
      return tap_.request({{"request", "auth-agent-req@openssh.com"}});
    case request::kind::x11:  // the cookie is a credential: never recorded
      return tap_.request(
          {{"request", "x11-req"}, {"protocol", r.a}, {"screen", r.cols}, {"single", r.rows != 0}});
  }
}

bool channel_bridge::open_upstream() {
  const int rc = ssh_channel_open_session(up_.get());
  if (rc == SSH_AGAIN) {
    return false;
  }
  if (rc != SSH_OK) {
    fail("the target refused a session channel");
    return true;
  }
  spdlog::debug("{} upstream channel open, replaying {} requests", log_prefix_, requests_.size());
  up_state_ = up_state::replaying;
  return true;
}

// Replays queued requests in order. In non-blocking mode each call returns SSH_AGAIN until the
// target answers, and must be repeated with the same arguments.
bool channel_bridge::replay_requests() {
  bool progress = false;
  while (!requests_.empty()) {
    const request& r = requests_.front();
    ssh_channel up = up_.get();
    int rc = SSH_OK;
    switch (r.type) {
      case request::kind::pty:
        rc = ssh_channel_request_pty_size(up, r.a.c_str(), r.cols, r.rows);
        break;
      case request::kind::env:
        rc = ssh_channel_request_env(up, r.a.c_str(), r.b.c_str());
        break;
      case request::kind::shell:
        rc = ssh_channel_request_shell(up);
        break;
      case request::kind::exec:
        rc = ssh_channel_request_exec(up, r.a.c_str());
        break;
      case request::kind::subsystem:
        rc = ssh_channel_request_subsystem(up, r.a.c_str());
        break;
      case request::kind::window_change:
        rc = ssh_channel_change_pty_size(up, r.cols, r.rows);
        break;
      case request::kind::signal:
        rc = ssh_channel_request_send_signal(up, r.a.c_str());
        break;
      case request::kind::agent:
        rc = ssh_channel_request_auth_agent(up);
        break;
      case request::kind::x11:
        rc = ssh_channel_request_x11(up, r.rows, r.a.c_str(), r.b.c_str(), r.cols);
        break;
    }
    if (rc == SSH_AGAIN) {
      return progress;
    }
    const bool essential = r.type == request::kind::shell || r.type == request::kind::exec ||
                           r.type == request::kind::subsystem || r.type == request::kind::pty;
    if (rc != SSH_OK && essential) {
      fail("the target refused the session request");
      requests_.clear();
      return true;
    }
    // A refused env or signal is the target's policy (AcceptEnv), as is a refused agent or X11
    // forwarding (AllowAgentForwarding, X11Forwarding): the session goes on without it.
    if (rc != SSH_OK && (r.type == request::kind::agent || r.type == request::kind::x11)) {
      spdlog::info("{} the target refused {} forwarding", log_prefix_,
                   r.type == request::kind::agent ? "agent" : "X11");
    }
    requests_.pop_front();
    progress = true;
  }
  if (up_state_ == up_state::replaying && started_) {
    spdlog::debug("{} relaying", log_prefix_);
    up_state_ = up_state::open;
  }
  return progress;
}

// Moves one stream window by window. The tap records what the destination took, once; nothing
// passes while the recording has failed under fail_closed (the relay then ends the channel).
bool channel_bridge::relay(ssh_channel src, ssh_channel dst, recorder::stream what,
                           std::string& carry, bool& waiting) {
  if (!waiting && carry.empty()) {
    return false;
  }
  const int src_stream = what == recorder::stream::error ? 1 : 0;
  // Backpressure from the recorder: while it is behind (or, under fail_closed, while this
  // session's bytes are not yet in its file) nothing is read, so the windows close and the peers
  // slow down; the recorder wakes the relay when there is room again.
  const auto room = [this, dst]() -> uint32_t {
    const uint32_t window = ssh_channel_window_size(dst);
    return window == 0 ? 0 : static_cast<uint32_t>(std::min<std::size_t>(window, tap_.room()));
  };
  std::size_t moved = 0;
  const bool progress = pump_bytes(
      room,
      [src, src_stream, &waiting](char* buf, std::size_t n) -> long {
        const int r = ssh_channel_read_nonblocking(src, buf, static_cast<uint32_t>(n), src_stream);
        if (r <= 0) {
          waiting = false;  // drained; the next packet sets it again
        }
        return r;
      },
      [this, dst, what, &moved](const char* data, std::size_t n) -> std::size_t {
        if (tap_.failed()) {
          return 0;
        }
        const auto len = static_cast<uint32_t>(n);
        const int wr = what == recorder::stream::error ? ssh_channel_write_stderr(dst, data, len)
                                                       : ssh_channel_write(dst, data, len);
        // 0 while keys are re-exchanged (libssh sends no channel data then): the carry keeps the
        // bytes until the next pass
        const std::size_t taken = wr < 0 ? 0 : static_cast<std::size_t>(wr);
        tap_.data(what, data, taken);
        moved += taken;
        return taken;
      },
      carry);
  if (moved > 0) {  // one atomic add per pass, not per packet
    const auto& m = proxy_metrics::get();
    (what == recorder::stream::input ? m.bytes_to_target : m.bytes_to_client)
        .Increment(static_cast<double>(moved));
  }
  return progress;
}

bool channel_bridge::report_failure() {
  spdlog::info("{} channel ended: {}", log_prefix_, log_value(failure_));
  const std::string line = "bastion: " + failure_ + "\r\n";
  ssh_channel_write_stderr(down_.get(), line.data(), static_cast<uint32_t>(line.size()));
  ssh_channel_request_send_exit_status(down_.get(), 255);
  finish();
  return true;
}

bool channel_bridge::propagate_end() {
  if (up_state_ != up_state::open) {
    return false;
  }
  // Flags first, buffers second: ssh_channel_poll may process packets, and data it reads after a
  // check would be lost. Once EOF or close has arrived, nothing more can come on that channel.
  bool progress = false;
  if (down_eof_ && !up_eof_sent_ && carry_up_.empty() && ssh_channel_poll(down_.get(), 0) <= 0) {
    ssh_channel_send_eof(up_.get());
    up_eof_sent_ = true;
    progress = true;
  }
  const bool up_drained = up_closed_ && carry_down_.empty() && carry_down_err_.empty() &&
                          ssh_channel_poll(up_.get(), 0) <= 0 &&
                          ssh_channel_poll(up_.get(), 1) <= 0;
  if (up_drained) {
    if (exit_status_) {
      ssh_channel_request_send_exit_status(down_.get(), *exit_status_);
    } else if (exit_signal_) {
      ssh_channel_request_send_exit_signal(down_.get(), exit_signal_->c_str(), 0, "", "");
    }
    finish();
    return true;
  }
  return progress;
}

void channel_bridge::finish() {
  if (finished_) {
    return;
  }
  finished_ = true;
  active_.reset();
  tap_.close();
  if (down_ && ssh_channel_is_open(down_.get()) != 0) {
    ssh_channel_send_eof(down_.get());
    ssh_channel_close(down_.get());
  }
  if (up_ && ssh_channel_is_open(up_.get()) != 0) {
    ssh_channel_close(up_.get());
  }
}

void channel_bridge::notify(const std::string& text) {
  if (finished_ || !started_ || down_closed_ || !failure_.empty()) {
    return;
  }
  const std::string line = "bastion: " + text + "\r\n";
  // With a window too small, or during a rekey, libssh's write would read packets (and run
  // callbacks that add channels) before it returns: write only what goes out at once.
  if (ssh_channel_is_open(down_.get()) == 0 || ssh_channel_window_size(down_.get()) < line.size()) {
    return;
  }
  const int wrote =
      ssh_channel_write_stderr(down_.get(), line.data(), static_cast<uint32_t>(line.size()));
  if (wrote == static_cast<int>(line.size())) {
    tap_.request({{"request", "notice"}, {"text", text}});
  }
}

bool channel_bridge::pump() {
  if (finished_) {
    return false;
  }
  if (callback_failed_) {
    callback_failed_ = false;
    fail("the bastion failed to handle a request on this channel (see its log)");
  }
  // A failure is told once the client has asked for its shell, command or subsystem: told any
  // earlier, OpenSSH may still be waiting for that reply and drop the message.
  if (!failure_.empty() && (started_ || down_closed_ || down_eof_)) {
    return report_failure();
  }
  if (down_closed_) {
    finish();
    return true;
  }
  bool progress = false;
  if (up_state_ == up_state::opening) {
    progress = open_upstream();
  }
  // Requests wait for the recorder like data does: no command reaches the target before its
  // recording file exists, or while the recording is behind its bound.
  if ((up_state_ == up_state::replaying || (up_state_ == up_state::open && !requests_.empty())) &&
      tap_.room() > 0) {
    progress = replay_requests() || progress;
  }
  if (up_state_ == up_state::open) {
    using recorder::stream;
    progress = relay(down_.get(), up_.get(), stream::input, carry_up_, down_waiting_) || progress;
    progress = relay(up_.get(), down_.get(), stream::output, carry_down_, up_waiting_) || progress;
    progress =
        relay(up_.get(), down_.get(), stream::error, carry_down_err_, up_err_waiting_) || progress;
  }
  if (!failure_.empty()) {
    return progress;
  }
  return propagate_end() || progress;
}

}  // namespace bastion::proxy
