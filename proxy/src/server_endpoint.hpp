// The server half of an SSH session that the bastion ends: the client's connection (outer) or the
// session that a `-J` hop tunnels through it (inner). Both accept a socket with a bind's host key,
// install their callbacks before the key exchange, run that exchange non-blocking, and take public
// keys only, refusing with one reply and ending after max_auth_tries, as sshd does. They differ in
// what a key may do (decide_pubkey), where session channels go, and how a refusal is audited.
// Internal to proxy/.
#pragma once

#include <libssh/callbacks.h>

#include <string>

#include <bastion/common/ssh.hpp>
#include <bastion/policy/evaluator.hpp>
#include <bastion/proxy/fd_watch.hpp>
#include <bastion/proxy/upstream.hpp>

#include "callback_guard.hpp"
#include "connection_context.hpp"

namespace bastion::proxy {

// How much of a user name that a client sent is kept in audit rows and logs.
inline constexpr std::size_t max_client_name = 100;

// How a client tried to authenticate. Only public keys are ever accepted; a password attempt is
// refused like a wrong key, and counted and audited as what it was.
enum class auth_method { publickey, password };

inline const char* to_string(auth_method m) {
  return m == auth_method::password ? "password" : "publickey";
}

class server_endpoint : public callback_owner {
 public:
  server_endpoint(const server_endpoint&) = delete;
  server_endpoint& operator=(const server_endpoint&) = delete;

  void on_callback_failure() noexcept final { callback_failed_ = true; }

 protected:
  server_endpoint(const strand_type& strand, const connection_context& ctx);
  ~server_endpoint() override;

  // Hands `fd` to a new server session with `bind`'s keys. False, with close_reason_ set, if
  // libssh refuses it; the fd is closed exactly once either way.
  bool accept(ssh_bind bind, int fd);
  // Callbacks, public key only, non-blocking. Before the key exchange: a service request that
  // arrives in the same read as NEWKEYS would otherwise go unanswered (about 1 connection in 5).
  // A non-empty `banner` goes to the client with its first authentication request, as sshd's
  // Banner does.
  void install_callbacks(std::string banner = {});
  // One pass of the key exchange; once it is done the session joins `event`. True if something
  // moved (call again now).
  bool key_exchange_step(ssh_event event);
  bool key_exchanged() const { return in_event_; }
  // Counts a refused attempt and reports it; at max_auth_tries the session must end.
  int refuse_auth(const std::string& user, const std::string& why,
                  auth_method method = auth_method::publickey);
  int failed_auth() const { return failed_auth_; }
  // Why the session must end now, or "" while it may go on: a reason a callback noted, a
  // callback that failed, or a closed socket.
  std::string end_reason() const;
  // The reason for a session not authenticated within limits.login_grace_time.
  std::string grace_expired() const;
  // Leaves `event`, sends DISCONNECT (with `message`, which the client prints, if any) and frees
  // the session.
  void end_session(ssh_event event, const std::string& message = {});

  // Where and when a key is offered, for its from= and expiry-time= options: `peer` is the
  // client's "ip:port" (or "[ip6]:port"), which must outlive the result.
  static policy::key_context key_context_of(std::string_view peer);

  // The public key `key` offered for `user`; for SSH_PUBLICKEY_STATE_VALID libssh has checked the
  // signature. Returns SSH_AUTH_SUCCESS or a refusal (through refuse_auth).
  virtual int decide_pubkey(const std::string& user, ssh_key key, char state) = 0;
  // A session channel the client asks for, or null to refuse it.
  virtual ssh_channel open_session_channel() = 0;
  // Audits and logs one refused attempt. `user` is the client's text as it sent it: the audit row
  // takes it escaped and cut at max_client_name, the log through log_value (escaped once).
  virtual void report_refusal(const std::string& user, const std::string& why, int attempt,
                              auth_method method) = 0;
  // A message that no server callback took: a channel open other than a session's, a global
  // request. Returns 0 once replied to, or 1 for libssh's default reply (a refusal).
  virtual int on_message(ssh_message /*message*/) { return 1; }

  strand_type strand_;
  const connection_context& ctx_;
  fd_watch fd_;  // the session's socket; libssh owns it, fd_ only waits on it
  ssh_session_ptr session_;
  std::string close_reason_;  // set inside libssh callbacks, acted on after them

 private:
  void send_banner();
  static int auth_none_cb(ssh_session, const char* user, void* self);
  static int auth_pubkey_cb(ssh_session, const char* user, ssh_key key, char state, void* self);
  static int auth_password_cb(ssh_session, const char* user, const char* password, void* self);
  static ssh_channel channel_open_cb(ssh_session, void* self);
  static int message_cb(ssh_session, ssh_message message, void* self);

  ssh_server_callbacks_struct callbacks_{};
  std::string banner_;  // sent once, then cleared
  bool in_event_ = false;
  bool callback_failed_ = false;
  int failed_auth_ = 0;
};

}  // namespace bastion::proxy
