// LISTEN/NOTIFY-driven policy reloads.
#include <random>

#include <bastion/common/log.hpp>
#include <bastion/policy/cache.hpp>

#include "policy_metrics.hpp"
#include "store_impl.hpp"

namespace bastion::policy {
namespace {

constexpr const char* policy_channel = "bastion_policy";
constexpr const char* control_channel = "bastion_control";
// How often an idle cache asks the database for the policy version, which confirms the snapshot
// (policy.max_staleness counts from the last confirmation).
constexpr auto probe_every = std::chrono::seconds(1);

// Notes that a notification arrived; the thread reloads once per wake-up however many came.
class policy_listener final : public pqxx::notification_receiver {
 public:
  policy_listener(pqxx::connection_base& conn, bool& flag)
      : pqxx::notification_receiver(conn, policy_channel), flag_(flag) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override { flag_ = true; }

 private:
  bool& flag_;
};

// Keeps each control payload for the thread to hand on after the wait (never from inside
// libpqxx's notification dispatch). Bounded: payloads past the bound in one wake-up are dropped
// with a count.
class control_listener final : public pqxx::notification_receiver {
 public:
  static constexpr std::size_t max_pending = 256;

  explicit control_listener(pqxx::connection_base& conn)
      : pqxx::notification_receiver(conn, control_channel) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    if (pending_.size() < max_pending) {
      pending_.push_back(payload);
    } else {
      ++dropped_;
    }
  }
  std::vector<std::string> take() { return std::exchange(pending_, {}); }
  std::size_t take_dropped() { return std::exchange(dropped_, 0); }

 private:
  std::vector<std::string> pending_;
  std::size_t dropped_ = 0;
};

}  // namespace

policy_cache::policy_cache(std::string conninfo, std::string node, std::chrono::milliseconds resync)
    : conninfo_(std::move(conninfo)), node_(std::move(node)), resync_(resync) {
  store db(conninfo_, "bastiond", node_);
  reload(db);
  thread_ = std::thread([this] { run(); });
}

policy_cache::~policy_cache() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

std::shared_ptr<const policy_snapshot> policy_cache::current() const {
  const std::lock_guard lock(mutex_);
  return current_;
}

void policy_cache::confirmed() {
  confirmed_at_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                      std::memory_order_relaxed);
}

std::chrono::steady_clock::duration policy_cache::stale_for() const {
  const std::chrono::steady_clock::time_point at(
      std::chrono::steady_clock::duration(confirmed_at_.load(std::memory_order_relaxed)));
  return std::chrono::steady_clock::now() - at;
}

void policy_cache::reload(store& db) {
  auto next = std::make_shared<const policy_snapshot>(db.load_snapshot_rows());
  {
    const std::lock_guard lock(mutex_);
    current_ = std::move(next);
  }
  confirmed();
  const auto n = reloads_.fetch_add(1, std::memory_order_relaxed) + 1;
  policy_metrics::get().reloads_ok.Increment();
  const auto now = current();
  spdlog::info("policy reloaded (#{}, version {}, {} users)", n, now->version(), now->user_count());
  const std::lock_guard lock(events_mutex_);
  if (events_.reloaded) {
    events_.reloaded(now);
  }
}

void policy_cache::control(const std::string& payload) {
  const std::lock_guard lock(events_mutex_);
  if (events_.control) {
    events_.control(payload);
  }
}

void policy_cache::subscribe(policy_events events) {
  const std::lock_guard lock(events_mutex_);
  events_ = std::move(events);
}

bool policy_cache::wait_or_stop(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return stop_cv_.wait_for(lock, d, [this] { return stopping_; });
}

void policy_cache::run() {
  std::mt19937 rng(std::random_device{}());
  std::chrono::milliseconds backoff(250);
  while (!wait_or_stop(std::chrono::milliseconds(0))) {
    try {
      // One connection listens; the snapshot is read on it too, between waits.
      store db(conninfo_, "bastiond", node_);
      pqxx::connection listen_conn(conninfo_);
      bool notified = false;
      policy_listener listener(listen_conn, notified);
      control_listener controls(listen_conn);
      reload(db);  // changes made while we were away
      backoff = std::chrono::milliseconds(250);
      auto last = std::chrono::steady_clock::now();
      auto probed = last;
      while (!wait_or_stop(std::chrono::milliseconds(0))) {
        listen_conn.await_notification(0, 200000);  // 200 ms, so a stop is seen promptly
        for (const auto& payload : controls.take()) {
          control(payload);
        }
        if (const auto dropped = controls.take_dropped(); dropped > 0) {
          spdlog::warn("{} bastion_control notification(s) dropped: more than {} in one wake-up",
                       dropped, control_listener::max_pending);
        }
        const bool asked = reload_requested_.exchange(false, std::memory_order_relaxed);
        const auto now = std::chrono::steady_clock::now();
        if (notified || asked || now - last >= resync_) {
          notified = false;
          reload(db);
          last = probed = std::chrono::steady_clock::now();
        } else if (now - probed >= probe_every) {
          // A wait that times out proves nothing: over a half-open TCP connection it returns as
          // it does on a healthy one. Only an answered query confirms the snapshot (and a version
          // that moved without a notification reloads it).
          probed = now;
          if (db.policy_version() != current()->version()) {
            reload(db);
            last = std::chrono::steady_clock::now();
          } else {
            confirmed();
          }
        }
      }
      return;
    } catch (const std::exception& e) {
      const auto& m = policy_metrics::get();
      m.reloads_failed.Increment();
      m.db_errors.Increment();
      spdlog::warn("policy reload failed: {}; keeping the last good policy, retrying in {}ms",
                   log_value(e.what()), backoff.count());
    }
    const auto jitter = std::chrono::milliseconds(
        std::uniform_int_distribution<int>(0, static_cast<int>(backoff.count()))(rng));
    if (wait_or_stop(backoff + jitter)) {
      return;
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
  }
}

}  // namespace bastion::policy
