// The libssh callbacks of a channel bridge: each notes what happened (a request to queue, data
// waiting, an EOF or a close, the exit status) and returns; pump() does the work.
#include "channel_bridge.hpp"

namespace bastion::proxy {
namespace {

using policy::channel_kind;

channel_bridge* self_of(void* p) {
  return static_cast<channel_bridge*>(p);
}

}  // namespace

// The trampolines: each body runs guarded, so that nothing it throws unwinds through libssh.
int channel_bridge::on_pty(ssh_session, ssh_channel, const char* term, int cols, int rows, int, int,
                           void* self) {
  auto& b = *self_of(self);
  return guarded(b, 1, [&] {
    if (!b.access_.pty || (!policy::allows(b.access_, channel_kind::shell) &&
                           !policy::allows(b.access_, channel_kind::exec))) {
      return 1;  // no-pty (or restrict) on the key, or nothing that could use a terminal
    }
    return b.queue({request::kind::pty, term != nullptr ? term : "xterm", {}, cols, rows});
  });
}

int channel_bridge::on_shell(ssh_session, ssh_channel, void* self) {
  auto& b = *self_of(self);
  return guarded(b, 1, [&] {
    if (b.start_failed_channel()) {
      return 0;
    }
    return b.start({request::kind::shell}, policy::allows(b.access_, channel_kind::shell));
  });
}

int channel_bridge::on_exec(ssh_session, ssh_channel, const char* command, void* self) {
  auto& b = *self_of(self);
  return guarded(b, 1, [&] {
    if (b.start_failed_channel()) {
      return 0;
    }
    return b.start({request::kind::exec, command != nullptr ? command : ""},
                   policy::allows(b.access_, channel_kind::exec));
  });
}

int channel_bridge::on_subsystem(ssh_session, ssh_channel, const char* subsystem, void* self) {
  auto& b = *self_of(self);
  return guarded(b, 1, [&] {
    if (b.start_failed_channel()) {
      return 0;
    }
    const std::string name = subsystem != nullptr ? subsystem : "";
    return b.start({request::kind::subsystem, name},
                   name == "sftp" && policy::allows(b.access_, channel_kind::sftp));
  });
}

int channel_bridge::on_env(ssh_session, ssh_channel, const char* name, const char* value,
                           void* self) {
  auto& b = *self_of(self);
  return guarded(b, 1, [&] {
    const std::string n = name != nullptr ? name : "";
    if (b.access_.forced_command && n == "SSH_ORIGINAL_COMMAND") {
      return 1;  // the bastion sets it, from the command the client really asked for
    }
    return b.queue({request::kind::env, n, value != nullptr ? value : ""});
  });
}

int channel_bridge::on_window_change(ssh_session, ssh_channel, int cols, int rows, int, int,
                                     void* self) {
  auto& b = *self_of(self);
  return guarded(b, 1, [&] { return b.queue({request::kind::window_change, {}, {}, cols, rows}); });
}

void channel_bridge::on_signal(ssh_session, ssh_channel, const char* signal, void* self) {
  auto& b = *self_of(self);
  guarded(b, [&] { b.queue({request::kind::signal, signal != nullptr ? signal : ""}); });
}

void channel_bridge::on_agent_req(ssh_session, ssh_channel, void* self) {
  auto& b = *self_of(self);
  guarded(b, [&] {
    if (b.agent_asked_) {
      return;
    }
    b.agent_asked_ = true;
    const bool allowed = policy::allows(b.access_, channel_kind::agent);
    b.asks_.push_back({channel_kind::agent, allowed});
    if (allowed) {
      b.queue({request::kind::agent});
    }
  });
}

// Set only where policy allows X11 (see the constructor).
void channel_bridge::on_x11_req(ssh_session, ssh_channel, int single, const char* protocol,
                                const char* cookie, uint32_t screen, void* self) {
  auto& b = *self_of(self);
  guarded(b, [&] {
    if (b.x11_asked_ || protocol == nullptr || cookie == nullptr) {
      return;
    }
    b.x11_asked_ = true;
    b.asks_.push_back({channel_kind::x11, true});
    // Bounded by the packet; an X11 auth protocol name and cookie are tens of bytes.
    b.queue({request::kind::x11, std::string(protocol).substr(0, 64),
             std::string(cookie).substr(0, 256), static_cast<int>(screen & 0xffff),
             single != 0 ? 1 : 0});
  });
}

// Data stays in libssh's channel buffer (return 0: nothing consumed) until pump() moves it; the
// unconsumed bytes also hold the window closed, which is the backpressure. libssh calls this for
// every packet that adds data, so the flag it sets lets pump() skip the channels with nothing
// waiting: reading an empty channel costs a poll of every socket of the connection. (Nothing here
// can throw.)
int channel_bridge::on_data(ssh_session, ssh_channel channel, void*, uint32_t, int is_stderr,
                            void* self) {
  auto* b = self_of(self);
  if (channel == b->down_.get()) {
    b->down_waiting_ = true;
  } else if (is_stderr != 0) {
    b->up_err_waiting_ = true;
  } else {
    b->up_waiting_ = true;
  }
  return 0;
}

void channel_bridge::on_down_eof(ssh_session, ssh_channel, void* self) {
  auto& b = *self_of(self);
  guarded(b, [&] {
    if (!b.down_eof_) {
      b.tap_.eof(recorder::stream::input);
    }
    b.down_eof_ = true;
  });
}

void channel_bridge::on_down_close(ssh_session, ssh_channel, void* self) {
  self_of(self)->down_closed_ = true;
}

void channel_bridge::on_up_eof(ssh_session, ssh_channel, void* self) {
  auto& b = *self_of(self);
  guarded(b, [&] {
    if (!b.up_eof_) {
      b.tap_.eof(recorder::stream::output);
    }
    b.up_eof_ = true;
  });
}

void channel_bridge::on_up_close(ssh_session, ssh_channel, void* self) {
  self_of(self)->up_closed_ = true;
}

void channel_bridge::on_exit_status(ssh_session, ssh_channel, int status, void* self) {
  auto& b = *self_of(self);
  guarded(b, [&] {
    b.exit_status_ = status;
    b.tap_.exit_status(status);
  });
}

void channel_bridge::on_exit_signal(ssh_session, ssh_channel, const char* signal, int, const char*,
                                    const char*, void* self) {
  auto& b = *self_of(self);
  guarded(b, [&] {
    // The target's string, passed to the client: signal names are short ("TERM", "KILL").
    b.exit_signal_ = std::string(signal != nullptr ? signal : "KILL").substr(0, 32);
    b.tap_.exit_signal(*b.exit_signal_);
  });
}

}  // namespace bastion::proxy
