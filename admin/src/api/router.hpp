// The admin API's endpoints: authentication by bearer token, the routes under /api/v1/, and the
// audit row of every request. Each request's blocking work runs on the worker pool; this code runs
// on the connection's strand and only awaits it. Internal to admin/.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <bastion/common/config.hpp>
#include <bastion/policy/journal.hpp>
#include <bastion/recorder/asciicast.hpp>
#include <bastion/recorder/service.hpp>

#include "console_files.hpp"
#include "live_tickets.hpp"
#include "worker_pool.hpp"

namespace bastion::admin {

namespace http = boost::beast::http;
using api_request = http::request<http::string_body>;

struct api_reply {
  http::status status = http::status::ok;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<http::field, std::string>> headers;
  // When set, the body is this cast, streamed piece by piece (chunked) instead of `body`.
  std::unique_ptr<recorder::asciicast_stream> cast;
  // When set (with status 101), the connection becomes the live watch of this session.
  std::optional<recorder::session_id> live;
};

// An error reply: {"error": CODE, "detail": TEXT}, CODE the status's reason in snake case.
api_reply error_reply(http::status status, const std::string& detail);
// `doc` as the JSON body, with `status`.
api_reply json_reply(const nlohmann::json& doc, http::status status = http::status::ok);
// 400 with the check's message.
api_reply bad_request(const error_message& e);

class request_audit;

class api_router {
 public:
  // `console` is served at / (it may be empty: then only the API is).
  api_router(const config& cfg, worker_pool& pool, policy::journal& journal,
             recorder::recording_service& recorder, const console_files& console);

  // Answers one request from `peer` ("127.0.0.1:40000"); never throws. Paths outside /api/ are
  // the console's files.
  boost::asio::awaitable<api_reply> handle(const api_request& req, const std::string& peer);

  ~api_router();
  api_router(const api_router&) = delete;
  api_router& operator=(const api_router&) = delete;

  recorder::recording_service& recorder() { return recorder_; }
  // A request refused before the router saw it (not HTTP, over a limit): audited like one.
  void note_refused(const std::string& peer, unsigned status);

 private:
  struct caller {
    std::string user;
    std::int64_t token_id = 0;
  };
  struct route;

  // A refusal, or nullopt with `who` set.
  boost::asio::awaitable<std::optional<api_reply>> authorize(const api_request& req, const route& r,
                                                             caller& who);
  boost::asio::awaitable<api_reply> authorize_and_route(const api_request& req, caller& who);
  // 200 (empty) when session `id` is live on this node, else the refusal.
  boost::asio::awaitable<api_reply> check_watchable(const std::string& id);
  boost::asio::awaitable<api_reply> issue_live_ticket(const std::string& id, const caller& who);
  boost::asio::awaitable<api_reply> start_live(const api_request& req, const std::string& id);
  boost::asio::awaitable<api_reply> route_sessions(const route& r, const api_request& req,
                                                   const caller& who);
  boost::asio::awaitable<api_reply> list_sessions(const route& r);
  boost::asio::awaitable<api_reply> show_session(const std::string& id);
  boost::asio::awaitable<api_reply> stream_asciicast(const route& r, const std::string& id);
  boost::asio::awaitable<api_reply> kill_session(const std::string& id, const std::string& body,
                                                 const caller& who);
  boost::asio::awaitable<api_reply> list_audit(const route& r);
  boost::asio::awaitable<api_reply> search(const route& r);

  const config& cfg_;
  worker_pool& pool_;
  const console_files& console_;
  recorder::recording_service& recorder_;
  std::unique_ptr<request_audit> audit_;
  static constexpr int max_token_checks = 8;
  std::atomic<int> checking_{0};
  live_tickets tickets_;
};

// A request's place in the API: what the handlers read.
struct api_router::route {
  http::verb method;
  std::vector<std::string_view> segments;  // of the path after /api/v1/
  std::string_view query;
};

}  // namespace bastion::admin
