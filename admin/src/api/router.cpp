// The admin API's routes.
#include "router.hpp"

#include <boost/beast/websocket/rfc6455.hpp>
#include <charconv>
#include <cmath>

#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>
#include <bastion/policy/tokens.hpp>

#include "../views.hpp"
#include "query.hpp"
#include "request_audit.hpp"

namespace bastion::admin {

namespace asio = boost::asio;
using policy::store;

namespace {

constexpr std::string_view api_prefix = "/api/v1/";
constexpr int max_page = 1000;

std::string snake_reason(http::status status) {
  std::string out(http::obsolete_reason(status));
  for (auto& c : out) {
    c = c == ' ' || c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

api_reply store_error_reply(const policy::store_error& e) {
  using kind = policy::store_error::kind;
  switch (e.code()) {
    case kind::unavailable:
      return error_reply(http::status::service_unavailable, e.what());
    case kind::not_found:
      return error_reply(http::status::not_found, e.what());
    case kind::conflict:
      return error_reply(http::status::conflict, e.what());
    case kind::invalid:
      return error_reply(http::status::bad_request, e.what());
    case kind::failed:
      break;
  }
  // The database's own words stay in the log: they may name its tables and settings.
  spdlog::error("admin API: {}", log_value(e.what()));
  return error_reply(http::status::internal_server_error,
                     "the database failed to answer; see bastiond's log");
}

api_reply method_not_allowed(std::string_view allowed) {
  auto r = error_reply(http::status::method_not_allowed,
                       "this resource takes " + std::string(allowed) + " only");
  r.headers.emplace_back(http::field::allow, std::string(allowed));
  return r;
}

// Seconds into the session, as ?from= gives them: a finite number from 0 to a year.
result<std::chrono::microseconds> from_param(const query_params& q) {
  const auto text = text_param(q, "from");
  if (!text) {
    return std::chrono::microseconds(0);
  }
  double seconds = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), seconds);
  if (ec != std::errc() || end != text->data() + text->size() || !std::isfinite(seconds) ||
      seconds < 0 || seconds > 366.0 * 24 * 3600) {
    return make_error("from must be a number of seconds into the session, from 0");
  }
  return std::chrono::microseconds(static_cast<std::int64_t>(seconds * 1e6));
}

// A kill's body: none, or {"reason": TEXT} for the audit trail.
result<std::string> kill_reason(const std::string& body) {
  if (body.empty()) {
    return std::string();
  }
  const auto doc = nlohmann::json::parse(body, nullptr, false);
  if (!doc.is_object()) {
    return make_error("the body is not a JSON object; send none, or {\"reason\": \"...\"}");
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "reason") {
      return make_error("unknown field \"" + escape(key, 64) + "\"; the body takes only reason");
    }
    if (!value.is_string() || value.get<std::string>().size() > 200) {
      return make_error("reason must be a string of at most 200 bytes");
    }
  }
  return doc.value("reason", std::string());
}

// The console's files hold no data: they are served without a token and not audited, with an ETag
// so that a browser revalidates instead of fetching them again.
api_reply console_reply(const console_files& console, const api_request& req) {
  const std::string_view target = req.target();
  const auto* file = console.find(target.substr(0, target.find('?')));
  if (file == nullptr) {
    return error_reply(http::status::not_found,
                       console.empty()
                           ? "no such resource; this bastiond serves no web console (its log says "
                             "why at startup) and the API is under /api/v1/"
                           : "no such resource; the console is at / and the API under /api/v1/");
  }
  if (req.method() != http::verb::get) {
    return method_not_allowed("GET");
  }
  api_reply r;
  r.headers.emplace_back(http::field::etag, file->etag);
  r.headers.emplace_back(http::field::cache_control, "no-cache");
  if (req[http::field::if_none_match] == file->etag) {
    r.status = http::status::not_modified;
    r.content_type = file->content_type;
    return r;
  }
  r.content_type = file->content_type;
  r.body = file->body;
  return r;
}

}  // namespace

api_reply json_reply(const nlohmann::json& doc, http::status status) {
  api_reply r;
  r.status = status;
  r.body = dump_json(doc) + "\n";
  return r;
}

api_reply bad_request(const error_message& e) {
  return error_reply(http::status::bad_request, e.text);
}

api_reply error_reply(http::status status, const std::string& detail) {
  return json_reply({{"error", snake_reason(status)}, {"detail", detail}}, status);
}

api_router::api_router(const config& cfg, worker_pool& pool, policy::journal& journal,
                       recorder::recording_service& recorder, const console_files& console)
    : cfg_(cfg),
      pool_(pool),
      console_(console),
      recorder_(recorder),
      audit_(std::make_unique<request_audit>(journal)) {}

api_router::~api_router() = default;

void api_router::note_refused(const std::string& peer, unsigned status) {
  audit_->unreadable(peer, status);
}

asio::awaitable<api_reply> api_router::handle(const api_request& req, const std::string& peer) {
  if (!std::string_view(req.target()).starts_with("/api/")) {
    auto reply = console_reply(console_, req);
    if (reply.status == http::status::not_found) {
      audit_->request(req, peer, "", 0, 404);  // a probe: what was asked for is kept
    }
    co_return reply;
  }
  caller who;
  api_reply reply;
  try {
    reply = co_await authorize_and_route(req, who);
  } catch (const pool_busy& e) {
    reply = error_reply(http::status::service_unavailable, e.what());
    reply.headers.emplace_back(http::field::retry_after, "1");
  } catch (const policy::store_error& e) {
    reply = store_error_reply(e);
  } catch (const std::exception& e) {
    const std::string_view target = req.target();
    spdlog::error("admin API: {} {}: {}", std::string(req.method_string()),
                  log_value(target.substr(0, target.find('?'))), log_value(e.what()));
    reply = error_reply(http::status::internal_server_error, "internal error; see bastiond's log");
  }
  audit_->request(req, peer, who.user, who.token_id, static_cast<unsigned>(reply.status));
  co_return reply;
}

// A watch's WebSocket may carry a one-time ticket in its URL instead of the header.
asio::awaitable<std::optional<api_reply>> api_router::authorize(const api_request& req,
                                                                const route& r, caller& who) {
  // Only an upgrade spends a ticket; the token behind it must still let its holder in.
  if (r.segments.size() == 3 && r.segments[2] == "live" &&
      boost::beast::websocket::is_upgrade(req)) {
    const auto q = parse_query(r.query, {"ticket"});
    if (const auto ticket = q ? text_param(*q, "ticket") : std::nullopt) {
      const auto holder = tickets_.redeem(*ticket, std::string(r.segments[1]));
      if (!holder) {
        co_return error_reply(http::status::unauthorized,
                              "the ticket is unknown, used or expired; ask for another with POST "
                              "/api/v1/sessions/ID/live-ticket");
      }
      auto recheck = [id = holder->token_id](store& db) { return db.check_token_id(id); };
      const auto check = co_await pool_.run(recheck);
      who = {check.user, check.token_id};
      if (check.verdict != policy::token_verdict::ok) {
        co_return error_reply(http::status::forbidden,
                              std::string(policy::describe(check.verdict)));
      }
      co_return std::nullopt;
    }
  }
  const std::string_view auth = req[http::field::authorization];
  constexpr std::string_view bearer = "Bearer ";  // the scheme's name is case-insensitive
  if (auth.size() < bearer.size() ||
      !boost::beast::iequals(auth.substr(0, bearer.size()), bearer) ||
      !policy::looks_like_admin_token(auth.substr(bearer.size()))) {
    auto reply = error_reply(http::status::unauthorized,
                             "send Authorization: Bearer TOKEN, with a token from `bastionctl "
                             "token create USER`");
    reply.headers.emplace_back(http::field::www_authenticate, "Bearer");
    co_return reply;
  }
  // Token checks have a bound of their own below the pool's: a flood of made-up tokens must
  // leave the pool to the admins who hold real ones.
  if (checking_.fetch_add(1) >= max_token_checks) {
    checking_.fetch_sub(1);
    auto busy = error_reply(http::status::service_unavailable,
                            "too many token checks at once; try again in a moment");
    busy.headers.emplace_back(http::field::retry_after, "1");
    co_return busy;
  }
  struct release {
    std::atomic<int>& n;
    ~release() { n.fetch_sub(1); }
  } const checked{checking_};
  auto check_token = [hash = policy::admin_token_hash(auth.substr(bearer.size()))](store& db) {
    return db.check_token(hash);
  };
  const auto check = co_await pool_.run(check_token);
  who = {check.user, check.token_id};
  if (check.verdict == policy::token_verdict::ok) {
    co_return std::nullopt;
  }
  const bool known_user = check.verdict == policy::token_verdict::not_admin ||
                          check.verdict == policy::token_verdict::disabled;
  auto reply = error_reply(known_user ? http::status::forbidden : http::status::unauthorized,
                           std::string(policy::describe(check.verdict)));
  if (!known_user) {
    reply.headers.emplace_back(http::field::www_authenticate, "Bearer error=\"invalid_token\"");
  }
  co_return reply;
}

asio::awaitable<api_reply> api_router::authorize_and_route(const api_request& req, caller& who) {
  const std::string_view target = req.target();
  if (!target.starts_with(api_prefix)) {
    co_return error_reply(http::status::not_found, "no such resource; the API is under /api/v1/");
  }
  const auto query_at = target.find('?');
  const route r{
      req.method(), split_path(target.substr(api_prefix.size(), query_at - api_prefix.size())),
      query_at == std::string_view::npos ? std::string_view() : target.substr(query_at + 1)};
  if (auto refused = co_await authorize(req, r, who)) {
    co_return std::move(*refused);
  }
  if (r.segments.size() == 1 && r.segments[0] == "me") {
    if (r.method != http::verb::get) {
      co_return method_not_allowed("GET");
    }
    co_return json_reply({{"user", who.user}, {"token", who.token_id}});
  }
  if (r.segments.size() == 1 && r.segments[0] == "search") {
    if (r.method != http::verb::get) {
      co_return method_not_allowed("GET");
    }
    co_return co_await search(r);
  }
  if (r.segments.size() == 1 && r.segments[0] == "audit") {
    if (r.method != http::verb::get) {
      co_return method_not_allowed("GET");
    }
    co_return co_await list_audit(r);
  }
  if (!r.segments.empty() && r.segments[0] == "sessions") {
    co_return co_await route_sessions(r, req, who);
  }
  co_return error_reply(http::status::not_found,
                        "no such resource; see docs/admin-api.md for the endpoints");
}

// GCC 12 miscompiles a co_await inside a conditional expression: each await stands alone.
asio::awaitable<api_reply> api_router::route_sessions(const route& r, const api_request& req,
                                                      const caller& who) {
  const auto& seg = r.segments;
  if (seg.size() == 1) {
    if (r.method != http::verb::get) {
      co_return method_not_allowed("GET");
    }
    co_return co_await list_sessions(r);
  }
  // Checked before any use: nothing but a session id reaches a query or a file name.
  if (!policy::is_session_id(seg[1])) {
    co_return error_reply(
        http::status::bad_request,
        "\"" + escape(seg[1], 64) + "\" is not a session id (8-4-4-4-12 lowercase hex)");
  }
  if (seg.size() > 3) {
    co_return error_reply(http::status::not_found, "no such resource under /api/v1/sessions/ID/");
  }
  const std::string id(seg[1]);
  const std::string_view leaf = seg.size() == 3 ? seg[2] : std::string_view();
  const bool post = leaf == "kill" || leaf == "live-ticket";
  if (!leaf.empty() && leaf != "asciicast" && leaf != "live" && !post) {
    co_return error_reply(http::status::not_found, "no such resource under /api/v1/sessions/ID/");
  }
  if (r.method != (post ? http::verb::post : http::verb::get)) {
    co_return method_not_allowed(post ? "POST" : "GET");
  }
  if (leaf.empty()) {
    co_return co_await show_session(id);
  }
  if (leaf == "asciicast") {
    co_return co_await stream_asciicast(r, id);
  }
  if (leaf == "live") {
    co_return co_await start_live(req, id);
  }
  if (leaf == "live-ticket") {
    co_return co_await issue_live_ticket(id, who);
  }
  co_return co_await kill_session(id, req.body(), who);
}

// Keyset pagination: a page ends at its last row's (started_at, id), and the next page starts
// strictly after it, so sessions that start meanwhile neither repeat nor push rows off a page.
asio::awaitable<api_reply> api_router::list_sessions(const route& r) {
  const auto q = parse_query(r.query, {"live", "user", "target", "since", "limit", "cursor"});
  if (!q) {
    co_return bad_request(q.error());
  }
  const auto live = bool_param(*q, "live");
  if (!live) {
    co_return bad_request(live.error());
  }
  const auto limit = int_param(*q, "limit", 100, 1, max_page);
  if (!limit) {
    co_return bad_request(limit.error());
  }
  policy::session_filter f{*live, text_param(*q, "user"), text_param(*q, "target"),
                           text_param(*q, "since"), *limit + 1};
  if (const auto cursor = text_param(*q, "cursor")) {
    f.after = policy::parse_session_cursor(*cursor);
    if (!f.after) {
      co_return error_reply(http::status::bad_request,
                            "cursor is not one this API gave; pass next_cursor as it came");
    }
  }
  auto query = [&f](store& db) { return db.list_sessions(f); };
  auto rows = co_await pool_.run(query);
  nlohmann::json next = nullptr;
  if (rows.size() > static_cast<std::size_t>(*limit)) {
    rows.resize(static_cast<std::size_t>(*limit));
    next = policy::to_string({rows.back().started_unix_us, rows.back().id});
  }
  auto list = nlohmann::json::array();
  for (const auto& s : rows) {
    list.push_back(session_json(s));
  }
  co_return json_reply({{"sessions", std::move(list)}, {"next_cursor", std::move(next)}});
}

asio::awaitable<api_reply> api_router::show_session(const std::string& id) {
  auto query = [&id](store& db) {
    auto session = db.find_session(id);
    auto channels = session ? db.list_channels(id) : std::vector<policy::channel_info>{};
    return std::pair(std::move(session), std::move(channels));
  };
  auto found = co_await pool_.run(query);
  if (!found.first) {
    co_return error_reply(http::status::not_found, "no session " + id);
  }
  auto doc = session_json(*found.first);
  doc["channels"] = nlohmann::json::array();
  for (const auto& c : found.second) {
    doc["channels"].push_back(channel_json(c));
  }
  co_return json_reply(doc);
}

asio::awaitable<api_reply> api_router::stream_asciicast(const route& r, const std::string& id) {
  const auto q = parse_query(r.query, {"from"});
  if (!q) {
    co_return bad_request(q.error());
  }
  const auto from = from_param(*q);
  if (!from) {
    co_return bad_request(from.error());
  }
  auto find = [&id](store& db) { return db.find_session(id); };
  const auto session = co_await pool_.run(find);
  if (!session) {
    co_return error_reply(http::status::not_found, "no session " + id);
  }
  auto open = [this, &s = *session] {
    return recorder::open_session_recording(cfg_.recording.dir, s.id, s.recording_file, s.head_hash,
                                            false);
  };
  auto opened = co_await pool_.run_plain(open);
  if (!opened && session->node != cfg_.node_name) {
    co_return error_reply(http::status::not_found,
                          "session " + id + " was recorded by node " + escape(session->node, 64) +
                              "; its recording is in that node's recording.dir");
  }
  if (!opened) {
    co_return error_reply(http::status::conflict, opened.error().text);
  }
  // A live session's file may end inside the chunk being written: its valid prefix plays.
  if (!opened->report.ok && !session->ended_at.empty()) {
    co_return error_reply(http::status::conflict, "session " + id + ": chunk " +
                                                      std::to_string(*opened->report.bad_chunk) +
                                                      " is bad (" + opened->report.problem +
                                                      "); run `bastionctl verify " + id + "`");
  }
  api_reply reply;
  reply.content_type = "application/x-asciicast";
  auto index = [&rec = *opened, at = *from] {
    return std::make_unique<recorder::asciicast_stream>(std::move(rec), at);
  };
  reply.cast = co_await pool_.run_plain(index);
  co_return reply;
}

asio::awaitable<api_reply> api_router::kill_session(const std::string& id, const std::string& body,
                                                    const caller& who) {
  const auto reason = kill_reason(body);
  if (!reason) {
    co_return bad_request(reason.error());
  }
  auto kill = [&](store& db) {
    db.set_actor(who.user);
    return db.request_kill(id, *reason);
  };
  const auto asked = co_await pool_.run(kill);
  if (!asked.ended_at.empty()) {
    co_return error_reply(http::status::conflict, "session " + id + " already ended at " +
                                                      asked.ended_at + " (" +
                                                      escape(asked.ended_reason, 200) + ")");
  }
  co_return json_reply({{"session", session_json(asked)},
                        {"detail", "asked node " + asked.node +
                                       " to end it; its row says "
                                       "killed once the recording is final"}},
                       http::status::accepted);
}

asio::awaitable<api_reply> api_router::list_audit(const route& r) {
  const auto q = parse_query(r.query, {"user", "target", "since", "kind", "session", "limit"});
  if (!q) {
    co_return bad_request(q.error());
  }
  const auto limit = int_param(*q, "limit", 100, 1, max_page);
  if (!limit) {
    co_return bad_request(limit.error());
  }
  const policy::audit_filter f{text_param(*q, "user"),    text_param(*q, "target"),
                               text_param(*q, "since"),   text_param(*q, "kind"),
                               text_param(*q, "session"), *limit};
  auto query = [&f](store& db) { return db.list_audit(f); };
  const auto rows = co_await pool_.run(query);
  auto list = nlohmann::json::array();
  for (const auto& a : rows) {
    list.push_back(audit_json(a));
  }
  co_return json_reply({{"events", std::move(list)}});
}

}  // namespace bastion::admin
