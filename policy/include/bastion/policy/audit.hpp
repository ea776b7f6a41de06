// The audit trail of logins and sessions, written to audit_events off the io threads. record()
// never blocks: events wait in a bounded queue for a writer thread that batches them into one
// transaction, and keeps them through a database outage until the queue bound forces drops
// (counted, and logged).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace bastion::policy {

struct audit_event {
  std::string kind;    // "auth", "session.start", ...
  std::string result;  // "ok", "denied", "error"
  std::string actor;   // the bastion user, or the name the client sent
  std::string source_addr;
  std::string target_name;
  std::string detail_json = "{}";
};

class audit_log {
 public:
  audit_log(std::string conninfo, std::string node, std::size_t capacity = 10000);
  // Writes what is queued (for at most a few seconds if the database is away), then stops.
  ~audit_log();
  audit_log(const audit_log&) = delete;
  audit_log& operator=(const audit_log&) = delete;

  void record(audit_event ev);
  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  void run();

  std::string conninfo_;
  std::string node_;
  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<audit_event> queue_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace bastion::policy
