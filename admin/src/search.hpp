// Session search, shared by `bastionctl search` and GET /api/v1/search: the index's documents
// that hold the text (store::search_documents), narrowed to the lines that hold it, each with its
// session and its moment in it.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <bastion/common/result.hpp>
#include <bastion/policy/store.hpp>

namespace bastion::admin {

struct search_request {
  std::string text;  // 3 to 200 bytes: trigrams need three characters
  std::optional<std::string> user;
  std::optional<std::string> target;
  std::optional<std::string> since;
  int limit = 50;  // hits, 1 to 500
};

struct search_hit {
  policy::session_info session;
  std::string kind;  // "input" (a command or a typed line) or "output"
  std::uint32_t channel = 0;
  std::chrono::microseconds offset{0};  // into the session
  std::string line;                     // the line, cut to 300 bytes
};

// The request's fault, named with its fix, if it has one.
result<void> check_search(const search_request& req);
// Newest sessions first, then by moment. Throws policy::store_error.
std::vector<search_hit> search_sessions(policy::store& db, const search_request& req);

nlohmann::json hit_json(const search_hit& hit);

}  // namespace bastion::admin
