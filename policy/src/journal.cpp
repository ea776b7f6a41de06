// The journal's writer thread.
#include <memory>
#include <vector>

#include <bastion/common/log.hpp>
#include <bastion/policy/journal.hpp>
#include <bastion/policy/store.hpp>

#include "policy_metrics.hpp"

namespace bastion::policy {
namespace {

constexpr std::size_t max_batch = 500;

}  // namespace

journal::journal(std::string conninfo, std::string node, std::size_t backlog)
    : conninfo_(std::move(conninfo)), node_(std::move(node)), backlog_(backlog) {
  policy_metrics::get();  // every series is scraped from the start, at zero
  thread_ = std::thread([this] { run(); });
}

journal::~journal() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void journal::record(journal_entry entry) {
  {
    const std::lock_guard lock(mutex_);
    if (queue_.size() >= backlog_ * hard_cap_factor) {
      policy_metrics::get().journal_dropped_rows.Increment();
      if (dropped_.fetch_add(1, std::memory_order_relaxed) % 1000 == 0) {
        spdlog::error(
            "journal over its hard cap ({} entries, {} dropped so far): the database has not taken "
            "rows for long; audit and session rows are being lost",
            queue_.size(), dropped_.load(std::memory_order_relaxed));
      }
      return;
    }
    queue_.push_back(std::move(entry));
    set_size();
  }
  wake_.notify_one();
}

// A batch that the database refuses for its content (not for being away) would block the queue
// forever: it is written entry by entry instead, and the entries refused alone are dropped.
bool journal::write(const std::vector<journal_entry>& batch) {
  try {
    if (!db_) {
      db_ = std::make_unique<store>(conninfo_, "bastiond", node_);
    }
    db_->write_journal(batch);
    return true;
  } catch (const store_error& e) {
    policy_metrics::get().db_errors.Increment();
    if (e.code() == store_error::kind::unavailable) {
      db_.reset();
      spdlog::warn("journal write failed ({} entries kept): {}", batch.size(), log_value(e.what()));
      return false;
    }
    spdlog::warn("journal batch refused, writing its {} entries one by one: {}", batch.size(),
                 log_value(e.what()));
  }
  for (const auto& entry : batch) {
    try {
      db_->write_journal({entry});
    } catch (const store_error& e) {
      const auto& m = policy_metrics::get();
      m.db_errors.Increment();
      if (e.code() == store_error::kind::unavailable) {
        db_.reset();
        return false;  // the whole batch again later; rows are written idempotently
      }
      dropped_.fetch_add(1, std::memory_order_relaxed);
      m.journal_dropped_rows.Increment();
      spdlog::error("journal entry dropped: {}", log_value(e.what()));
    }
  }
  return true;
}

void journal::set_size() {
  size_.store(queue_.size(), std::memory_order_relaxed);
  policy_metrics::get().journal_queue_rows.Set(static_cast<double>(queue_.size()));
}

void journal::run() {
  auto backoff = std::chrono::milliseconds(200);
  int stop_retries = 0;
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      return;  // stopping, and nothing left
    }
    const std::size_t n = std::min(queue_.size(), max_batch);
    std::vector<journal_entry> batch(queue_.begin(),
                                     queue_.begin() + static_cast<std::ptrdiff_t>(n));
    lock.unlock();
    const bool done = write(batch);
    lock.lock();
    if (done) {
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      set_size();
      written_.fetch_add(n, std::memory_order_relaxed);
      backoff = std::chrono::milliseconds(200);
      continue;
    }
    if (stopping_ && ++stop_retries > 10) {
      dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
      policy_metrics::get().journal_dropped_rows.Increment(static_cast<double>(queue_.size()));
      spdlog::error("{} journal entries could not be written before shutdown", queue_.size());
      return;
    }
    // Shutting down: a few quick tries, not the full back-off.
    wake_.wait_for(lock, stopping_ ? std::chrono::milliseconds(100) : backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

}  // namespace bastion::policy
