// The admin API's search route (the search itself is admin/src/search.cpp, shared with bastionctl).
#include "../search.hpp"
#include "query.hpp"
#include "router.hpp"

namespace bastion::admin {

namespace asio = boost::asio;
using policy::store;

// Hits, newest sessions first: each the line that holds the text, its session and its moment.
asio::awaitable<api_reply> api_router::search(const route& r) {
  const auto q = parse_query(r.query, {"q", "user", "target", "since", "limit"});
  if (!q) {
    co_return bad_request(q.error());
  }
  const auto limit = int_param(*q, "limit", 50, 1, 500);
  if (!limit) {
    co_return bad_request(limit.error());
  }
  const search_request req{text_param(*q, "q").value_or(""), text_param(*q, "user"),
                           text_param(*q, "target"), text_param(*q, "since"), *limit};
  if (auto checked = check_search(req); !checked) {
    co_return bad_request(checked.error());
  }
  auto find = [&req](store& db) { return search_sessions(db, req); };
  const auto hits = co_await pool_.run(find);
  auto out = nlohmann::json::array();
  for (const auto& h : hits) {
    out.push_back(hit_json(h));
  }
  co_return json_reply({{"hits", std::move(out)}});
}

}  // namespace bastion::admin
