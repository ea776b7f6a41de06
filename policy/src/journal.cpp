// The journal's writer thread.
#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <memory>
#include <random>
#include <vector>

#include <bastion/common/hex.hpp>
#include <bastion/common/log.hpp>
#include <bastion/policy/journal.hpp>
#include <bastion/policy/store.hpp>

#include "journal_codec.hpp"
#include "journal_spool.hpp"
#include "policy_metrics.hpp"

namespace bastion::policy {
namespace {

using std::chrono::steady_clock;

constexpr std::size_t max_batch = 500;
constexpr auto min_backoff = std::chrono::milliseconds(200);
constexpr auto max_backoff = std::chrono::milliseconds(5000);

// A random (version 4) UUID as text.
std::string random_uuid() {
  std::array<unsigned char, 16> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    std::abort();  // no entropy: nothing safe to do
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  const std::string h = to_hex({reinterpret_cast<const char*>(b.data()), b.size()});
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

std::int64_t unix_us_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Every row says when it happened, not when it reached the database, which after an outage
// can be much later.
void stamp(journal_entry& entry) {
  auto now_if_unset = [](std::int64_t& at) {
    if (at == 0) {
      at = unix_us_now();
    }
  };
  if (auto* e = std::get_if<audit_event>(&entry)) {
    if (e->event_id.empty()) {
      e->event_id = random_uuid();
    }
    now_if_unset(e->at_unix_us);
  } else if (auto* s = std::get_if<session_start>(&entry)) {
    now_if_unset(s->started_unix_us);
  } else if (auto* end = std::get_if<session_end>(&entry)) {
    now_if_unset(end->ended_unix_us);
  }
}

// Applies `batch` in one transaction. A batch that the database refuses for its content (not for
// being away) would block the queue forever: it is written entry by entry instead, and the
// entries refused alone are dropped. Returns how many were dropped; throws store_error(unavailable)
// when the database cannot take it now (nothing dropped: rows are written idempotently, so the
// whole batch can go again).
std::size_t apply_batch(store& db, const std::vector<journal_entry>& batch) {
  const auto& m = policy_metrics::get();
  try {
    db.write_journal(batch);
    return 0;
  } catch (const store_error& e) {
    m.db_errors.Increment();
    if (e.code() == store_error::kind::unavailable) {
      throw;
    }
    spdlog::warn("journal batch refused, writing its {} entries one by one: {}", batch.size(),
                 log_value(e.what()));
  }
  std::size_t dropped = 0;
  for (const auto& entry : batch) {
    try {
      db.write_journal({entry});
    } catch (const store_error& e) {
      m.db_errors.Increment();
      if (e.code() == store_error::kind::unavailable) {
        throw;
      }
      ++dropped;
      m.journal_dropped_rows.Increment();
      spdlog::error("journal entry dropped: {}", log_value(e.what()));
    }
  }
  return dropped;
}

}  // namespace

journal::journal(std::string conninfo, std::string node, const std::filesystem::path& spool_dir,
                 std::size_t backlog)
    : conninfo_(std::move(conninfo)),
      node_(std::move(node)),
      backlog_(backlog),
      spool_(std::make_unique<journal_spool>(spool_dir)) {
  policy_metrics::get();  // every series is scraped from the start, at zero
  spooled_.store(spool_->pending(), std::memory_order_relaxed);
  set_size();
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
  stamp(entry);
  {
    const std::lock_guard lock(mutex_);
    if (backlog() >= backlog_ * hard_cap_factor) {
      policy_metrics::get().journal_dropped_rows.Increment();
      if (dropped_.fetch_add(1, std::memory_order_relaxed) % 1000 == 0) {
        spdlog::error(
            "journal over its hard cap ({} entries, {} dropped so far): the database has not taken "
            "rows for long; audit and session rows are being lost",
            backlog(), dropped_.load(std::memory_order_relaxed));
      }
      return;
    }
    queue_.push_back(std::move(entry));
    set_size();
  }
  wake_.notify_one();
}

std::size_t replay_journal_spool(const std::string& conninfo, const std::string& node,
                                 const std::filesystem::path& spool_dir) {
  journal_spool spool(spool_dir);
  if (spool.pending() == 0) {
    return 0;
  }
  store db(conninfo, "bastiond", node);
  std::size_t written = 0;
  while (spool.pending() > 0) {
    const auto batch = spool.peek(max_batch);
    written += batch.size() - apply_batch(db, batch);
    spool.consume(batch.size());
  }
  spdlog::info("journal spool replayed: {} rows written to PostgreSQL", written);
  return written;
}

bool journal::write(const std::vector<journal_entry>& batch) {
  try {
    if (!db_) {
      db_ = std::make_unique<store>(conninfo_, "bastiond", node_);
    }
    dropped_.fetch_add(apply_batch(*db_, batch), std::memory_order_relaxed);
    return true;
  } catch (const store_error& e) {
    if (e.code() != store_error::kind::unavailable) {
      throw;  // apply_batch lets only unavailable through; anything else is a bug to see
    }
    db_.reset();
    spdlog::warn("journal write failed ({} entries kept): {}", batch.size(), log_value(e.what()));
    return false;
  }
}

void journal::set_size() {
  const std::size_t spooled = spooled_.load(std::memory_order_relaxed);
  size_.store(queue_.size() + spooled, std::memory_order_relaxed);
  const auto& m = policy_metrics::get();
  m.journal_queue_rows.Set(static_cast<double>(queue_.size() + spooled));
  m.journal_spool_rows.Set(static_cast<double>(spooled));
}

bool journal::spool_waiting(std::unique_lock<std::mutex>& lock) {
  if (queue_.empty()) {
    return true;
  }
  // Encoded under the lock (a copy, quick); written and synced without it.
  std::string records;
  for (auto it = queue_.begin(); it != queue_.end();) {
    try {
      journal_spool::frame(records, *it);
      ++it;
    } catch (const journal_codec_error& e) {
      // Over the spool's bounds, which no row the bastion makes comes near: kept, it would hold
      // every row behind it in memory.
      dropped_.fetch_add(1, std::memory_order_relaxed);
      policy_metrics::get().journal_dropped_rows.Increment();
      spdlog::error("journal entry dropped: it cannot be spooled ({})", e.what());
      it = queue_.erase(it);
    }
  }
  const std::size_t n = queue_.size();
  if (n == 0) {
    set_size();
    return true;
  }
  const bool first = spool_->pending() == 0;
  lock.unlock();
  const bool ok = spool_->append(records, n);
  lock.lock();
  if (!ok) {
    return false;
  }
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
  spooled_.store(spool_->pending(), std::memory_order_relaxed);
  set_size();
  if (first) {
    replayed_ = 0;
    spdlog::warn("PostgreSQL cannot take journal rows: they go to {} until it is back ({} so far)",
                 spool_->path().string(), n);
  }
  return true;
}

bool journal::write_next(std::unique_lock<std::mutex>& lock) {
  if (spool_->pending() == 0) {
    const std::size_t n = std::min(queue_.size(), max_batch);
    const std::vector<journal_entry> batch(queue_.begin(),
                                           queue_.begin() + static_cast<std::ptrdiff_t>(n));
    lock.unlock();
    const bool done = write(batch);
    lock.lock();
    if (done) {
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      written_.fetch_add(n, std::memory_order_relaxed);
      set_size();
    }
    return done;
  }
  lock.unlock();
  std::vector<journal_entry> batch;
  try {
    batch = spool_->peek(max_batch);
  } catch (const journal_spool_error& e) {
    const bool aside = set_spool_aside(e.what());
    lock.lock();
    set_size();
    return aside;
  }
  const std::size_t n = batch.size();
  const bool done = write(batch);
  lock.lock();
  if (!done) {
    return false;
  }
  spool_->consume(n);
  spooled_.store(spool_->pending(), std::memory_order_relaxed);
  written_.fetch_add(n, std::memory_order_relaxed);
  replayed_ += n;
  set_size();
  if (spool_->pending() == 0) {
    spdlog::info("journal spool replayed: {} rows written to PostgreSQL", replayed_);
  }
  return true;
}

// A spool that cannot be read would hold every later row behind it, and fill: it is set aside whole
// (its rows kept on disk; counted as dropped, since they no longer reach the database by
// themselves) and a new one is begun. Without the lock: the spool is the writer thread's.
bool journal::set_spool_aside(const std::string& why) {
  const std::size_t lost = spool_->pending();
  try {
    const std::string aside = spool_->set_aside();
    dropped_.fetch_add(lost, std::memory_order_relaxed);
    policy_metrics::get().journal_dropped_rows.Increment(static_cast<double>(lost));
    spdlog::error(
        "{}: its {} rows not yet in PostgreSQL are kept in {} and no longer replayed; new rows go "
        "to a new spool",
        why, lost, aside);
    spooled_.store(0, std::memory_order_relaxed);
    return true;
  } catch (const journal_spool_error& e) {
    spdlog::error("{}; {}; retrying", why, e.what());
    return false;
  }
}

// Nothing may leave the writer thread (it would end the process): anything unforeseen, such as
// running out of memory, is logged and the loop starts over after a pause, with the queue and the
// spool as they were.
void journal::run() {
  while (true) {
    try {
      drain();
      return;
    } catch (const std::exception& e) {
      spdlog::error("journal writer: {}; starting over in 1 s", log_value(e.what()));
    }
    std::unique_lock lock(mutex_);
    if (stopping_) {
      dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
      policy_metrics::get().journal_dropped_rows.Increment(static_cast<double>(queue_.size()));
      spdlog::error("{} journal entries lost at shutdown", queue_.size());
      return;
    }
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

// While the database is away, every new entry joins the spool (its order behind what is there), so
// the writer wakes for each arrival to spool it, and tries the database only when its back-off is
// due. Once the database takes rows again, new entries wait in memory while the spool is replayed
// ahead of them: the spool then only shrinks, and is cut back to empty however busy the bastion is.
void journal::drain() {
  std::minstd_rand jitter(std::random_device{}());
  auto backoff = min_backoff;
  auto db_due = steady_clock::now();
  bool disk_ok = true;  // the last append to the spool went through
  bool db_ok = true;    // the last write to the database went through
  int stop_tries = 0;
  std::unique_lock lock(mutex_);
  while (true) {
    if (spool_->pending() > 0 && disk_ok && !db_ok) {
      disk_ok = spool_waiting(lock);  // a group commit of what arrived meanwhile
    }
    if (queue_.empty() && (spool_->pending() == 0 || stopping_)) {
      if (stopping_) {
        return;  // anything left is in the spool, for the next start
      }
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      continue;
    }
    if (steady_clock::now() < db_due) {
      // Woken early by a new entry (to spool it) or by shutdown, whose last tries start at once.
      const bool was_stopping = stopping_;
      const std::size_t queued = queue_.size();
      wake_.wait_until(lock, db_due,
                       [&] { return stopping_ != was_stopping || queue_.size() != queued; });
      if (stopping_ != was_stopping) {
        db_due = steady_clock::now();
      }
      continue;
    }
    db_ok = write_next(lock);
    if (db_ok) {
      backoff = min_backoff;
      stop_tries = 0;
      continue;
    }
    disk_ok = spool_waiting(lock);  // PostgreSQL is away: what waits goes to disk
    if (stopping_ && !queue_.empty() && ++stop_tries > 10) {
      // Neither the database nor the disk takes them.
      dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
      policy_metrics::get().journal_dropped_rows.Increment(static_cast<double>(queue_.size()));
      spdlog::error("{} journal entries could not be written nor spooled before shutdown",
                    queue_.size());
      return;
    }
    // Shutting down: a few quick tries. Otherwise back off, with jitter, so that the nodes that
    // share a database do not all come back at the same moment.
    const auto wait = stopping_ ? std::chrono::milliseconds(100)
                                : std::chrono::milliseconds(std::uniform_int_distribution<long>(
                                      backoff.count() / 2, backoff.count())(jitter));
    db_due = steady_clock::now() + wait;
    backoff = std::min(backoff * 2, max_backoff);
  }
}

}  // namespace bastion::policy
