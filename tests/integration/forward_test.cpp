// Port forwarding through the bastion with OpenSSH clients, a real sshd as the target and a small
// HTTP server: -L, -D (curl through the SOCKS port) and -R by -J and by the username form, when the
// grant allows them and when it does not; each forward is a channel row with its destination and
// bytes, its content recorded only with --record-forward-data; an SSH connection run through a
// forward is flagged and cut; VS Code Remote-SSH's pattern (ssh -T -D PORT ... bash, a script on
// stdin, then connections through the SOCKS port to a server on the target's loopback).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "target_support.hpp"

namespace bastion::test {
namespace {

constexpr std::size_t blob_bytes = std::size_t{1} << 20;

class forwarding : public jump_session {
 protected:
  void SetUp() override {
    jump_session::SetUp();
    std::filesystem::create_directories(dir() / "www");
    std::string blob(blob_bytes, '\0');
    std::mt19937 random(7);
    for (auto& c : blob) {
      c = static_cast<char>(random());
    }
    std::ofstream(dir() / "www" / "blob", std::ios::binary) << blob;
    blob_ = blob;
    http_port_ = free_port();
    http_ = serve_http(http_port_, "http");
  }

  // A small HTTP server on 127.0.0.1:port serving dir()/www, wherever it runs (the client side or
  // the target: both are this machine).
  std::unique_ptr<child_process> serve_http(int port, const std::string& name) const {
    auto server = std::make_unique<child_process>(
        std::vector<std::string>{"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1",
                                 "--directory", (dir() / "www").string(), std::to_string(port)},
        (dir() / (name + ".log")).string());
    EXPECT_TRUE(wait_for_port(port, std::chrono::seconds(10))) << "the HTTP server did not start";
    return server;
  }

  void allow(const std::vector<std::string>& extra) {
    change_policy([&] {
      std::vector<std::string> argv{"grant", "alice", "t1", "--login", login()};
      argv.insert(argv.end(), extra.begin(), extra.end());
      ok(argv);
    });
  }

  // A client through the bastion (by -J or by the username form) holding `forwards` open while
  // `command` runs on the target; once its log shows `mark` (which ssh -v's echo of the command
  // must not hold: "echo ready-$((6*7))" prints it).
  std::unique_ptr<child_process> hold(bool by_jump, const std::vector<std::string>& forwards,
                                      const std::string& command, const std::string& name,
                                      const std::string& mark = "ready-42") {
    const auto argv = client_argv(by_jump, forwards, command);
    const std::string log = (dir() / (name + ".log")).string();
    auto client = std::make_unique<child_process>(argv, log);
    EXPECT_TRUE(eventually([&] { return read_file(log).find(mark) != std::string::npos; },
                           std::chrono::seconds(30)))
        << name << ": " << read_file(log);
    return client;
  }

  // What curl fetched from `url` (through `socks`, a SOCKS port, if given), or "" if it failed.
  std::string fetch(const std::string& url, const std::string& socks = {}) const {
    const std::string out = (dir() / "fetched").string();
    std::filesystem::remove(out);
    std::vector<std::string> argv{"curl", "-sf", "--max-time", "20", "-o", out};
    if (!socks.empty()) {
      argv.insert(argv.end(), {"--socks5-hostname", socks});
    }
    argv.push_back(url);
    const auto r = run(argv);
    return r.exit_code == 0 ? read_file(out) : std::string();
  }

  std::string blob_url(int port, const std::string& host = "127.0.0.1") const {
    return "http://" + host + ":" + std::to_string(port) + "/blob";
  }

  std::string sql(const std::string& query) const {
    return postgres_cluster::instance().psql(dbname_, query);
  }

  // The forwards' channel rows once `n` have landed: "kind host:port in out" lines.
  std::string forward_rows(int n) const {
    std::string rows;
    eventually([&] {
      rows = sql(
          "SELECT string_agg(kind || ' ' || (detail->>'host') || ':' || (detail->>'port') || ' ' "
          "|| bytes_in || ' ' || bytes_out, E'\\n' ORDER BY kind, id) FROM channels WHERE kind "
          "IN ('direct-tcpip', 'forwarded-tcpip')");
      return std::count(rows.begin(), rows.end(), '\n') >= n;
    });
    return rows;
  }

  std::string blob_;
  int http_port_ = 0;
  std::unique_ptr<child_process> http_;
};

// -L and -D toward the HTTP server from the target, -R from the target back to it, in one
// client; the parameter picks the access form (true: -J).
class granted_forwarding : public forwarding, public ::testing::WithParamInterface<bool> {};

TEST_P(granted_forwarding, local_dynamic_and_remote_forwards_work_and_are_channel_rows) {
  const bool by_jump = GetParam();
  // -J records the forwards' bytes, the username form only counts them.
  allow(by_jump ? std::vector<std::string>{"--allow", "exec,forward,remote-forward",
                                           "--record-forward-data"}
                : std::vector<std::string>{"--allow", "exec,forward,remote-forward"});
  const int local = free_port();
  const int socks = free_port();
  const int remote = free_port();
  const std::string fetched_remote = (dir() / "fetched-remote").string();
  // On the target, through -R: back to the HTTP server on the client's side.
  const std::string command = "for i in $(seq 100); do curl -sf --max-time 20 -o " +
                              fetched_remote + " " + blob_url(remote) +
                              " && break; sleep 0.1; done; echo ready-$((6*7)); sleep 60";
  // -J binds -R as OpenSSH does by default ("localhost"); the username form names 127.0.0.1,
  // which the forwarded connections must then name too.
  const std::string bind = by_jump ? "" : "127.0.0.1:";
  auto client = hold(by_jump,
                     {"-L", std::to_string(local) + ":127.0.0.1:" + std::to_string(http_port_),
                      "-D", std::to_string(socks), "-R",
                      bind + std::to_string(remote) + ":127.0.0.1:" + std::to_string(http_port_)},
                     command, "client");
  EXPECT_TRUE(read_file(fetched_remote) == blob_)
      << "-R did not carry the file: " << read_file((dir() / "client.log").string());
  EXPECT_TRUE(fetch(blob_url(local)) == blob_) << "-L did not carry the file";
  EXPECT_TRUE(fetch(blob_url(http_port_, "localhost"), "127.0.0.1:" + std::to_string(socks)) ==
              blob_)
      << "-D did not carry the file";
  client->stop(SIGTERM);

  const std::string rows = forward_rows(3);
  std::printf("forward channel rows:\n%s", rows.c_str());
  std::istringstream lines(rows);
  std::string kind;
  std::string where;
  long in = 0;
  long out = 0;
  int direct = 0;
  int remote_rows = 0;
  while (lines >> kind >> where >> in >> out) {
    if (kind == "direct-tcpip") {  // the target's connection to the HTTP server
      ++direct;
      EXPECT_TRUE(where == "127.0.0.1:" + std::to_string(http_port_) ||
                  where == "localhost:" + std::to_string(http_port_))
          << where;
      EXPECT_GT(in, 0) << "the request";
      EXPECT_GT(out, static_cast<long>(blob_bytes)) << "the response";
    } else {  // the target's curl, answered from the client's side
      ++remote_rows;
      EXPECT_EQ(where, (by_jump ? "localhost:" : "127.0.0.1:") + std::to_string(remote));
      EXPECT_GT(in, static_cast<long>(blob_bytes));
      EXPECT_GT(out, 0);
    }
  }
  EXPECT_EQ(direct, 2);
  EXPECT_EQ(remote_rows, 1);
  // Three copies of the file crossed: recorded with --record-forward-data, else only counted.
  std::string raw;
  eventually([&] {
    raw = sql("SELECT bytes_raw FROM recordings WHERE finalised_at IS NOT NULL");
    return !raw.empty();
  });
  const long recorded = std::stol(raw);
  if (by_jump) {
    EXPECT_GT(recorded, static_cast<long>(3 * blob_bytes));
  } else {
    EXPECT_LT(recorded, static_cast<long>(64 * 1024));
  }
  EXPECT_EQ(audit_rows("kind = 'remote-forward' AND result = 'ok'", 1).empty(), false);
}

INSTANTIATE_TEST_SUITE_P(access_forms, granted_forwarding, ::testing::Values(true, false),
                         [](const auto& param) { return param.param ? "jump" : "username_form"; });

TEST_F(forwarding, forwards_that_the_grant_does_not_allow_are_refused_and_audited) {
  allow({"--allow", "exec"});
  for (const bool by_jump : {true, false}) {
    const int local = free_port();
    const int socks = free_port();
    const int remote = free_port();
    auto client = hold(by_jump,
                       {"-L", std::to_string(local) + ":127.0.0.1:" + std::to_string(http_port_),
                        "-D", std::to_string(socks), "-R",
                        std::to_string(remote) + ":127.0.0.1:" + std::to_string(http_port_)},
                       "echo ready-$((6*7)); sleep 60", by_jump ? "jump" : "name");
    EXPECT_EQ(fetch(blob_url(local)), "");
    EXPECT_EQ(fetch(blob_url(http_port_), "127.0.0.1:" + std::to_string(socks)), "");
    const std::string log = (dir() / (by_jump ? "jump.log" : "name.log")).string();
    EXPECT_TRUE(eventually([&] {
      return read_file(log).find("remote port forwarding failed") != std::string::npos;
    })) << read_file(log);
    EXPECT_TRUE(eventually([&] {
      return read_file(log).find("administratively prohibited") != std::string::npos;
    })) << read_file(log);
    client->stop(SIGTERM);
  }
  const std::string reasons = audit_rows("kind = 'forward.refused'", 4);
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), ','), 3) << reasons;
  EXPECT_CONTAINS(sql("SELECT string_agg(DISTINCT detail->>'reason', ',') FROM audit_events "
                      "WHERE kind = 'forward.refused'"),
                  "does not allow forward on t1");
  EXPECT_EQ(sql("SELECT count(*) FROM audit_events WHERE kind = 'remote-forward.refused'"), "2\n");
  EXPECT_EQ(sql("SELECT count(*) FROM channels WHERE kind IN ('direct-tcpip', 'forwarded-tcpip')"),
            "0\n");
}

TEST_F(forwarding, an_ssh_connection_through_a_forward_is_flagged_and_cut_unless_allowed) {
  allow({"--allow", "exec,forward"});
  const int local = free_port();
  const std::string to_sshd = std::to_string(local) + ":127.0.0.1:" + std::to_string(sshd_->port());
  for (const bool by_jump : {true, false}) {
    auto client =
        hold(by_jump, {"-L", to_sshd}, "echo ready-$((6*7)); sleep 60", by_jump ? "jump" : "name");
    // An ssh to the target's own sshd through the forward: the session inside would go
    // unrecorded.
    const auto inside =
        run({"ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-p",
             std::to_string(local), "-i", alice_key_, login() + "@127.0.0.1", "echo inside"});
    EXPECT_EQ(inside.exit_code, 255) << inside.out << inside.err;
    EXPECT_EQ(inside.out.find("inside"), std::string::npos);
    client->stop(SIGTERM);
  }
  const std::string flagged = audit_rows("kind = 'forward.ssh_inside' AND result = 'denied'", 2);
  EXPECT_EQ(std::count(flagged.begin(), flagged.end(), ','), 1) << flagged;

  // --allow-ssh-inside lets it through, still flagged: the target's banner arrives.
  allow({"--allow", "exec,forward", "--allow-ssh-inside"});
  auto client = hold(true, {"-L", to_sshd}, "echo ready-$((6*7)); sleep 60", "jump-allowed");
  const int fd = connect_loopback(local);
  ASSERT_GE(fd, 0);
  char banner[8] = {};
  std::size_t got = 0;
  while (got < sizeof banner) {
    const ssize_t n = ::read(fd, banner + got, sizeof banner - got);
    if (n <= 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  EXPECT_EQ(std::string(banner, got), "SSH-2.0-");
  client->stop(SIGTERM);
  EXPECT_EQ(audit_rows("kind = 'forward.ssh_inside' AND result = 'ok'", 1).empty(), false);
}

// A forward whose destination refuses, a listen that the target refuses, an unrelated reload: the
// session goes on; a grant that no longer allows forward ends it (revoked) while a forward is open.
TEST_F(forwarding, failed_forwards_leave_the_session_and_revoking_forward_ends_it) {
  allow({"--allow", "exec,forward,remote-forward"});
  const int local = free_port();
  const int closed = free_port();  // nothing listens there
  const int remote = free_port();
  const int to_http = free_port();
  auto client = hold(
      true,
      {"-L", std::to_string(local) + ":127.0.0.1:" + std::to_string(closed), "-L",
       std::to_string(to_http) + ":127.0.0.1:" + std::to_string(http_port_),
       // The target cannot listen where its HTTP server already does.
       "-R", "127.0.0.1:" + std::to_string(http_port_) + ":127.0.0.1:" + std::to_string(remote)},
      "echo ready-$((6*7)); sleep 60", "jump");
  const std::string log = (dir() / "jump.log").string();
  EXPECT_EQ(fetch("http://127.0.0.1:" + std::to_string(local) + "/"), "");
  EXPECT_CONTAINS(audit_rows("kind = 'remote-forward' AND result = 'error' AND detail->>'listen' "
                             "= '127.0.0.1:" +
                                 std::to_string(http_port_) + "'",
                             1),
                  "error alice");
  // A reload that changes nothing for this session (another user) leaves it running.
  const std::string carol = make_ssh_key(dir(), "carol", "ed25519");
  change_policy([&] { ok({"user", "add", "carol", "--key", carol + ".pub"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(client->wait_exit(std::chrono::milliseconds(0))) << read_file(log);

  // A connection through the forward that stays open (the HTTP server waits for its request).
  const int held = connect_loopback(to_http);
  ASSERT_GE(held, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  allow({"--allow", "exec"});
  const auto exited = client->wait_exit(std::chrono::seconds(5));
  ASSERT_TRUE(exited) << read_file(log);
  EXPECT_EQ(*exited, 255);
  EXPECT_CONTAINS(read_file(log), "no longer allows forward on t1");
  ::close(held);
  EXPECT_EQ(sql("SELECT ended_reason FROM sessions"), "revoked\n");
}

// `ssh -N -L PORT:t1:HTTP alice@bastion`: the outer connection forwards to a registered host's
// other port, a plain TCP forward from the bastion, only where the grant allows forward. It is a
// session of its own with one direct-tcpip channel; an SSH connection through it is cut.
TEST_F(forwarding, a_forward_on_the_outer_connection_reaches_a_registered_hosts_other_port) {
  for (const bool granted : {false, true}) {
    allow({"--allow", granted ? "exec,forward" : "exec"});
    const int local = free_port();
    const std::string log = (dir() / (granted ? "outer-granted.log" : "outer.log")).string();
    child_process client(
        ssh_argv("alice", {alice_key_},
                 {"-N", "-L", std::to_string(local) + ":t1:" + std::to_string(http_port_)}, ""),
        log);
    ASSERT_TRUE(eventually([&] { return wait_for_port(local, std::chrono::milliseconds(100)); }))
        << read_file(log);
    std::string fetched;
    eventually([&] {
      fetched = fetch(blob_url(local));
      return !granted || !fetched.empty();
    });
    EXPECT_EQ(fetched == blob_, granted)
        << sql("SELECT string_agg(detail->>'reason', ',') FROM audit_events WHERE kind = "
               "'forward.refused'");
    client.stop(SIGTERM);
  }
  EXPECT_CONTAINS(sql("SELECT string_agg(detail->>'reason', ',') FROM audit_events WHERE kind = "
                      "'forward.refused'"),
                  "does not allow forward to t1");
  std::string row;
  eventually([&] {
    // The readiness probe above made a forward too, which carried nothing.
    row =
        sql("SELECT s.target_name || ' ' || c.kind || ' ' || (c.detail->>'host') || ':' || "
            "(c.detail->>'port') || ' ' || s.login || ' ' || s.ended_reason FROM channels c "
            "JOIN sessions s ON s.id = c.session_id WHERE s.ended_at IS NOT NULL AND "
            "c.bytes_out > " +
            std::to_string(blob_bytes));
    return !row.empty() && row != "\n";
  });
  EXPECT_EQ(row, "t1 direct-tcpip t1:" + std::to_string(http_port_) + " " + login() +
                     " the forward closed\n");

  // An sshd on another port of t1's host, registered nowhere: an SSH connection through the
  // plain forward is cut and flagged.
  sshd_server unregistered;
  unregistered.authorize(read_file(alice_key_ + ".pub"));  // uncut, the login would succeed
  const int to_sshd = free_port();
  child_process client(
      ssh_argv("alice", {alice_key_},
               {"-N", "-L", std::to_string(to_sshd) + ":t1:" + std::to_string(unregistered.port())},
               ""),
      (dir() / "outer-ssh.log").string());
  ASSERT_TRUE(eventually([&] { return wait_for_port(to_sshd, std::chrono::milliseconds(100)); }));
  const auto inside =
      run({"ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
           "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-p", std::to_string(to_sshd),
           "-i", alice_key_, login() + "@127.0.0.1", "echo inside"});
  EXPECT_EQ(inside.exit_code, 255) << inside.out << inside.err;
  EXPECT_EQ(inside.out.find("inside"), std::string::npos);
  EXPECT_EQ(audit_rows("kind = 'forward.ssh_inside' AND result = 'denied'", 1).empty(), false);
}

// VS Code Remote-SSH starts its server with a script on the stdin of `ssh -T -D PORT ... bash`,
// then reaches the server on the target's loopback through the SOCKS port.
TEST_F(forwarding, vs_code_remote_ssh_pattern_works_by_both_forms_and_is_recorded) {
  allow({"--allow", "exec,forward"});
  for (const bool by_jump : {true, false}) {
    const int socks = free_port();
    const int server = free_port();
    const std::string done = (dir() / "done").string();
    std::filesystem::remove(done);
    const std::string script = "/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory " +
                               (dir() / "www").string() + " " + std::to_string(server) +
                               " >/dev/null 2>&1 &\necho listeningOn=" + std::to_string(server) +
                               "\nfor i in $(seq 600); do [ -e " + done +
                               " ] && break; sleep 0.1; done\nkill $!\n";
    std::vector<std::string> argv;
    if (by_jump) {
      argv = {"ssh",           "-F",  jump_config_, "-T", "-D", std::to_string(socks),
              login() + "@t1", "bash"};
    } else {
      argv = ssh_argv(login() + "@t1", {alice_key_}, {"-T", "-D", std::to_string(socks)}, "bash");
    }
    run_result session;
    std::thread ssh_thread([&] { session = run(argv, {.stdin_data = script}); });
    // The server runs on the target, which is this machine: the test sees it listen.
    EXPECT_TRUE(wait_for_port(server, std::chrono::seconds(30)));
    std::string fetched;
    eventually(
        [&] {
          fetched = fetch(blob_url(server), "127.0.0.1:" + std::to_string(socks));
          return !fetched.empty();
        },
        std::chrono::seconds(30));
    std::ofstream(done) << "";
    ssh_thread.join();
    EXPECT_TRUE(fetched == blob_) << (by_jump ? "-J" : "username form") << ": " << session.err;
    EXPECT_CONTAINS(session.out, "listeningOn=" + std::to_string(server));
    EXPECT_EQ(session.exit_code, 0) << session.err;
  }
  // Each session: the exec of bash with the script as its input, and the forwards to the server.
  std::string rows;
  eventually([&] {
    rows = sql(
        "SELECT string_agg(c.kind || ' ' || coalesce(c.detail->>'command', c.detail->>'host', '') "
        "|| ' ' || (c.bytes_in > 0), ',' ORDER BY s.started_at, c.kind DESC) FROM channels c "
        "JOIN sessions s ON s.id = c.session_id WHERE c.closed_at IS NOT NULL AND (c.kind = "
        "'session' OR (c.kind = 'direct-tcpip' AND c.bytes_out > 0))");
    return std::count(rows.begin(), rows.end(), ',') >= 3;
  });
  std::printf("channels: %s", rows.c_str());
  EXPECT_EQ(std::count(rows.begin(), rows.end(), ','), 3) << rows;
  EXPECT_EQ(rows,
            "session bash true,direct-tcpip 127.0.0.1 true,session bash true,direct-tcpip "
            "127.0.0.1 true\n");
}

}  // namespace
}  // namespace bastion::test
