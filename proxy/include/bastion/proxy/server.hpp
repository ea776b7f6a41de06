// The bastiond process: io threads, listeners, client connections, the SIGTERM drain and the
// SIGHUP reload.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

#include <bastion/common/config.hpp>
#include <bastion/common/ssh.hpp>
#include <bastion/policy/cache.hpp>
#include <bastion/policy/journal.hpp>
#include <bastion/proxy/listener.hpp>
#include <bastion/recorder/service.hpp>

namespace bastion::proxy {

class accept_refusals;
class client_connection;
struct connection_context;
class preauth_guard;

class server {
 public:
  // Loads the host keys and the policy, and binds every listener. Throws std::runtime_error (or
  // policy::store_error) naming what failed.
  explicit server(const config& cfg);
  ~server();

  // Serves until SIGTERM or SIGINT, then stops accepting, lets connections finish for at most
  // limits.drain_timeout, closes the rest and returns 0.
  int run();

  // The audit and session rows' writer, for the other services of the process (the admin API).
  policy::journal& journal() { return *journal_; }
  // The recorder, whose recordings the admin API's live watches attach to.
  recorder::recording_service& recorder() { return *recorder_; }

 private:
  // The outer and inner host keys (into their binds) and the upstream key.
  void load_keys();
  void on_signal(int signo);
  void arm_hangup();
  // Every 5 s: gives freed memory back to the system once connections have fallen well below
  // their peak.
  void arm_trim();
  // SIGHUP: reads the config file again and applies log_level, names the keys that take effect
  // only at the next start, and reloads the policy. A config that does not load changes nothing.
  void reload();
  // Every policy reload decides live sessions again; `bastion_control` kills reach them.
  void watch_policy();
  void on_control(const std::string& payload);
  void on_connection(boost::asio::ip::tcp::socket socket,
                     const boost::asio::ip::tcp::endpoint& from);
  void check_drained();
  // While the journal is at limits.journal_backlog, a new connection is told why and closed
  // before its key exchange; counted, and logged at most every 10 s.
  // The recorder's options from the config; its search documents go to the journal.
  recorder::recorder_options recording_options();
  void refuse_while_journal_behind(boost::asio::ip::tcp::socket socket, const std::string& peer);
  // True (and the connection refused) when the policy is older than policy.max_staleness.
  bool refuse_if_policy_stale(boost::asio::ip::tcp::socket& socket, const std::string& peer);
  std::vector<std::shared_ptr<client_connection>> live_connections();

  const config& cfg_;
  // Listeners, signals and the drain timers. Connections live on the workers: one io_context per
  // io thread, so that every wake-up of a connection runs on the thread that ran the last one
  // (no cross-thread hand-offs on the relay path).
  boost::asio::io_context io_;
  std::vector<std::unique_ptr<boost::asio::io_context>> workers_;
  std::size_t next_worker_ = 0;
  boost::asio::signal_set signals_;
  boost::asio::signal_set hangup_;
  boost::asio::steady_timer drain_timer_;
  boost::asio::steady_timer drain_poll_;
  boost::asio::steady_timer trim_timer_;
  std::size_t connections_peak_ = 0;  // since the last malloc_trim; under connections_mutex_
  ssh_bind_ptr bind_;
  ssh_bind_ptr inner_bind_;
  ssh_key_ptr upstream_key_;
  std::mutex bind_mutex_;
  std::unique_ptr<policy::policy_cache> policy_;
  // The recorder hands finished recordings to the journal: it goes first.
  std::unique_ptr<policy::journal> journal_;
  std::unique_ptr<recorder::recording_service> recorder_;
  // libssh's agent authentication blocks: it runs here, never on an io thread. Destroyed (joined)
  // before the workers, whose strands its jobs post to.
  boost::asio::thread_pool blocking_pool_{2};
  std::unique_ptr<connection_context> context_;
  std::mutex connections_mutex_;
  std::list<std::weak_ptr<client_connection>> connections_;
  std::vector<std::shared_ptr<listener>> listeners_;
  // The pre-authentication limits (tickets of live connections share it), and the refusals at
  // accept that they and the journal make.
  std::shared_ptr<preauth_guard> guard_;
  std::unique_ptr<accept_refusals> refusals_;
  // Connections refused while the journal was behind (the main thread's: only it accepts).
  std::uint64_t refused_behind_journal_ = 0;
  std::uint64_t refused_stale_policy_ = 0;
  bool draining_ = false;  // SIGTERM came: a SIGHUP already queued neither reloads nor re-arms
};

}  // namespace bastion::proxy
