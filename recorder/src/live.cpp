// Live watching: bounded per-watcher queues fed from the recording tap.
#include <algorithm>

#include <bastion/recorder/live.hpp>

#include "metadata.hpp"

namespace bastion::recorder {

namespace {

// Per event in a watcher's queue, beside its bytes: what its bound counts.
constexpr std::size_t event_overhead = 64;

}  // namespace

live_watcher::batch live_watcher::take() {
  const std::lock_guard lock(mutex_);
  batch out{std::move(queue_), overflowed_, ended_};
  queue_.clear();
  queued_bytes_ = 0;
  notified_ = false;
  return out;
}

bool live_watcher::push(const event& ev) {
  std::unique_lock lock(mutex_);
  if (overflowed_ || ended_) {
    return false;
  }
  queued_bytes_ += ev.data.size() + event_overhead;
  if (queued_bytes_ > max_bytes_) {
    overflowed_ = true;
    queue_.clear();
    queue_.shrink_to_fit();
    notify_locked(lock);
    return false;
  }
  queue_.push_back(ev);
  notify_locked(lock);
  return true;
}

void live_watcher::end() {
  std::unique_lock lock(mutex_);
  ended_ = true;
  notify_locked(lock);
}

// One wake per take(): a busy session posts to the watcher's thread once per batch, not per event.
void live_watcher::notify_locked(std::unique_lock<std::mutex>& lock) {
  if (notified_) {
    return;
  }
  notified_ = true;
  lock.unlock();
  wake_();
}

void live_feed::publish(const event& ev) {
  const std::lock_guard lock(mutex_);
  if (ev.type == event_type::channel_request) {
    const auto meta = metadata(ev);
    if (field<std::string>(meta, "request", "") == "pty-req") {
      state_.terminals.insert(ev.channel);
      state_.cols = field(meta, "cols", state_.cols);
      state_.rows = field(meta, "rows", state_.rows);
      state_.term = field<std::string>(meta, "term", state_.term);
    }
  } else if (ev.type == event_type::window_change && state_.terminals.contains(ev.channel)) {
    state_.cols = static_cast<int>(ev.cols);
    state_.rows = static_cast<int>(ev.rows);
  }
  // Only what a terminal shows is copied: its output, resizes and PTY requests (a shell opened
  // later joins), never keystrokes, and a file transfer beside a shell costs the watch nothing.
  const bool shown =
      ev.type == event_type::data
          ? ev.stream != stream::input && state_.terminals.contains(ev.channel)
          : ev.type == event_type::window_change || ev.type == event_type::channel_request;
  if (list_.empty() || !shown) {
    return;
  }
  const auto dropped =
      std::remove_if(list_.begin(), list_.end(), [&](const auto& w) { return !w->push(ev); });
  list_.erase(dropped, list_.end());
  watchers_.store(static_cast<int>(list_.size()), std::memory_order_relaxed);
}

live_state live_feed::add(std::shared_ptr<live_watcher> w) {
  const std::lock_guard lock(mutex_);
  if (ended_) {
    w->end();
  } else {
    list_.push_back(std::move(w));
    watchers_.store(static_cast<int>(list_.size()), std::memory_order_relaxed);
  }
  return state_;
}

void live_feed::remove(const live_watcher* w) {
  const std::lock_guard lock(mutex_);
  std::erase_if(list_, [&](const auto& x) { return x.get() == w; });
  watchers_.store(static_cast<int>(list_.size()), std::memory_order_relaxed);
}

void live_feed::end() {
  const std::lock_guard lock(mutex_);
  ended_ = true;
  for (const auto& w : list_) {
    w->end();
  }
  list_.clear();
  watchers_.store(0, std::memory_order_relaxed);
}

}  // namespace bastion::recorder
