// The audit of admin API requests: one admin.api row per request. A request that an admin's
// token let in is always written. Refusals (no token, a bad one, a request that is not HTTP) are
// counted always and written at most `per_minute` times per client address a minute: a flood of
// them must not fill the journal, whose backlog would otherwise stop SSH logins. Internal to
// admin/.
#pragma once

#include <prometheus/counter.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include <bastion/policy/journal.hpp>

#include "router.hpp"

namespace bastion::admin {

class request_audit {
 public:
  static constexpr int per_minute = 20;
  static constexpr std::size_t max_sources = 4096;

  explicit request_audit(policy::journal& journal);

  // A request that reached the router; `user` and `token_id` are empty and 0 when unknown.
  void request(const api_request& req, const std::string& peer, const std::string& user,
               std::int64_t token_id, unsigned status);
  // A request refused before it could be read (431, 413, not HTTP).
  void unreadable(const std::string& peer, unsigned status);

 private:
  // Whether a refusal from `peer` is written; counts it either way.
  bool admit_refusal(const std::string& peer);

  policy::journal& journal_;
  prometheus::Counter& ok_;
  prometheus::Counter& denied_;
  prometheus::Counter& error_;
  prometheus::Counter& unaudited_;
  std::mutex mutex_;
  struct window {
    std::chrono::steady_clock::time_point start;
    int written = 0;
  };
  std::unordered_map<std::string, window> windows_;  // by address, without the port
};

}  // namespace bastion::admin
