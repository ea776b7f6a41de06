// bastiond's process-level wiring: threads, listeners, connections, signals.
#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>
#include <bastion/policy/sessions.hpp>
#include <bastion/proxy/server.hpp>
#include <bastion/proxy/ssh_server.hpp>

#include "accept_refusal.hpp"
#include "client_connection.hpp"
#include "preauth_guard.hpp"
#include "proxy_metrics.hpp"

namespace bastion::proxy {

namespace asio = boost::asio;

namespace {

// While this many rows wait for PostgreSQL, search documents are dropped: the index is derived
// data, and the backlog that holds admissions back (limits.journal_backlog) and the memory it takes
// are for the audit trail and the session rows. A document is up to about 100 KiB.
constexpr std::size_t search_backlog = 256;

// The search index's documents go through the journal: in order after their session's row, and
// kept on disk while PostgreSQL is away.
void index_search_text(policy::journal& journal, prometheus::Counter& dropped,
                       const recorder::session_id& id,
                       std::vector<recorder::search_document> docs) {
  if (journal.backlog() >= search_backlog) {
    dropped.Increment(static_cast<double>(docs.size()));
    return;
  }
  for (auto& d : docs) {
    journal.record(policy::search_text{recorder::to_string(id), d.seq,
                                       d.kind == recorder::text_kind::input ? "input" : "output",
                                       std::move(d.text), recorder::format_marks(d.marks)});
  }
}

unsigned io_threads() {
  return std::max(1U, std::thread::hardware_concurrency());
}

// Recordings are private: a directory that is missing is created for the bastion's user only.
void prepare_recording_dir(const config& cfg) {
  const auto& dir = cfg.recording.dir;
  std::error_code ec;
  if (std::filesystem::create_directories(dir, ec) && !ec) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  if (ec || ::access(dir.c_str(), W_OK | X_OK) != 0) {
    const std::string why = ec ? ec.message() : std::generic_category().message(errno);
    throw std::runtime_error("recording.dir " + dir.string() + ": " + why +
                             "; make it writable for the user bastiond runs as, or change "
                             "`recording: { dir: ... }` in " +
                             cfg.source.string());
  }
}

// The peer as a block of all its bits, from its bytes: the text of a link-local IPv6 address
// carries a scope ("fe80::1%eth0") that no address parser reads.
net_block source_address(const asio::ip::address& a) {
  net_block out;
  if (a.is_v6() && !a.to_v6().is_v4_mapped()) {
    const auto bytes = a.to_v6().to_bytes();
    std::copy(bytes.begin(), bytes.end(), out.bytes.begin());
    out.v6 = true;
    out.bits = 128;
    return out;
  }
  const auto v4 = a.is_v6() ? asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()) : a.to_v4();
  const auto bytes = v4.to_bytes();
  std::copy(bytes.begin(), bytes.end(), out.bytes.begin());
  out.bits = 32;
  return out;
}

}  // namespace

server::server(const config& cfg)
    : cfg_(cfg),
      io_(1),
      signals_(io_, SIGINT, SIGTERM),
      hangup_(io_, SIGHUP),
      drain_timer_(io_),
      drain_poll_(io_),
      trim_timer_(io_) {
  proxy_metrics::get();  // every series is scraped from the start, at zero
  load_keys();
  policy_ = std::make_unique<policy::policy_cache>(cfg_.database, cfg_.node_name);
  if (cfg_.recording.enabled) {
    prepare_recording_dir(cfg_);
  } else {
    spdlog::warn("recording.enabled is false: sessions are neither recorded nor listed");
  }
  guard_ = preauth_guard::make(cfg_.limits);
  refusals_ = std::make_unique<accept_refusals>();
  journal_ =
      std::make_unique<policy::journal>(cfg_.database, cfg_.node_name, cfg_.journal_spool,
                                        static_cast<std::size_t>(cfg_.limits.journal_backlog));
  recorder_ = std::make_unique<recorder::recording_service>(recording_options());
  for (unsigned i = 0; i < io_threads(); ++i) {
    workers_.push_back(std::make_unique<asio::io_context>(1));
    // An io_context makes its reactor (an epoll descriptor, an eventfd and a timerfd) at its
    // first timer or socket. Made now, at startup: made at the first connection, in a flood that
    // has taken every descriptor, it would throw (EMFILE) on an io thread and end the process.
    const asio::steady_timer make_reactor(*workers_.back());
  }
  context_ = std::make_unique<connection_context>(
      connection_context{cfg_, bind_.get(), inner_bind_.get(), bind_mutex_, *policy_, *journal_,
                         *recorder_, upstream_key_.get(), blocking_pool_});
  for (const auto& where : cfg_.listen) {
    try {
      listeners_.push_back(std::make_shared<listener>(
          io_, where, [this](asio::ip::tcp::socket s, const asio::ip::tcp::endpoint& from) {
            on_connection(std::move(s), from);
          }));
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("cannot listen on " + where.to_string() + ": " + e.code().message() +
                               "; free the port or change `listen:` in " + cfg_.source.string());
    }
  }
}

// The cache's thread calls into the connection list: it stops before anything here goes.
server::~server() {
  policy_->subscribe({});
}

void server::watch_policy() {
  policy_->subscribe({
      .reloaded =
          [this](const std::shared_ptr<const policy::policy_snapshot>& snapshot) {
            for (const auto& c : live_connections()) {
              c->recheck(snapshot);
            }
          },
      .control = [this](const std::string& payload) { on_control(payload); },
  });
}

// `{"op": "kill", "session": ID, "by": NAME}` from `bastionctl kill`, to every node: the one
// that holds the session ends it. Anything else is logged (escaped) and dropped.
void server::on_control(const std::string& payload) {
  const auto doc = nlohmann::json::parse(payload, nullptr, false);
  const auto text = [&](const char* key) {
    const auto it = doc.is_object() ? doc.find(key) : doc.end();
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string id = text("session");
  if (text("op") != "kill" || !policy::is_session_id(id)) {
    spdlog::warn("bastion_control: ignored a notification that is not a kill of a session id: {}",
                 log_value(payload));
    return;
  }
  const std::string by = escape(text("by"), 64);
  spdlog::debug("bastion_control: kill of session {} asked by {}", id, log_value(by));
  for (const auto& c : live_connections()) {
    c->kill(id, by);
  }
}

recorder::recorder_options server::recording_options() {
  recorder::recorder_options o{
      .dir = cfg_.recording.dir,
      .failure_mode = cfg_.recording.failure_mode,
      .max_unpersisted_bytes = static_cast<std::size_t>(cfg_.recording.max_unpersisted_kib) * 1024};
  if (cfg_.recording.search) {
    o.search_limits.output_bytes = static_cast<std::size_t>(cfg_.recording.search_max_mib) << 20;
    auto& dropped = metrics::counter_family("bastion_search_documents_dropped_total",
                                            "Search index documents dropped because PostgreSQL "
                                            "was behind")
                        .Add({});
    o.on_search = [&journal = *journal_, &dropped](const recorder::session_id& id,
                                                   std::vector<recorder::search_document> docs) {
      index_search_text(journal, dropped, id, std::move(docs));
    };
  }
  return o;
}

void server::load_keys() {
  auto bind = make_server_bind(cfg_.host_keys);
  if (!bind) {
    throw std::runtime_error(bind.error().text);
  }
  bind_ = std::move(*bind);
  auto inner_bind = make_server_bind({cfg_.inner_host_key});
  if (!inner_bind) {
    throw std::runtime_error("inner_host_key: " + inner_bind.error().text);
  }
  inner_bind_ = std::move(*inner_bind);
  auto upstream_key = load_private_key(cfg_.upstream_key);
  if (!upstream_key) {
    throw std::runtime_error("upstream_key: " + upstream_key.error().text);
  }
  upstream_key_ = std::move(*upstream_key);
}

// The connection is built on its worker's thread, which then registers all its waits and timers
// itself; only the accepted descriptor and the peer's address cross threads.
void server::on_connection(asio::ip::tcp::socket socket, const asio::ip::tcp::endpoint& from) {
  std::string peer = endpoint{from.address().to_string(), from.port()}.to_string();
  if (!journal_->accepting_connections()) {
    return refuse_while_journal_behind(std::move(socket), peer);
  }
  if (refuse_if_policy_stale(socket, peer)) {
    return;
  }
  auto admission = guard_->admit(source_address(from.address()));
  if (admission.verdict != preauth_verdict::admit) {
    return refusals_->refuse(std::move(socket), peer, admission, cfg_.limits);
  }
  boost::system::error_code ec;
  const int fd = socket.release(ec);
  if (ec) {
    spdlog::warn("src={} dropped: {}", peer, ec.message());
    return;
  }
  auto& worker = *workers_[next_worker_++ % workers_.size()];  // only the main thread accepts
  asio::post(worker, [this, &worker, fd, peer = std::move(peer),
                      pass = std::move(admission.pass)]() mutable {
    auto connection = std::make_shared<client_connection>(worker, fd, std::move(peer),
                                                          std::move(pass), *context_);
    {
      const std::lock_guard lock(connections_mutex_);
      connections_.remove_if([](const auto& weak) { return weak.expired(); });
      connections_.push_back(connection);
      connections_peak_ = std::max(connections_peak_, connections_.size());
    }
    connection->start();
  });
}

// A connection that cannot be audited is not served: its rows would have to wait behind a
// backlog that the database is not taking, or be dropped.
void server::refuse_while_journal_behind(asio::ip::tcp::socket socket, const std::string& peer) {
  refusals_->refuse(
      std::move(socket),
      "the bastion's audit trail is behind (its database is slow or away); try again shortly");
  ++refused_behind_journal_;
  const auto& m = proxy_metrics::get();
  m.connections_refused.Increment();
  m.preauth_journal_behind.Increment();
  // Every source shares one line every 10 s: the cause is the database, not the client.
  if (refusals_->log_now("journal_behind", net_block{})) {
    spdlog::error(
        "src={} refused: the journal holds {} rows (limits.journal_backlog {}) that PostgreSQL has "
        "not taken; {} connection(s) refused so far",
        peer, journal_->backlog(), cfg_.limits.journal_backlog, refused_behind_journal_);
  }
}

// Past policy.max_staleness without the database, the snapshot may hold keys and grants that an
// admin has since revoked: new logins wait for the database rather than trust it further.
bool server::refuse_if_policy_stale(asio::ip::tcp::socket& socket, const std::string& peer) {
  const auto limit = cfg_.policy_max_staleness;
  const auto stale = std::chrono::duration_cast<duration>(policy_->stale_for());
  if (limit <= duration::zero() || stale <= limit) {
    return false;
  }
  refusals_->refuse(std::move(socket),
                    "the bastion cannot reach its policy database, so it cannot check logins; "
                    "try again later");
  ++refused_stale_policy_;
  const auto& m = proxy_metrics::get();
  m.connections_refused.Increment();
  m.preauth_policy_stale.Increment();
  if (refusals_->log_now("policy_stale", net_block{})) {
    spdlog::error(
        "src={} refused: the policy was last confirmed by PostgreSQL {} ago (policy.max_staleness "
        "{}); check the database; {} connection(s) refused so far",
        peer, format_duration(stale), format_duration(limit), refused_stale_policy_);
  }
  return true;
}

std::vector<std::shared_ptr<client_connection>> server::live_connections() {
  std::vector<std::shared_ptr<client_connection>> out;
  const std::lock_guard lock(connections_mutex_);
  for (const auto& weak : connections_) {
    if (auto c = weak.lock()) {
      out.push_back(std::move(c));
    }
  }
  return out;
}

void server::on_signal(int signo) {
  spdlog::info("received {}; no longer accepting, draining for at most {}",
               signo == SIGTERM ? "SIGTERM" : "SIGINT", format_duration(cfg_.limits.drain_timeout));
  for (auto& l : listeners_) {
    l->stop();
  }
  draining_ = true;
  hangup_.cancel();  // nothing more to reload, and it must not keep the main context running
  trim_timer_.cancel();
  const std::string notice = "the bastion is shutting down; this session ends within " +
                             format_duration(cfg_.limits.drain_timeout);
  for (const auto& c : live_connections()) {
    c->notify(notice);
  }
  // Live connections keep io_.run() going until they end; the timer bounds the wait, and is
  // cancelled as soon as the last one is gone so it does not hold the process either.
  drain_timer_.expires_after(cfg_.limits.drain_timeout);
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) {
      return;
    }
    const auto left = live_connections();
    spdlog::warn("drain timeout reached; closing {} connection(s)", left.size());
    for (const auto& c : left) {
      c->close("the bastion is shutting down");
    }
  });
  check_drained();
}

void server::check_drained() {
  if (live_connections().empty()) {
    drain_timer_.cancel();
    return;
  }
  drain_poll_.expires_after(std::chrono::milliseconds(100));
  drain_poll_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      check_drained();
    }
  });
}

// glibc keeps the memory that connections freed in its arenas (one per io thread), where it
// fragments and is not given back to the system by itself: after a flood of connections RSS
// stayed 50% above its level before it. Once the connections have fallen to under half of their
// peak since the last trim, the free pages go back (malloc_trim walks the arenas: a few ms).
void server::arm_trim() {
  trim_timer_.expires_after(std::chrono::seconds(5));
  trim_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) {
      return;
    }
    bool trim = false;
    {
      const std::lock_guard lock(connections_mutex_);
      connections_.remove_if([](const auto& weak) { return weak.expired(); });
      const std::size_t live = connections_.size();
      trim = connections_peak_ >= 32 && live < connections_peak_ / 2;
      connections_peak_ = trim ? live : connections_peak_;
    }
    if (trim) {  // not under the lock: workers take it to register new connections
      malloc_trim(0);
    }
    arm_trim();
  });
}

void server::arm_hangup() {
  hangup_.async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec && !draining_) {
      reload();
      arm_hangup();
    }
  });
}

void server::reload() {
  const std::string file = cfg_.source.string();
  config fresh;
  try {
    fresh = load_config(cfg_.source);
    check_key_files(fresh);
  } catch (const std::exception& e) {  // config_error names the key; anything else is kept too
    spdlog::error("SIGHUP: {}; keeping the running config", log_value(e.what()));
    return;
  }
  spdlog::set_level(spdlog::level::from_str(fresh.log_level));
  for (const auto& key : changed_until_restart(cfg_, fresh)) {
    spdlog::warn("SIGHUP: {} changed in {}; it takes effect at the next start", key, file);
  }
  policy_->reload_soon();
  spdlog::info("SIGHUP: reloaded {} (log_level {}); the policy reloads next", file,
               fresh.log_level);
}

int server::run() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (!ec) {
      on_signal(signo);
    }
  });
  arm_hangup();
  arm_trim();
  watch_policy();
  for (auto& l : listeners_) {
    l->start();
    spdlog::info("listening on {}", l->where().to_string());
  }
  // A handler that throws leaves its connection in an unknown state: name the error, then stop
  // the process (the crash recovery at the next start finalises the recordings).
  const auto run_io = [](asio::io_context& io) {
    try {
      io.run();
    } catch (const std::exception& e) {
      // The first thread that fails reports and aborts; another one waits here for the abort,
      // rather than log through a logger that is being shut down.
      static std::mutex failing;
      const std::lock_guard first(failing);
      spdlog::critical("internal error on an io thread: {}", log_value(e.what()));
      spdlog::shutdown();
      std::abort();
    }
  };
  // The workers run until the main context is done (drained), then finish what is left.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::jthread> threads;
  for (const auto& worker : workers_) {
    guards.push_back(asio::make_work_guard(*worker));
    threads.emplace_back([&run_io, &worker] { run_io(*worker); });
  }
  run_io(io_);
  guards.clear();
  threads.clear();
  spdlog::info("stopped");
  return 0;
}

}  // namespace bastion::proxy
