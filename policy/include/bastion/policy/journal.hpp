// What the proxy writes to PostgreSQL while it serves: the audit trail (audit_events) and the
// session index (sessions, channels, recordings rows). Written off the io threads: entries wait in
// one FIFO queue for a writer thread that applies them in order, in batches of one transaction.
// Order matters: a session's end row follows its start.
//
// Through a database outage they are kept on disk, not in memory: once a write finds PostgreSQL
// unavailable, the writer appends what waits to a spool file (journal_spool.hpp; one fdatasync per
// group of rows) and every later entry goes through the spool while the database stays away, so a
// crash or a restart during the outage loses no row that reached the spool. Once the database takes
// rows again the spool is replayed ahead of what waits in memory, so order holds and the spool only
// shrinks. A spool left by a crash is replayed at startup, before crash recovery
// (replay_journal_spool). Every row is written idempotently (audit rows carry an event id), because
// a replay cut short by a crash starts over. A spool that can no longer be read is set aside whole,
// never replayed in part.
//
// Rows are not dropped to make room. Past `backlog` waiting entries the bastion stops admitting new
// connections (accepting_connections() turns false; they are refused with the reason and counted)
// until the database catches up, so what is queued comes only from connections already admitted,
// each of which writes a bounded number of rows. A hard cap of hard_cap_factor x backlog guards
// the disk against a database that never comes back; only past it are entries dropped, counted
// and logged.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <bastion/policy/sessions.hpp>

namespace bastion::policy {

class store;
class journal_spool;

// The spool directory cannot be used: what() names it and the fix.
class journal_spool_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct audit_event {
  std::string kind;    // "auth", "session.start", ...
  std::string result;  // "ok", "denied", "error"
  std::string actor;   // the bastion user, or the name the client sent
  std::string source_addr;
  std::string target_name;
  std::string detail_json = "{}";
  // Set by journal::record when left empty: a random UUID that makes the row's insert idempotent,
  // and the time it happened (a row written late, after an outage, still says when).
  std::string event_id;
  std::int64_t at_unix_us = 0;
};

// A session's end: its reason and what its recording holds.
struct session_end {
  std::string id;
  std::string reason;
  std::int64_t ended_unix_us = 0;  // 0: the time the row is written
  recording_end recording;
};

// One channel of a recorded session, written when it closes.
struct channel_row {
  std::string session_id;
  std::uint32_t channel_no = 0;
  std::string kind;                // "session", ...
  std::string detail_json = "{}";  // pty, command, subsystem
  std::int64_t opened_unix_us = 0;
  std::int64_t closed_unix_us = 0;
  std::optional<int> exit_status;
  std::string exit_signal;      // "" if none
  std::uint64_t bytes_in = 0;   // client to target
  std::uint64_t bytes_out = 0;  // target to client, stdout and stderr
};

// A document of a session's search index (recorder/search_text.hpp), written once: its key is
// (session, seq).
struct search_text {
  std::string session_id;
  std::uint32_t seq = 0;
  std::string kind;   // "input" or "output"
  std::string body;   // lines, each ending in '\n'
  std::string marks;  // "at:offset_us:channel,..." per line
};

using journal_entry =
    std::variant<audit_event, session_start, session_end, channel_row, search_text>;

// Replays what a previous run left in the spool in `spool_dir` into the database, before the
// journal starts and before crash recovery, so that recovery sees the sessions whose rows waited
// there (a session whose start row was spooled, live when bastiond was killed, is then ended as a
// crash like any other). Returns the rows written. Throws store_error if PostgreSQL cannot take
// them, journal_spool_error as journal's constructor does.
std::size_t replay_journal_spool(const std::string& conninfo, const std::string& node,
                                 const std::filesystem::path& spool_dir);

class journal {
 public:
  static constexpr std::size_t hard_cap_factor = 8;

  // Opens (creating it if needed) the spool in `spool_dir` and replays what a previous run left
  // there. Throws journal_spool_error, naming the fix, if the directory cannot hold the spool or
  // another bastiond holds it.
  journal(std::string conninfo, std::string node, const std::filesystem::path& spool_dir,
          std::size_t backlog = 10000);
  // Writes what is queued, or spools it if the database is away, then stops.
  ~journal();
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  // Never blocks on the database; thread-safe.
  void record(journal_entry entry);
  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  // Entries waiting for the database, in memory and in the spool.
  std::size_t backlog() const { return size_.load(std::memory_order_relaxed); }
  // Of those, the entries in the spool.
  std::size_t spooled() const { return spooled_.load(std::memory_order_relaxed); }
  // False while the backlog is at its bound: new connections must wait for the database.
  bool accepting_connections() const { return backlog() < backlog_; }

 private:
  void run();    // the writer thread: drain(), started over if anything unforeseen throws
  void drain();  // writes and spools until stopped
  // The spool cannot be read: sets it aside and starts a new one; false if the disk refused.
  bool set_spool_aside(const std::string& why);
  void set_size();  // under mutex_: queue_ or the spool changed
  // Applies `batch` in one transaction; true if it is done with (written, or dropped as bad).
  bool write(const std::vector<journal_entry>& batch);
  // The next batch into the database, from the spool while it holds any, else from memory; false
  // if the database is unavailable. Called and returns with `lock` held; writes without it.
  bool write_next(std::unique_lock<std::mutex>& lock);
  // Moves every entry waiting in memory to the spool, as one group commit; false if the disk
  // refused (they stay in memory). Called and returns with `lock` held; writes without it.
  bool spool_waiting(std::unique_lock<std::mutex>& lock);

  std::string conninfo_;
  std::string node_;
  std::size_t backlog_;
  std::atomic<std::size_t> size_{0};     // queue_.size() + spooled_
  std::atomic<std::size_t> spooled_{0};  // spool_->pending(), readable off the writer thread
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<journal_entry> queue_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::unique_ptr<store> db_;             // writer thread only
  std::unique_ptr<journal_spool> spool_;  // writer thread only, once it runs
  std::uint64_t replayed_ = 0;            // rows replayed since the spool last was empty
  std::thread thread_;
};

}  // namespace bastion::policy
