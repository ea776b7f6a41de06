// The live policy snapshot of one node. It loads at startup, then a background thread LISTENs on
// `bastion_policy` (every admin change NOTIFYs it) and reloads, so each node follows the shared
// PostgreSQL within moments. When the database goes away, the last good snapshot stays in force
// and the thread reconnects with jittered back-off. The same connection LISTENs on
// `bastion_control`, where `bastionctl kill` asks the node that holds a session to end it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include <bastion/policy/snapshot.hpp>

namespace bastion::policy {

// What a node does when its policy changes or an admin asks something of it. Both run on the
// cache's thread, one at a time; they must hand their work off (post it) and return.
struct policy_events {
  // After every successful reload (a notification, SIGHUP, the periodic resync, a reconnection):
  // the snapshot now in force, so that live sessions are decided again under it.
  std::function<void(std::shared_ptr<const policy_snapshot>)> reloaded;
  // A `bastion_control` notification's payload, at most 8000 bytes as PostgreSQL bounds it; it is
  // untrusted text until parsed.
  std::function<void(const std::string&)> control;
};

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
  // Replaces the handlers. Returns only once no call to the old ones is running, so that their
  // owner may go away after subscribe({}).
  void subscribe(policy_events events);

 private:
  void run();
  void reload(store& db);
  void control(const std::string& payload);
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
  std::mutex events_mutex_;  // held while a handler runs
  policy_events events_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace bastion::policy
