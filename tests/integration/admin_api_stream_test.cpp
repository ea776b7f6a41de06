// The admin API with real sessions and recordings: a session's detail and cast, a 100 MiB cast
// streamed in bounded memory, kill, and TLS.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>

#include <bastion/policy/store.hpp>
#include <bastion/recorder/chunk_writer.hpp>
#include <bastion/recorder/file_sink.hpp>

#include "admin_api_support.hpp"
#include "build_paths.hpp"
#include "target_support.hpp"

namespace bastion::test {
namespace {

using namespace std::chrono_literals;
using std::chrono::microseconds;

class admin_api_sessions : public with_admin_api<proxy_session> {
 protected:
  // The id of the one session whose row has ended, once it has.
  std::string ended_session() const {
    std::string id;
    eventually([&] {
      id = postgres_cluster::instance().psql(
          dbname_,
          "SELECT id FROM sessions WHERE ended_at IS NOT NULL ORDER BY started_at DESC LIMIT 1");
      return !id.empty();
    });
    return id.substr(0, id.find('\n'));
  }
};

TEST_F(admin_api_sessions, a_session_shows_its_channels_and_plays_as_asciicast) {
  const auto r = exec(login() + "@t1", "echo hello-from-the-api; exit 3");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const std::string id = ended_session();
  ASSERT_FALSE(id.empty());
  const auto detail = get("/api/v1/sessions/" + id);
  ASSERT_EQ(detail.status, 200) << detail.body;
  EXPECT_EQ(detail.doc["user"], "alice");
  EXPECT_EQ(detail.doc["target"], "t1");
  ASSERT_EQ(detail.doc["channels"].size(), 1U) << detail.body;
  EXPECT_EQ(detail.doc["channels"][0]["kind"], "session");
  EXPECT_EQ(detail.doc["channels"][0]["exit_status"], 3);
  EXPECT_CONTAINS(detail.doc["channels"][0]["detail"].dump(), "echo hello-from-the-api");

  const auto cast = get("/api/v1/sessions/" + id + "/asciicast");
  ASSERT_EQ(cast.status, 200) << cast.body;
  EXPECT_EQ(cast.header("Content-Type"), "application/x-asciicast");
  EXPECT_EQ(cast.header("Transfer-Encoding"), "chunked");
  const auto header = nlohmann::json::parse(cast.body.substr(0, cast.body.find('\n')));
  EXPECT_EQ(header["version"], 2);
  EXPECT_CONTAINS(cast.body, R"("o","hello-from-the-api\n"])");
  // From past the end: the header alone.
  const auto late = get("/api/v1/sessions/" + id + "/asciicast?from=3600");
  EXPECT_EQ(late.status, 200);
  EXPECT_EQ(std::count(late.body.begin(), late.body.end(), '\n'), 1) << late.body;
}

TEST_F(admin_api_sessions, kill_ends_a_live_session_and_is_audited) {
  child_process client(ssh_argv(login() + "@t1", {alice_key_}, {"-q"}, "sleep 60"),
                       (dir() / "client.log").string());
  std::string id;
  ASSERT_TRUE(eventually([&] {
    id = postgres_cluster::instance().psql(dbname_,
                                           "SELECT id FROM sessions WHERE ended_at IS NULL");
    return !id.empty();
  }));
  id = id.substr(0, id.find('\n'));
  const auto live = get("/api/v1/sessions?live=true");
  ASSERT_EQ(live.doc["sessions"].size(), 1U) << live.body;
  const auto killed =
      call("POST", "/api/v1/sessions/" + id + "/kill", token_, R"({"reason": "incident 42"})");
  EXPECT_EQ(killed.status, 202) << killed.body;
  const auto code = client.wait_exit(10s);
  ASSERT_TRUE(code.has_value()) << "the client did not end";
  EXPECT_NE(*code, 0);
  EXPECT_TRUE(
      eventually([&] { return get("/api/v1/sessions/" + id).doc["ended_at"].is_string(); }));
  EXPECT_CONTAINS(get("/api/v1/sessions/" + id).doc["ended_reason"].get<std::string>(), "killed");
  EXPECT_EQ(count_rows("audit_events WHERE kind = 'admin.kill' AND actor = 'carol' AND "
                       "detail->>'reason' = 'incident 42'"),
            1);
  const auto again = call("POST", "/api/v1/sessions/" + id + "/kill", token_);
  EXPECT_EQ(again.status, 409);
  EXPECT_CONTAINS(again.doc.value("detail", ""), "already ended");
}

class admin_api_recordings : public admin_api_fixture {
 protected:
  // A finished PTY session whose output is `mib` MiB of printable text, written as bastiond's
  // recorder writes it, with its rows.
  std::string record_big_session(int mib) {
    using namespace recorder;
    file_header header;
    header.id = random_session_id();
    header.started_unix_us = 1764064800000000;
    std::string id = to_string(header.id);
    policy::store db(conninfo_, "test", "test-node");
    db.start_session({id,
                      "test-node",
                      {"alice", "web1", "deploy", "127.0.0.1:50000", "SSH-2.0-OpenSSH_9.2", "jump"},
                      recording_file_name(header.id)});
    auto sink = posix_file_sink::create(recording_dir(), recording_file_name(header.id));
    EXPECT_TRUE(sink) << sink.error().text;
    chunk_writer writer(std::move(*sink), header);
    writer.add({.type = event_type::channel_open, .channel = 0, .data = R"({"kind":"session"})"});
    writer.add({.type = event_type::channel_request,
                .channel = 0,
                .data = R"({"request":"pty-req","term":"xterm","cols":80,"rows":24})"});
    std::mt19937 rng(7);
    std::string block(std::size_t{64} * 1024, ' ');
    for (int i = 0; i < mib * 16; ++i) {
      for (auto& c : block) {
        c = static_cast<char>('!' + rng() % 90);
      }
      block.back() = '\n';
      writer.add({.type = event_type::data,
                  .channel = 0,
                  .offset = microseconds(1000 * i),
                  .stream = stream::output,
                  .data = block});
      EXPECT_TRUE(writer.flush());
    }
    db.end_session(id, "client closed",
                   {to_hex(writer.head()), writer.raw_bytes(), writer.stored_bytes(),
                    writer.chunk_count(), 0});
    // bastiond reads the file as its service user.
    if (const auto uid = unprivileged_uid()) {
      EXPECT_EQ(::chown((recording_dir() / recording_file_name(header.id)).c_str(), *uid,
                        static_cast<gid_t>(-1)),
                0);
    }
    return id;
  }
};

TEST_F(admin_api_recordings, a_100_mib_cast_streams_in_bounded_memory) {
  const std::string id = record_big_session(100);
  // Under AddressSanitizer (scripts/test's second run) freed memory waits in a 256 MiB quarantine
  // before reuse, and RSS would count it: this bastiond runs without one. Release ignores it.
  const char* asan = std::getenv("ASAN_OPTIONS");  // NOLINT(concurrency-mt-unsafe): no setenv
  restart_bastiond("", {"env", std::string("ASAN_OPTIONS=") + (asan != nullptr ? asan : "") +
                                   ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"});
  const pid_t pid = daemon_->pid();
  const long before = rss_kib(pid);
  reset_peak_rss(pid);
  const auto started = std::chrono::steady_clock::now();
  const auto cast = get("/api/v1/sessions/" + id + "/asciicast");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const long peak = peak_rss_kib(pid);
  ASSERT_EQ(cast.status, 200) << cast.headers;
  // Every output event arrived, whole: the header line and 1,600 events of 64 KiB.
  EXPECT_EQ(std::count(cast.body.begin(), cast.body.end(), '\n'), 1 + 1600);
  EXPECT_GT(cast.body.size(), 100U * 1024 * 1024);
  EXPECT_EQ(cast.body.substr(cast.body.size() - 5), "\\n\"]\n") << "the last event is cut";
  std::cout << "asciicast of 100 MiB: " << cast.body.size() / (std::size_t{1024} * 1024)
            << " MiB in " << seconds << " s; bastiond RSS " << before / 1024 << " MiB before, peak "
            << peak / 1024 << " MiB during\n";
  EXPECT_LT(peak - before, 16L * 1024)
      << "bastiond's RSS grew by " << (peak - before) / 1024 << " MiB while streaming";
}

TEST_F(admin_api_recordings, tls_serves_the_api_and_plain_http_is_loopback_only) {
  // Anywhere but loopback, plain HTTP would send tokens in clear text: refused at startup.
  std::string text = read_file(config_);
  const std::string loopback =
      "admin: { listen: \"127.0.0.1:" + std::to_string(admin_port_) + "\" }";
  text.replace(text.find(loopback), loopback.size(),
               "admin: { listen: \"0.0.0.0:" + std::to_string(admin_port_) + "\" }");
  const auto open_config = dir().write("open.yaml", text);
  const auto refused =
      run({bastion::test::bastiond_path(), "--check-config", "--config", open_config.string()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_CONTAINS(refused.err, "set admin.tls_cert and admin.tls_key, or listen on 127.0.0.1");

  const std::string cert = (dir() / "admin-cert.pem").string();
  const std::string key = (dir() / "admin-key.pem").string();
  const auto made =
      run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
           "-addext", "subjectAltName=IP:127.0.0.1"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  if (const auto uid = unprivileged_uid()) {
    ASSERT_EQ(::chown(key.c_str(), *uid, static_cast<gid_t>(-1)), 0);
  }
  ASSERT_EQ(daemon_->stop(SIGTERM), 0);
  text = read_file(config_);
  text.replace(text.find(loopback), loopback.size(),
               loopback.substr(0, loopback.size() - 2) + ", tls_cert: \"" + cert +
                   "\", tls_key: \"" + key + "\" }");
  std::ofstream(config_, std::ios::trunc) << text;
  daemon_ = start_bastiond(config_, log_ = (dir() / "tls.log").string());
  ASSERT_TRUE(daemon_);
  EXPECT_LOGGED("admin API on https://127.0.0.1:" + std::to_string(admin_port_));
  const std::string url = "https://127.0.0.1:" + std::to_string(admin_port_) + "/api/v1/me";
  const auto ok_tls =
      run({"curl", "-sS", "--cacert", cert, "-H", "Authorization: Bearer " + token_, url});
  EXPECT_EQ(ok_tls.exit_code, 0) << ok_tls.err;
  EXPECT_EQ(nlohmann::json::parse(ok_tls.out, nullptr, false).value("user", ""), "carol")
      << ok_tls.out;
  // No fallback to clear text on the TLS port.
  EXPECT_EQ(
      parse_http_response(http_exchange(admin_port_, "GET /api/v1/me HTTP/1.1\r\nHost: x\r\n\r\n"))
          .status,
      0);
}

}  // namespace
}  // namespace bastion::test
