// The audit writer thread.
#include <memory>
#include <vector>

#include <bastion/common/log.hpp>
#include <bastion/policy/audit.hpp>
#include <bastion/policy/store.hpp>

namespace bastion::policy {
namespace {

constexpr std::size_t max_batch = 500;

}  // namespace

audit_log::audit_log(std::string conninfo, std::string node, std::size_t capacity)
    : conninfo_(std::move(conninfo)), node_(std::move(node)), capacity_(capacity) {
  thread_ = std::thread([this] { run(); });
}

audit_log::~audit_log() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void audit_log::record(audit_event ev) {
  {
    const std::lock_guard lock(mutex_);
    if (queue_.size() >= capacity_) {
      if (dropped_.fetch_add(1, std::memory_order_relaxed) % 1000 == 0) {
        spdlog::error(
            "audit queue full ({} events): dropping audit events until the database catches up",
            capacity_);
      }
      return;
    }
    queue_.push_back(std::move(ev));
  }
  wake_.notify_one();
}

void audit_log::run() {
  std::unique_ptr<store> db;
  auto backoff = std::chrono::milliseconds(200);
  int stop_retries = 0;
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      return;  // stopping, and nothing left
    }
    const std::size_t n = std::min(queue_.size(), max_batch);
    std::vector<audit_event> batch(
        std::make_move_iterator(queue_.begin()),
        std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
    lock.unlock();
    bool ok = false;
    try {
      if (!db) {
        db = std::make_unique<store>(conninfo_, "bastiond", node_);
      }
      db->write_audit(batch);
      ok = true;
      backoff = std::chrono::milliseconds(200);
    } catch (const std::exception& e) {
      db.reset();
      spdlog::warn("audit write failed ({} events kept): {}", n, log_value(e.what()));
    }
    lock.lock();
    if (ok) {
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      written_.fetch_add(n, std::memory_order_relaxed);
      continue;
    }
    if (stopping_ && ++stop_retries > 10) {
      dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
      spdlog::error("{} audit events could not be written before shutdown", queue_.size());
      return;
    }
    // Shutting down: a few quick tries, not the full back-off.
    wake_.wait_for(lock, stopping_ ? std::chrono::milliseconds(100) : backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

}  // namespace bastion::policy
