// The inner SSH session of one `ssh -J` hop: the bastion ends the handshake that the client
// tunnels through its direct-tcpip channel (presenting the inner host key, which clients trust
// under the target names), authenticates the client's key again, takes the login from the inner
// user name, and relays the session channels to the target. Runs on the connection's strand and
// in its ssh_event. Internal to proxy/.
#pragma once

#include <libssh/callbacks.h>

#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>

#include <bastion/policy/evaluator.hpp>
#include <bastion/proxy/fd_watch.hpp>

#include "relay.hpp"
#include "server_endpoint.hpp"
#include "tunnel.hpp"

namespace bastion::proxy {

// What an inner session needs from the connection that carries it.
struct inner_scope {
  strand_type strand;
  const connection_context& ctx;
  ssh_event event;
  std::shared_ptr<channel_budget> channels;  // the connection's, over all its sessions
  std::shared_ptr<const policy::policy_snapshot> snapshot;
  std::string user;           // the bastion user of the outer connection
  policy::key_use outer_key;  // the key that authenticated it
  std::string source;         // the client's address, "ip:port"
  std::string log_prefix;     // "src=... user=..."
  std::function<void()> wake;
  relay::audit_fn audit;
};

class inner_session : public server_endpoint, public std::enable_shared_from_this<inner_session> {
 public:
  // Takes `channel`, the accepted direct-tcpip channel toward `target`; with a `refusal`, the
  // session only tells the client that reason and ends.
  inner_session(inner_scope scope, ssh_channel channel, const policy::target_info* target,
                std::string refusal = {});
  // Starts the inner server session and dials the target at once, in parallel with the inner
  // handshake.
  void start();
  ~inner_session();
  inner_session(const inner_session&) = delete;
  inner_session& operator=(const inner_session&) = delete;

  bool pump();
  void arm(const std::function<void()>& on_ready);
  bool finished() const { return finished_; }
  // Ends the session, telling the client `reason` in the disconnect message; the tunnel stays
  // until the client has read it and closed the channel, for at most a short linger.
  void end(const std::string& reason);
  // Ends the session and the tunnel at once.
  void close(const std::string& reason);
  void notify(const std::string& text) {
    if (relay_) {
      relay_->notify(text);
    }
  }
  // Decides the session again under `snapshot` (relay::recheck).
  void recheck(const policy::policy_snapshot& snapshot);
  // relay::kill.
  bool kill(std::string_view session_id, const std::string& by) {
    return relay_ && relay_->kill(session_id, by);
  }

 private:
  enum class phase { key_exchange, authenticating, authenticated };

  int decide_pubkey(const std::string& login, ssh_key key, char state) override;
  ssh_channel open_session_channel() override;
  // -L, -D and -R on this hop's session (relay::on_client_message).
  int on_message(ssh_message message) override;
  void report_refusal(const std::string& login, const std::string& why, int attempt,
                      auth_method method) override;
  // The bastion user as the plain form names it: every key of a hop must be that user's.
  policy::parsed_username owner() const;
  // This hop's access under `snapshot`, from both its keys (policy::decide_live).
  policy::access_decision decide(const policy::policy_snapshot& snapshot) const;

  inner_scope scope_;
  std::unique_ptr<tunnel> tunnel_;
  fd_watch tunnel_fd_;
  boost::asio::steady_timer grace_;
  std::shared_ptr<relay> relay_;
  ssh_channel pending_channel_;        // until start()
  const policy::target_info* target_;  // in scope_.snapshot
  std::string login_;                  // once authenticated
  std::string fingerprint_;            // of the key that authenticated this hop
  std::string refusal_;
  std::string prefix_;  // for log lines: the scope's prefix and the target
  phase phase_ = phase::key_exchange;
  bool ending_ = false;  // the session is over; the tunnel delivers its last bytes
  bool linger_over_ = false;
  bool finished_ = false;
};

}  // namespace bastion::proxy
