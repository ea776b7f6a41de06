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
#include <bastion/policy/audit.hpp>
#include <bastion/policy/cache.hpp>
#include <bastion/policy/evaluator.hpp>
#include <bastion/proxy/fd_watch.hpp>
#include <bastion/proxy/upstream.hpp>

#include "channel_bridge.hpp"

namespace bastion::proxy {

// What every connection of a server shares; it outlives them all.
struct connection_context {
  const config& cfg;
  ssh_bind bind;           // never listened on; accept_fd only
  std::mutex& bind_mutex;  // ssh_bind_accept_fd loads the bind's keys lazily: not thread-safe
  policy::policy_cache& policy;
  policy::audit_log& audit;
  ssh_key upstream_key;  // the bastion-held key targets authorise
};

class client_connection : public std::enable_shared_from_this<client_connection> {
 public:
  client_connection(boost::asio::io_context& io, boost::asio::ip::tcp::socket socket,
                    const connection_context& ctx);
  ~client_connection();
  client_connection(const client_connection&) = delete;
  client_connection& operator=(const client_connection&) = delete;

  void start();
  // Ends the connection with `reason` (thread-safe: runs on the connection's strand).
  void close(std::string reason);
  bool closed() const;

 private:
  enum class phase { key_exchange, authenticating, authenticated, closed };

  void step();
  bool key_exchange_step();
  void arm();
  void teardown(const std::string& reason);
  void on_grace_expired(const boost::system::error_code& ec);

  int decide_pubkey(const char* user, ssh_key key, char state);
  void on_authenticated(const policy::parsed_username& name);
  void on_upstream(upstream_result result);
  ssh_channel open_session_channel();
  bool pump_bridges();
  void arm_upstream();
  int refuse_auth(const std::string& user, const std::string& why);
  void audit(std::string kind, std::string result, std::string actor, const nlohmann::json& detail);

  static int auth_pubkey_cb(ssh_session, const char* user, ssh_key key, char state, void* self);
  static int auth_password_cb(ssh_session, const char* user, const char* password, void* self);
  static ssh_channel channel_open_cb(ssh_session, void* self);

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  fd_watch fd_;
  boost::asio::steady_timer grace_;
  const connection_context& ctx_;
  std::string peer_;  // "ip:port", from getpeername: what the audit trail calls the source
  ssh_event_ptr event_;
  ssh_session_ptr session_;
  ssh_server_callbacks_struct callbacks_{};
  std::shared_ptr<const policy::policy_snapshot> snapshot_;
  phase phase_ = phase::key_exchange;
  bool in_event_ = false;
  int failed_auth_ = 0;
  std::string close_reason_;  // set inside libssh callbacks, acted on after them
  std::string user_;

  // The session's destination, known once the user is (username form now; the inner session of
  // -J later), and the upstream connection to it. Bridges are declared after the sessions they
  // use so that they are destroyed first.
  policy::parsed_username name_;
  policy::access_decision access_;
  std::string target_error_;  // why no session can be relayed, if so
  std::shared_ptr<upstream_dialer> dialer_;
  ssh_session_ptr upstream_;
  fd_watch up_fd_;
  std::vector<std::unique_ptr<channel_bridge>> bridges_;
};

}  // namespace bastion::proxy
