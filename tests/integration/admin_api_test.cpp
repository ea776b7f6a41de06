// The admin HTTP API against a real bastiond and PostgreSQL: tokens, hostile requests, paging and
// the audit of every request.
#include <unistd.h>

#include <set>

#include "admin_api_support.hpp"
#include "build_paths.hpp"

namespace bastion::test {
namespace {

constexpr const char* some_id = "0b6b2a8e-8a3c-4a8e-9f0e-3d2f1c0b9a87";

// Each endpoint, as a method and a target.
const std::vector<std::pair<std::string, std::string>>& endpoints() {
  static const std::vector<std::pair<std::string, std::string>> all{
      {"GET", "/api/v1/me"},
      {"GET", "/api/v1/sessions"},
      {"GET", std::string("/api/v1/sessions/") + some_id},
      {"GET", std::string("/api/v1/sessions/") + some_id + "/asciicast"},
      {"POST", std::string("/api/v1/sessions/") + some_id + "/kill"},
      {"GET", "/api/v1/audit"},
      {"GET", "/api/v1/search?q=exec"},
  };
  return all;
}

class admin_api : public admin_api_fixture {
 protected:
  // Every endpoint answers `status` to `token`, with a JSON error naming `detail`.
  void expect_every_endpoint(const std::string& token, int status, const std::string& detail) {
    for (const auto& [method, target] : endpoints()) {
      const auto r = call(method, target, token);
      EXPECT_EQ(r.status, status) << method << " " << target << "\n" << r.headers << r.body;
      EXPECT_CONTAINS(r.doc.value("detail", ""), detail);
    }
  }
};

TEST_F(admin_api, every_endpoint_takes_only_a_valid_admin_token) {
  for (const auto& [method, target] : endpoints()) {
    const auto r = call(method, target, token_);
    EXPECT_NE(r.status, 401) << method << " " << target;
    EXPECT_NE(r.status, 403) << method << " " << target;
    EXPECT_TRUE(r.status == 200 || r.status == 404) << method << " " << target << ": " << r.body;
  }
  EXPECT_EQ(get("/api/v1/me").doc["user"], "carol");

  expect_every_endpoint("", 401, "Authorization: Bearer TOKEN");
  EXPECT_EQ(call("GET", "/api/v1/me", "").header("WWW-Authenticate"), "Bearer");
  expect_every_endpoint("bst_" + std::string(43, 'A'), 401, "not known");
  expect_every_endpoint("not-a-token", 401, "Authorization: Bearer TOKEN");

  const std::string revoked = new_token("carol");
  const auto listed = json({"token", "list"});
  ASSERT_EQ(listed.size(), 2U);
  ok({"token", "revoke", std::to_string(listed[1]["id"].get<int>())});
  expect_every_endpoint(revoked, 401, "revoked");

  const std::string expiring = new_token("carol", {"--ttl", "1s"});
  EXPECT_EQ(call("GET", "/api/v1/me", expiring).status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  expect_every_endpoint(expiring, 401, "expired");

  // Only admins hold tokens; one whose admin flag was taken away (or who was disabled) is refused.
  const auto refused = ctl({"token", "create", "alice"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_CONTAINS(refused.err, "is not an admin; only admins hold API tokens");
  ok({"user", "add", "dave", "--admin"});
  const std::string demoted = new_token("dave");
  postgres_cluster::instance().psql(dbname_,
                                    "UPDATE users SET is_admin = false WHERE name = 'dave'");
  expect_every_endpoint(demoted, 403, "not an admin");
  ok({"user", "disable", "carol"});
  expect_every_endpoint(token_, 403, "disabled");
  // The token itself is never stored.
  EXPECT_EQ(count_rows("admin_tokens WHERE token_hash = '" + token_ + "'"), 0);
}

TEST_F(admin_api, ids_and_paths_that_try_to_escape_are_refused) {
  for (const std::string& id :
       std::vector<std::string>{"..%2f..%2f..%2fetc%2fpasswd", "..", "%2e%2e", "%00",
                                "0b6b2a8e-8a3c-4a8e-9f0e-3d2f1c0b9a8%00", std::string(4000, 'a'),
                                "0B6B2A8E-8A3C-4A8E-9F0E-3D2F1C0B9A87"}) {
    for (const char* suffix : {"", "/asciicast"}) {
      const auto r = get("/api/v1/sessions/" + id + suffix);
      EXPECT_EQ(r.status, 400) << id << suffix << ": " << r.body;
      EXPECT_CONTAINS(r.doc.value("detail", ""), "is not a session id");
    }
  }
  EXPECT_EQ(get("/api/v1/sessions/../../../etc/passwd").status, 400);
  EXPECT_EQ(get("/api/v1/../../etc/passwd").status, 404);
  // A row altered to point at another file is refused before any file is opened.
  postgres_cluster::instance().psql(
      dbname_, std::string("INSERT INTO sessions (id, node, user_name, target_name, login, "
                           "source_addr, access_form, started_at) VALUES ('") +
                   some_id +
                   "', 'test-node', 'alice', 't1', 'root', '127.0.0.1:1', 'jump', now()); "
                   "INSERT INTO recordings (session_id, path, format_version) VALUES ('" +
                   some_id + "', '../../../../etc/passwd', 1)");
  const auto altered = get(std::string("/api/v1/sessions/") + some_id + "/asciicast");
  EXPECT_EQ(altered.status, 409) << altered.body;
  EXPECT_CONTAINS(altered.doc.value("detail", ""), "the database row was altered");
  // A session another node recorded is in that node's recording.dir.
  const std::string other = "1b6b2a8e-8a3c-4a8e-9f0e-3d2f1c0b9a87";
  postgres_cluster::instance().psql(
      dbname_,
      "INSERT INTO sessions (id, node, user_name, target_name, login, source_addr, "
      "access_form, started_at, ended_at) VALUES ('" +
          other +
          "', 'node-b', 'alice', "
          "'t1', 'root', '127.0.0.1:1', 'jump', now(), now()); INSERT INTO recordings "
          "(session_id, path, format_version) VALUES ('" +
          other + "', '" + other + ".brec', 1)");
  const auto elsewhere = get("/api/v1/sessions/" + other + "/asciicast");
  EXPECT_EQ(elsewhere.status, 404) << elsewhere.body;
  EXPECT_CONTAINS(elsewhere.doc.value("detail", ""), "recorded by node node-b");
}

TEST_F(admin_api, serves_the_console_with_its_policy_and_nothing_else) {
  const auto index = call("GET", "/", "");
  ASSERT_EQ(index.status, 200) << index.headers;
  EXPECT_CONTAINS(index.header("Content-Type"), "text/html");
  EXPECT_CONTAINS(index.body, "/js/main.js");
  // Every answer carries the console's policy: no inline script, nothing from elsewhere.
  EXPECT_CONTAINS(index.header("Content-Security-Policy"), "default-src 'none'; script-src 'self'");
  EXPECT_CONTAINS(get("/api/v1/me").header("Content-Security-Policy"), "frame-ancestors 'none'");
  const auto player = call("GET", "/vendor/asciinema-player.min.js", "");
  EXPECT_EQ(player.status, 200);
  EXPECT_CONTAINS(player.header("Content-Type"), "text/javascript");
  // A browser that has the file revalidates it.
  const auto etag = player.header("ETag");
  ASSERT_FALSE(etag.empty());
  const auto again = parse_http_response(http_exchange(
      admin_port_, "GET /vendor/asciinema-player.min.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: " +
                       etag + "\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  for (const char* path : {"/../../etc/passwd", "/%2e%2e/etc/passwd", "/js/../index.html",
                           "/.git/config", "/nope.html", "/index.html%00"}) {
    EXPECT_EQ(call("GET", path, "").status, 404) << path;
  }
  EXPECT_EQ(call("POST", "/index.html", "").status, 405);
  // Files hold no data and are not audited; the API under them still wants a token.
  EXPECT_EQ(count_rows("audit_events WHERE kind = 'admin.api' AND detail->>'path' LIKE '/vendor%'"),
            0);
  EXPECT_EQ(call("GET", "/api/v1/sessions", "").status, 401);

  // A web root named in the config that cannot be served stops bastiond, naming it.
  ASSERT_EQ(daemon_->stop(SIGTERM), 0);
  std::string text = read_file(config_);
  const std::string listen = "admin: { listen: \"127.0.0.1:" + std::to_string(admin_port_) + "\"";
  text.replace(text.find(listen), listen.size(), listen + ", web_root: \"/nonexistent/web\"");
  const auto bad = dir().write("bad-web-root.yaml", text);
  const auto refused = run({bastion::test::bastiond_path(), "--config", bad.string()},
                           {.timeout = std::chrono::seconds(30)});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_CONTAINS(refused.err + refused.out,
                  "admin.web_root: web console at /nonexistent/web: no index.html");
}

TEST_F(admin_api, hostile_requests_get_a_clear_error_and_change_nothing) {
  const std::string auth = "Authorization: Bearer " + token_ + "\r\n";
  const auto huge_header = parse_http_response(
      http_exchange(admin_port_, "GET /api/v1/me HTTP/1.1\r\nHost: x\r\n" + auth +
                                     "X-Pad: " + std::string(9000, 'p') + "\r\n\r\n"));
  EXPECT_EQ(huge_header.status, 431);
  EXPECT_CONTAINS(huge_header.doc.value("detail", ""), "headers are over 8 KiB");
  const auto huge_body = parse_http_response(
      http_exchange(admin_port_, std::string("POST /api/v1/sessions/") + some_id +
                                     "/kill HTTP/1.1\r\nHost: x\r\n" + auth +
                                     "Content-Length: 70000\r\n\r\n" + std::string(70000, '{')));
  EXPECT_EQ(huge_body.status, 413);
  EXPECT_CONTAINS(huge_body.doc.value("detail", ""), "body is over 64 KiB");
  const auto not_http = parse_http_response(http_exchange(admin_port_, "HELLO\r\n\r\n"));
  EXPECT_EQ(not_http.status, 400);

  // Bad JSON, unknown fields and bad query values are named; nothing is killed or listed.
  for (const char* body : {"{", "[1]", R"({"reason": 5})", R"({"why": "x"})"}) {
    const auto r = call("POST", std::string("/api/v1/sessions/") + some_id + "/kill", token_, body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_FALSE(r.doc.value("detail", "").empty()) << r.body;
  }
  EXPECT_EQ(count_rows("audit_events WHERE kind = 'admin.kill'"), 0);
  for (const auto& [target, detail] : std::vector<std::pair<std::string, std::string>>{
           {"/api/v1/sessions?limit=0", "limit must be a whole number from 1 to 1000"},
           {"/api/v1/sessions?limit=5&limit=6", "given twice"},
           {"/api/v1/sessions?bogus=1", "unknown query parameter \"bogus\""},
           {"/api/v1/sessions?user=%ZZ", "not followed by two hex digits"},
           {"/api/v1/sessions?user=a%00b", "UTF-8 text"},
           {"/api/v1/sessions?cursor=123", "cursor is not one this API gave"},
           {"/api/v1/sessions?since=yesterday-ish", "refused the value"},
           {"/api/v1/audit?kind=DROP%20TABLE", "is not an audit kind"},
           {"/api/v1/sessions/" + std::string(some_id) + "/asciicast?from=-1", "from must be"}}) {
    const auto r = get(target);
    EXPECT_EQ(r.status, 400) << target << ": " << r.body;
    EXPECT_CONTAINS(r.doc.value("detail", ""), detail);
    EXPECT_EQ(r.doc.value("error", ""), "bad_request");
  }
  // HEAD is refused and the connection closed; the scheme's name is case-insensitive.
  const auto head = parse_http_response(
      http_exchange(admin_port_, "HEAD /api/v1/me HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n"));
  EXPECT_EQ(head.status, 405);
  EXPECT_EQ(head.header("Connection"), "close");
  const auto lower = parse_http_response(
      http_exchange(admin_port_,
                    "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "authorization: bearer " +
                        token_ + "\r\n\r\n"));
  EXPECT_EQ(lower.status, 200) << lower.body;
  const auto wrong_method = call("DELETE", "/api/v1/sessions", token_);
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.header("Allow"), "GET");
  EXPECT_EQ(get("/api/v1/nothing").status, 404);
  EXPECT_EQ(count_rows("sessions"), 0);
}

TEST_F(admin_api, one_address_holds_at_most_its_share_of_connections) {
  // admin.max_connections_per_source (10): the eleventh from one address is closed at accept,
  // and one from another address still gets in.
  std::vector<int> held;
  for (int i = 0; i < 10; ++i) {
    held.push_back(connect_loopback(admin_port_));
    ASSERT_GE(held.back(), 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int extra = connect_loopback(admin_port_);
  ASSERT_GE(extra, 0);
  const std::string req = "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(write(extra, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  char byte = 0;
  EXPECT_LE(read(extra, &byte, 1), 0) << "the eleventh connection was served";
  close(extra);
  const auto other = parse_http_response(
      http_exchange(admin_port_,
                    "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "Authorization: Bearer " +
                        token_ + "\r\n\r\n",
                    "127.0.0.2"));
  EXPECT_EQ(other.status, 200);
  for (const int fd : held) {
    close(fd);
  }
}

TEST_F(admin_api, pages_through_a_thousand_sessions_without_a_duplicate_or_a_gap) {
  // Sessions that share start times (to the microsecond, or one apart): the page boundary must
  // break ties by id and keep microseconds exact.
  postgres_cluster::instance().psql(
      dbname_,
      "INSERT INTO sessions (id, node, user_name, target_name, login, source_addr, access_form, "
      "started_at) SELECT gen_random_uuid(), 'n', 'alice', 't' || (i % 7), 'root', '127.0.0.1:1', "
      "'jump', timestamptz '2026-12-01' + (i / 10) * interval '1 second' + "
      "(i % 3) * interval '1 microsecond' "
      "FROM generate_series(1, 1000) AS i");
  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 100; ++page) {
    const auto r = get("/api/v1/sessions?limit=37" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    for (const auto& s : r.doc["sessions"]) {
      seen.push_back(s["id"]);
    }
    if (page == 3) {
      // Sessions that start while an admin pages do not shift the pages after.
      postgres_cluster::instance().psql(
          dbname_,
          "INSERT INTO sessions (id, node, user_name, target_name, login, source_addr, "
          "access_form, started_at) SELECT gen_random_uuid(), 'n', 'bob', 't', 'root', "
          "'127.0.0.1:1', 'jump', now() FROM generate_series(1, 50)");
    }
    if (r.doc["next_cursor"].is_null()) {
      break;
    }
    cursor = r.doc["next_cursor"];
  }
  EXPECT_EQ(seen.size(), 1000U);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 1000U);
  const std::string expected = postgres_cluster::instance().psql(
      dbname_,
      "SELECT string_agg(id::text, ',' ORDER BY started_at DESC, id DESC) FROM sessions "
      "WHERE user_name = 'alice'");
  std::string got;
  for (const auto& id : seen) {
    got += (got.empty() ? "" : ",") + id;
  }
  EXPECT_EQ(got + "\n", expected);
  // Filters page too.
  const auto t3 = get("/api/v1/sessions?target=t3&limit=1000");
  EXPECT_EQ(t3.doc["sessions"].size(), 143U);
  EXPECT_TRUE(t3.doc["next_cursor"].is_null());
}

TEST_F(admin_api, every_request_is_audited_with_who_and_what) {
  EXPECT_EQ(get("/api/v1/sessions?user=alice").status, 200);
  EXPECT_EQ(call("GET", "/api/v1/audit", "").status, 401);
  EXPECT_EQ(get(std::string("/api/v1/sessions/") + some_id).status, 404);
  EXPECT_CONTAINS(audit_rows("kind = 'admin.api'", 3), "ok carol 127.0.0.1:");
  const std::string detail = postgres_cluster::instance().psql(
      dbname_,
      "SELECT string_agg(result || ' ' || actor || ' ' || (detail->>'status') || ' ' || "
      "(detail->>'path') || ' ' || coalesce(session_id::text, '-'), ',' ORDER BY id) "
      "FROM audit_events WHERE kind = 'admin.api'");
  EXPECT_EQ(detail, std::string("ok carol 200 /api/v1/sessions?user=alice -,denied  401 "
                                "/api/v1/audit -,error carol 404 /api/v1/sessions/") +
                        some_id + " " + some_id + "\n");
  // Admins read the trail through the API too.
  const auto trail = get("/api/v1/audit?kind=admin.api&limit=2");
  ASSERT_EQ(trail.doc["events"].size(), 2U);
  EXPECT_EQ(trail.doc["events"][0]["detail"]["status"], 404);
}

}  // namespace
}  // namespace bastion::test
