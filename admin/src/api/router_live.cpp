// The admin API's live-watch routes: a one-time ticket for a browser, and the upgrade of a request
// to the session's watch.
#include <boost/beast/websocket/rfc6455.hpp>

#include <bastion/common/escape.hpp>

#include "router.hpp"

namespace bastion::admin {

namespace asio = boost::asio;
using policy::store;

// Only the node that holds a live session can watch it: its recording tap is in that process.
asio::awaitable<api_reply> api_router::check_watchable(const std::string& id) {
  auto find = [&id](store& db) { return db.find_session(id); };
  const auto session = co_await pool_.run(find);
  if (!session) {
    co_return error_reply(http::status::not_found, "no session " + id);
  }
  if (!session->ended_at.empty()) {
    co_return error_reply(http::status::conflict,
                          "session " + id + " ended at " + session->ended_at +
                              "; replay it: GET /api/v1/sessions/" + id + "/asciicast");
  }
  if (session->node != cfg_.node_name) {
    co_return error_reply(http::status::conflict, "session " + id + " is live on node " +
                                                      escape(session->node, 64) +
                                                      "; watch it through that node's admin API");
  }
  co_return api_reply{};
}

asio::awaitable<api_reply> api_router::issue_live_ticket(const std::string& id, const caller& who) {
  auto checked = co_await check_watchable(id);
  if (checked.status != http::status::ok) {
    co_return checked;
  }
  const auto ticket = tickets_.issue(id, {who.user, who.token_id});
  if (!ticket) {
    co_return error_reply(http::status::service_unavailable,
                          "too many unused live tickets; try again in 30 s");
  }
  co_return json_reply({{"ticket", *ticket},
                        {"url", "/api/v1/sessions/" + id + "/live?ticket=" + *ticket},
                        {"expires_in", live_tickets::lifetime.count()}},
                       http::status::created);
}

asio::awaitable<api_reply> api_router::start_live(const api_request& req, const std::string& id) {
  if (!boost::beast::websocket::is_upgrade(req)) {
    auto reply = error_reply(http::status::upgrade_required,
                             "open this URL as a WebSocket, with the v2.asciicast subprotocol");
    reply.headers.emplace_back(http::field::upgrade, "websocket");
    co_return reply;
  }
  auto reply = co_await check_watchable(id);
  if (reply.status != http::status::ok) {
    co_return reply;
  }
  reply.status = http::status::switching_protocols;
  reply.live = *recorder::parse_session_id(id);  // checked by route_sessions
  co_return reply;
}

}  // namespace bastion::admin
