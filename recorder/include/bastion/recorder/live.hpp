// Live watching: a recording's events handed, as they are recorded, to admins who watch the
// session. A data event of a session that nobody watches costs one atomic load (the rare other
// events take the feed's lock, to keep the terminal state); a watched session copies what a
// terminal shows into every watcher's bounded queue and never waits for a watcher: one that falls
// more than its bound behind is dropped, and the session goes on at its own pace.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <bastion/recorder/event.hpp>

namespace bastion::recorder {

// What a watcher that joins mid-session needs to draw it: which channels are terminals, and the
// terminal's size and type as last requested.
struct live_state {
  std::set<std::uint32_t> terminals;  // channels that asked for a PTY
  int cols = 80;
  int rows = 24;
  std::string term = "xterm";
};

// One admin's view of one session. Thread-safe: the session's thread pushes, the admin's takes.
class live_watcher {
 public:
  // `wake` runs (on the session's thread, so it must only post) when events wait after a take(),
  // and when the watcher is dropped or the session ends.
  live_watcher(std::size_t max_bytes, std::function<void()> wake)
      : max_bytes_(max_bytes), wake_(std::move(wake)) {}

  struct batch {
    std::vector<event> events;
    bool overflowed = false;  // fell more than max_bytes behind: dropped, nothing more comes
    bool ended = false;       // the session ended (after `events`)
  };
  // Everything queued since the last take.
  batch take();

  // The feed's side. False once the watcher is dropped.
  bool push(const event& ev);
  void end();

 private:
  void notify_locked(std::unique_lock<std::mutex>& lock);

  const std::size_t max_bytes_;
  const std::function<void()> wake_;
  std::mutex mutex_;
  std::vector<event> queue_;
  std::size_t queued_bytes_ = 0;
  bool overflowed_ = false;
  bool ended_ = false;
  bool notified_ = false;  // a wake is out and no take() came since
};

// One session's feed; session_recording holds it. publish() is called with every event recorded.
class live_feed {
 public:
  // Whether anyone watches: the only cost of an unwatched data event.
  bool watched() const { return watchers_.load(std::memory_order_relaxed) > 0; }
  // Keeps the terminal state from channel requests and resizes (always: they are rare), and
  // copies the event to every watcher (only when watched; data only of PTY channels); drops
  // watchers over their bound.
  void publish(const event& ev);
  // Adds a watcher; returns the state it starts from.
  live_state add(std::shared_ptr<live_watcher> w);
  void remove(const live_watcher* w);
  // The session ended: every watcher is told, and none is added after.
  void end();

 private:
  std::atomic<int> watchers_{0};
  std::mutex mutex_;
  live_state state_;
  std::vector<std::shared_ptr<live_watcher>> list_;
  bool ended_ = false;
};

}  // namespace bastion::recorder
