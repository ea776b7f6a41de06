// The user's forwarded agent, lent to libssh for one upstream authentication (a grant's
// upstream_auth agent): an auth-agent@openssh.com channel that the bastion opens toward the
// client, and a socket pair whose far end libssh uses as its agent socket (ssh_set_agent_socket).
// The near end is pumped on the connection's strand like a -J tunnel, while libssh's agent calls,
// which block, run on the upstream dialer's pool. Every signature request that passes is reported
// with its key's fingerprint once the agent has answered it. Internal to proxy/.
#pragma once

#include <libssh/callbacks.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <bastion/common/ssh.hpp>
#include <bastion/proxy/fd_watch.hpp>

#include "tunnel.hpp"

namespace bastion::proxy {

class agent_link {
 public:
  // (fingerprint, "ok" | "denied" | "unanswered")
  using sign_report = std::function<void(const std::string& fingerprint, const char* result)>;

  // Opens the channel on `client_session`; fails (failure()) if the socket pair cannot be made.
  template <class Executor>
  agent_link(const Executor& ex, ssh_session client_session, sign_report on_sign)
      : watch_(ex), on_sign_(std::move(on_sign)) {
    open(client_session);
  }
  ~agent_link();
  agent_link(const agent_link&) = delete;
  agent_link& operator=(const agent_link&) = delete;

  // The descriptor for libssh, once the channel is open; -1 before, and after it was taken
  // (libssh closes it with the upstream session).
  int take_library_end();
  bool pump();
  void arm(const std::function<void()>& on_ready);
  // Closes the near end: libssh's agent calls on the far end fail at once.
  void close();
  // The link is no longer needed: closed now, or, while the channel's open is unanswered, once
  // it is answered (libssh frees an unopened channel at once, and the answer would then name an
  // unknown channel). Then done().
  void release();
  bool done() const { return released_ && !opening_; }
  const std::string& failure() const { return failure_; }

 private:
  void open(ssh_session client_session);
  void observe(bool to_library, const char* data, std::size_t n);
  void on_request(std::string_view frame);
  void on_reply(std::string_view frame);

  fd_watch watch_;
  sign_report on_sign_;
  ssh_channel channel_ = nullptr;  // until open: then the tunnel owns it
  int near_ = -1;                  // until open: then the tunnel owns it
  int far_ = -1;
  bool opening_ = false;
  bool released_ = false;
  std::unique_ptr<tunnel> tunnel_;
  // Agent protocol frames (uint32 length, then the body) seen each way, bounded.
  std::string requests_;
  std::string replies_;
  // One entry per request awaiting its reply: the key's fingerprint for a sign request, else "".
  std::deque<std::string> awaiting_;
  std::string failure_;
};

}  // namespace bastion::proxy
