// The live policy snapshot of one node. It loads at startup, then a background thread LISTENs on
// `bastion_policy` (every admin change NOTIFYs it) and reloads, so each node follows the shared
// PostgreSQL within moments. When the database goes away, the last good snapshot stays in force
// and the thread reconnects with jittered back-off.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <bastion/policy/snapshot.hpp>

namespace bastion::policy {

class policy_cache {
 public:
  // Throws store_error when the first load fails: a node must not serve without a policy.
  policy_cache(std::string conninfo, std::string node,
               std::chrono::milliseconds resync = std::chrono::seconds(60));
  ~policy_cache();
  policy_cache(const policy_cache&) = delete;
  policy_cache& operator=(const policy_cache&) = delete;

  // The snapshot in force; holders keep theirs alive while a newer one replaces it.
  std::shared_ptr<const policy_snapshot> current() const;
  std::uint64_t reloads() const { return reloads_.load(std::memory_order_relaxed); }
  // Reloads within moments, as a notification would (SIGHUP).
  void reload_soon() { reload_requested_.store(true, std::memory_order_relaxed); }
  // How long since the database last confirmed the snapshot: a reload, or a query for the policy
  // version (once a second while it answers). Steady clock.
  std::chrono::steady_clock::duration stale_for() const;

 private:
  void run();
  void reload(store& db);
  void confirmed();
  bool wait_or_stop(std::chrono::milliseconds d);

  std::string conninfo_;
  std::string node_;
  std::chrono::milliseconds resync_;
  mutable std::mutex mutex_;
  std::shared_ptr<const policy_snapshot> current_;
  std::atomic<std::uint64_t> reloads_{0};
  std::atomic<std::chrono::steady_clock::rep> confirmed_at_{0};  // steady_clock ticks
  std::atomic<bool> reload_requested_{false};
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace bastion::policy
