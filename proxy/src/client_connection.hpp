// One client's SSH connection to the bastion, on its own strand: the libssh server session driven
// non-blocking by Asio readiness, the login grace timer, and public-key authentication decided
// against the node's policy snapshot. Internal to proxy/.
#pragma once

#include <libssh/callbacks.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <bastion/common/config.hpp>
#include <bastion/common/ssh.hpp>
#include <bastion/policy/cache.hpp>
#include <bastion/policy/evaluator.hpp>
#include <bastion/policy/journal.hpp>
#include <bastion/proxy/fd_watch.hpp>
#include <bastion/proxy/upstream.hpp>

#include "connection_context.hpp"
#include "inner_session.hpp"
#include "outer_forward.hpp"
#include "preauth_guard.hpp"
#include "relay.hpp"
#include "server_endpoint.hpp"

namespace bastion::proxy {

class client_connection : public server_endpoint,
                          public std::enable_shared_from_this<client_connection> {
 public:
  // Takes `fd`, an accepted socket from `peer` ("ip:port"), and its place among unauthenticated
  // connections, which it gives back when it authenticates or ends. Construct it on a thread that
  // runs `io`: every wait and timer of the connection is registered from there.
  client_connection(boost::asio::io_context& io, int fd, std::string peer,
                    preauth_guard::ticket preauth, const connection_context& ctx);
  ~client_connection();
  client_connection(const client_connection&) = delete;
  client_connection& operator=(const client_connection&) = delete;

  void start();
  // Ends the connection with `reason` (thread-safe: runs on the connection's strand).
  void close(std::string reason);
  // Tells the client of every running session `text`, from the connection's strand.
  void notify(std::string text);
  // Decides every running session again under `snapshot`, a reload's (thread-safe): one that it
  // no longer allows ends, its client told why, with ended_reason revoked.
  void recheck(std::shared_ptr<const policy::policy_snapshot> snapshot);
  // Ends session `session_id` (a validated id) if this connection carries it, as `by` asked
  // (thread-safe).
  void kill(std::string session_id, std::string by);
  bool closed() const;

 private:
  enum class phase { key_exchange, authenticating, authenticated, closed };

  // Runs passes of the loop until nothing moves. A wake from inside a pass (a relay or an inner
  // session reporting from a callback) is not nested: it makes the running step take one more.
  void step();
  bool run_passes();
  // Why the client's SSH session closed: "client closed the connection", "client disconnected
  // (11:disconnected by user)" or "connection error: ...".
  std::string closed_reason() const;
  bool pass();
  void arm();
  void teardown(const std::string& reason);
  void on_grace_expired(const boost::system::error_code& ec);

  int decide_pubkey(const std::string& user, ssh_key key, char state) override;
  ssh_channel open_session_channel() override;
  void report_refusal(const std::string& user, const std::string& why, int attempt,
                      auth_method method) override;
  void on_authenticated(const policy::parsed_username& name);
  std::function<void()> waker();
  relay::audit_fn auditor();
  std::shared_ptr<relay> make_relay(const std::string& target);
  int on_message(ssh_message message) override;
  bool open_tunnel(ssh_message message);
  // A plain TCP forward to `service`'s host (client_forward.cpp): accepted and started, or
  // refused (returns 1, with an audit row up to the bound).
  int open_plain_forward(ssh_message message, const policy::target_info& service);
  void recheck_plain_forwards(const policy::policy_snapshot& snapshot);
  // Why this user may not open a tunnel to host:port (`target` as it resolves), or "".
  // The username form's access under `snapshot`, for `target`, registered there.
  policy::access_decision decide(const policy::policy_snapshot& snapshot) const;
  std::string tunnel_refusal(const policy::policy_snapshot& snapshot,
                             const policy::target_info* target, std::string_view host, int port,
                             const std::string& destination) const;
  bool pump_sessions();
  void arm_sessions();
  void audit(std::string kind, std::string result, std::string actor, const nlohmann::json& detail);

  boost::asio::steady_timer grace_;
  preauth_guard::ticket preauth_;
  std::string peer_;  // "ip:port", of the accepted socket: what the audit trail calls the source
  ssh_event_ptr event_;
  std::shared_ptr<const policy::policy_snapshot> snapshot_;
  phase phase_ = phase::key_exchange;
  bool stepping_ = false;
  bool woken_ = false;  // woken during a step: take another pass
  std::string user_;
  policy::key_options key_options_;  // of the key that authenticated the connection
  std::string key_fingerprint_;

  // The username form relays the outer session's channels; a -J connection has one inner
  // session per direct-tcpip channel, each with its own relay.
  policy::parsed_username name_;
  std::shared_ptr<channel_budget> channels_;
  std::shared_ptr<relay> relay_;
  std::vector<std::shared_ptr<inner_session>> inner_;
  // Plain TCP forwards to registered hosts' other ports, with what decided each.
  struct plain_forward {
    std::shared_ptr<outer_forward> forward;
    std::string target;
    std::string host;
    int port = 0;
  };
  std::vector<plain_forward> plain_forwards_;
  // -J destinations refused on this connection. After limits.max_auth_tries of them, each with
  // its log line and audit row, later refused destinations are refused at the open (no row, no
  // line), so that one connection cannot write rows without end; its live sessions and the
  // destinations it may reach go on.
  int refused_tunnels_ = 0;
  int refused_forwards_ = 0;  // the same bound for plain forwards (client_forward.cpp)
};

}  // namespace bastion::proxy
