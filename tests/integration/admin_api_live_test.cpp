// Watching a live session through the admin API's WebSocket, as asciinema-player does: a line
// typed in the session reaches the watcher, a watcher that stops reading is dropped while the
// session goes on, and tickets are good once.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <fstream>

#include "admin_api_support.hpp"
#include "target_support.hpp"

namespace bastion::test {
namespace {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using namespace std::chrono_literals;

// A WebSocket client that offers the v2.asciicast subprotocol, as asciinema-player does; every
// read gives up after 20 s.
class watch_client {
 public:
  // Opens ws://127.0.0.1:port`target`; the handshake's error, if any.
  boost::system::error_code open(int port, const std::string& target) {
    boost::system::error_code ec;
    ws_.next_layer().connect(
        {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, ec);
    if (ec) {
      return ec;
    }
    const timeval limit{20, 0};
    setsockopt(ws_.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(boost::beast::http::field::sec_websocket_protocol, "v2.asciicast");
    }));
    ws_.handshake(response_, "127.0.0.1", target, ec);
    return ec;
  }
  // The next message; nullopt once the server closed (close_code() says how) or nothing came.
  std::optional<std::string> read() {
    boost::beast::flat_buffer buffer;
    boost::system::error_code ec;
    ws_.read(buffer, ec);
    if (ec) {
      return std::nullopt;
    }
    return boost::beast::buffers_to_string(buffer.data());
  }
  int close_code() const { return static_cast<int>(ws_.reason().code); }
  const websocket::response_type& response() const { return response_; }

 private:
  asio::io_context io_;
  websocket::stream<asio::ip::tcp::socket> ws_{io_};
  websocket::response_type response_;
};

class admin_api_live : public with_admin_api<proxy_session> {
 protected:
  // A session that waits for the file GO in dir() before running `then` on the target, with a
  // PTY; it stays live until then.
  std::unique_ptr<child_process> start_waiting_session(const std::string& then) {
    const std::string go = (dir() / "GO").string();
    auto client = std::make_unique<child_process>(
        ssh_argv(login() + "@t1", {alice_key_}, {"-q", "-tt"},
                 "while [ ! -e " + go + " ]; do sleep 0.05; done; " + then),
        (dir() / "client.log").string());
    EXPECT_TRUE(eventually([&] { return !live_id().empty(); }));
    return client;
  }
  std::string live_id() const {
    const std::string id = postgres_cluster::instance().psql(
        dbname_, "SELECT id FROM sessions WHERE ended_at IS NULL LIMIT 1");
    return id.substr(0, id.find('\n'));
  }
  void go() const { std::ofstream((dir() / "GO").string()) << "go\n"; }
  std::string ticket_url(const std::string& id) const {
    const auto t = call("POST", "/api/v1/sessions/" + id + "/live-ticket", token_);
    EXPECT_EQ(t.status, 201) << t.body;
    return t.doc.value("url", "");
  }
};

TEST_F(admin_api_live, a_watcher_sees_what_the_session_prints_as_it_happens) {
  auto client = start_waiting_session("echo live-$((6 * 7))-marker; sleep 1");
  const std::string id = live_id();
  ASSERT_FALSE(id.empty());
  const std::string url = ticket_url(id);
  watch_client watch;
  ASSERT_FALSE(watch.open(admin_port_, url)) << url;
  EXPECT_EQ(watch.response()[boost::beast::http::field::sec_websocket_protocol], "v2.asciicast");
  const auto header = nlohmann::json::parse(watch.read().value_or(""), nullptr, false);
  EXPECT_EQ(header.value("version", 0), 2) << header;
  // While the session is live: the ticket was good once, and a ticket whose token was revoked
  // since it was issued is good for nothing.
  watch_client again;
  EXPECT_TRUE(again.open(admin_port_, url));
  const std::string second = new_token("carol");
  const auto t = call("POST", "/api/v1/sessions/" + id + "/live-ticket", second);
  ASSERT_EQ(t.status, 201) << t.body;
  const auto tokens = json({"token", "list"});
  ok({"token", "revoke", std::to_string(tokens.back()["id"].get<int>())});
  watch_client revoked;
  EXPECT_TRUE(revoked.open(admin_port_, t.doc.value("url", "")));
  go();
  std::string seen;
  for (auto msg = watch.read(); msg; msg = watch.read()) {
    const auto ev = nlohmann::json::parse(*msg, nullptr, false);
    ASSERT_TRUE(ev.is_array()) << *msg;
    if (ev[1] == "o") {
      seen += ev[2].get<std::string>();
    }
  }
  // The line the shell printed (the command itself says 6 * 7), then a normal close as it ended.
  EXPECT_CONTAINS(seen, "live-42-marker");
  EXPECT_EQ(watch.close_code(), 1000);
  EXPECT_EQ(client->wait_exit(20s), std::optional<int>(0));
  // The trail names the watch without its ticket.
  EXPECT_EQ(count_rows("audit_events WHERE kind = 'admin.api' AND detail->>'status' = '101' AND "
                       "detail->>'path' LIKE '%/live?(redacted)' AND actor = 'carol'"),
            1);
}

TEST_F(admin_api_live, a_watcher_that_stops_reading_is_dropped_and_the_session_goes_on) {
  auto client =
      start_waiting_session("head -c 40000000 /dev/zero | tr '\\0' x; echo; echo done-ok");
  const std::string id = live_id();
  ASSERT_FALSE(id.empty());
  watch_client watch;
  ASSERT_FALSE(watch.open(admin_port_, ticket_url(id)));
  ASSERT_TRUE(watch.read());  // the header; then it reads nothing while the session prints
  const auto started = std::chrono::steady_clock::now();
  go();
  const auto code = client->wait_exit(120s);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(code.has_value()) << "the session did not finish";
  EXPECT_EQ(*code, 0);
  EXPECT_CONTAINS(read_file((dir() / "client.log").string()), "done-ok");
  std::cout << "40 MB through a PTY with a stalled watcher: " << seconds << " s\n";
  // What had fit in the socket's buffers arrives, then the close that dropped it.
  while (watch.read()) {
  }
  EXPECT_EQ(watch.close_code(), 1008);
}

TEST_F(admin_api_live, only_live_sessions_here_can_be_watched) {
  const auto r = exec(login() + "@t1", "true");
  ASSERT_EQ(r.exit_code, 0);
  const std::string ended =
      postgres_cluster::instance().psql(dbname_, "SELECT id FROM sessions LIMIT 1");
  const std::string id = ended.substr(0, ended.find('\n'));
  ASSERT_TRUE(
      eventually([&] { return get("/api/v1/sessions/" + id).doc["ended_at"].is_string(); }));
  const auto late = call("POST", "/api/v1/sessions/" + id + "/live-ticket", token_);
  EXPECT_EQ(late.status, 409);
  EXPECT_CONTAINS(late.doc.value("detail", ""), "/asciicast");
  EXPECT_EQ(get("/api/v1/sessions/0b6b2a8e-8a3c-4a8e-9f0e-3d2f1c0b9a87/live-ticket").status, 405);
  EXPECT_EQ(
      call("POST", "/api/v1/sessions/0b6b2a8e-8a3c-4a8e-9f0e-3d2f1c0b9a87/live-ticket", token_)
          .status,
      404);
  // A plain GET is told to upgrade; a bad ticket is refused before any upgrade.
  const auto plain = get("/api/v1/sessions/" + id + "/live");
  EXPECT_EQ(plain.status, 426);
  watch_client forged;
  EXPECT_TRUE(forged.open(admin_port_,
                          "/api/v1/sessions/" + id + "/live?ticket=bst_" + std::string(43, 'x')));
  EXPECT_EQ(call("GET", "/api/v1/sessions/" + id + "/live?ticket=nope", "").status, 401);
}

}  // namespace
}  // namespace bastion::test
