// `ssh -J bastion LOGIN@t1` with a stock OpenSSH client: the bastion ends the inner handshake
// that -J tunnels through it (the client verifies the inner host key under the target's name),
// authenticates the same user's key again, and relays to the real sshd. Exit codes, stderr apart,
// a PTY with typed input and a window change, and each refusal with its reason.
#include <openssl/sha.h>

#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include <bastion/common/hex.hpp>

#include "build_paths.hpp"
#include "target_support.hpp"

namespace bastion::test {
namespace {

using proxy_jump = jump_session;

TEST_F(proxy_jump, exec_relays_stdout_stderr_and_the_exit_code) {
  const auto r = jump(jump_config_, login() + "@t1", "echo out-line; echo err-line >&2; exit 3");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "out-line\n");
  EXPECT_CONTAINS(r.err, "err-line");
  const std::string log = log_once("started exec");
  EXPECT_CONTAINS(log, "inner session authenticated as login \"" + login() + "\"");
  EXPECT_CONTAINS(log, "connected to \"t1\"");
  // Every line about the session names its client, user, target and session.
  std::istringstream lines(log);
  int session_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" session=") != std::string::npos) {
      ++session_lines;
      for (const char* key : {"src=127.0.0.1:", "user=\"alice\"", "target=\"t1\""}) {
        EXPECT_CONTAINS(line, key);
      }
    }
  }
  EXPECT_GE(session_lines, 2) << log;
  EXPECT_NE(audit_rows("kind = 'auth.inner' AND result = 'ok'", 1).find("ok alice 127.0.0.1:"),
            std::string::npos);
}

// The outer and the inner session offer the same algorithms, as ssh -vv reads them from each
// server's KEXINIT: no NIST ECDH, encrypt-then-MAC only, no compression.
TEST_F(proxy_jump, both_legs_offer_only_the_hardened_algorithms) {
  const auto r = jump(jump_config_, login() + "@t1", "true", "", {"-vv"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string mark = "peer server KEXINIT proposal";
  std::vector<std::string> proposals;
  for (auto at = r.err.find(mark); at != std::string::npos; at = r.err.find(mark, at + 1)) {
    proposals.push_back(r.err.substr(at, r.err.find("first_kex_follows", at) - at));
  }
  ASSERT_EQ(proposals.size(), 2U) << "the outer and the inner server: " << r.err;
  for (const auto& p : proposals) {
    EXPECT_CONTAINS(p,
                    "KEX algorithms: curve25519-sha256,curve25519-sha256@libssh.org,"
                    "diffie-hellman-group16-sha512,kex-strict-s-v00@openssh.com\r\n");
    EXPECT_CONTAINS(p,
                    "MACs ctos: hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com\r\n");
    EXPECT_CONTAINS(p,
                    "MACs stoc: hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com\r\n");
    EXPECT_CONTAINS(p, "compression ctos: none\r\n");
    EXPECT_CONTAINS(p, "compression stoc: none\r\n");
  }
}

// The bastion is the client of the upstream leg, so its order picks the cipher there: AES-GCM,
// one AES-NI pass per packet, where chacha20-poly1305 would cost two.
class proxy_jump_logged_target : public jump_session {
  std::string sshd_config() const override { return "LogLevel DEBUG1"; }
};

TEST_F(proxy_jump_logged_target, the_upstream_leg_prefers_aes_gcm) {
  const auto r = jump(jump_config_, login() + "@t1", "true", "", {"-v"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string log = sshd_->log();
  EXPECT_CONTAINS(log, "kex: client->server cipher: aes128-gcm@openssh.com");
  EXPECT_CONTAINS(log, "kex: server->client cipher: aes128-gcm@openssh.com");
  // The client's legs keep the client's choice (OpenSSH's first: chacha20-poly1305).
  EXPECT_CONTAINS(r.err, "kex: server->client cipher: chacha20-poly1305@openssh.com");
}

// `bastionctl client-config` alone is a working client setup: ssh with nothing but that file (and
// the known_hosts file it wrote) reaches t1 through the bastion, checking both host keys.
TEST_F(proxy_jump, client_config_alone_reaches_a_target_through_the_bastion) {
  const std::string known = (dir() / "client_known_hosts").string();
  const auto cc = run({bastion::test::bastionctl_path(), "--config", config_, "client-config",
                       "--user", "alice", "--host", "127.0.0.1", "--port", std::to_string(port_),
                       "--known-hosts", known, "--identity", alice_key_});
  ASSERT_EQ(cc.exit_code, 0) << cc.err;
  EXPECT_CONTAINS(cc.out, "Host t1\n  ProxyJump bastion\n");
  const std::string snippet = dir().write("client_config", cc.out).string();
  const auto r = run({"ssh", "-F", snippet, login() + "@t1", "echo through-the-snippet"},
                     {.timeout = std::chrono::seconds(60)});
  EXPECT_EQ(r.exit_code, 0) << r.err << cc.out;
  EXPECT_EQ(r.out, "through-the-snippet\n");
  // A value that would change the config's meaning is refused, naming the option.
  const auto bad = run({bastion::test::bastionctl_path(), "--config", config_, "client-config",
                        "--host", "evil\n  ProxyCommand sh"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_CONTAINS(bad.err, "--host \"evil\\x0a  ProxyCommand sh\" cannot go into an ssh_config");
}

TEST_F(proxy_jump, a_typed_pty_session_sees_the_size_and_its_change) {
  // script(1) gives ssh a terminal of 100x30; two seconds in, the terminal grows to 120x40 and
  // ssh sends a window-change, which the target's second `stty size` must show.
  const std::string command =
      "stty cols 100 rows 30; (sleep 2; stty cols 120 rows 40 </dev/tty) & ssh -tt -F " +
      jump_config_ + " " + login() + "@t1";
  const auto r = run({"script", "-qec", command, "/dev/null"},
                     {.stdin_data = "stty size\nsleep 4; stty size\nexit 5\n",
                      .timeout = std::chrono::seconds(60)});
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_CONTAINS(r.out, "30 100");
  EXPECT_CONTAINS(r.out, "40 120");
  EXPECT_LT(r.out.find("30 100"), r.out.find("40 120"));
}

TEST_F(proxy_jump, refusals_say_why) {
  change_policy([&] {
    ok({"target", "add", "t2", "--host", "127.0.0.2", "--port", std::to_string(sshd_->port()),
        "--host-key", sshd_->host_key()});
  });
  const std::string config = jump_config(alice_key_, alice_key_);
  struct refusal {
    std::string destination;
    std::string reason;
  };
  for (const auto& c : std::vector<refusal>{
           {login() + "@t9", "t9:22 is not a registered target"},
           {login() + "@t2", "user alice may not reach t2"},
           {"nobody@t1", "bastion: user alice may not log in to t1 as nobody"},
       }) {
    const auto r = jump(config, c.destination, "echo should-not-run");
    EXPECT_EQ(r.exit_code, 255) << c.destination;
    EXPECT_NE(r.err.find(c.reason), std::string::npos) << c.destination << ": " << r.err;
    EXPECT_EQ(r.out.find("should-not-run"), std::string::npos);
  }
}

// permitopen= on the key holds for the -J destination as sshd holds it for a jump host; the
// destination is the name and port that the client asked for.
TEST_F(proxy_jump, the_keys_permitopen_limits_the_destinations) {
  change_policy([&] {
    ok({"target", "add", "t2", "--host", "127.0.0.1", "--port", std::to_string(sshd_->port()),
        "--host-key", sshd_->host_key()});
    ok({"grant", "alice", "t2", "--login", login()});
  });
  set_alice_key_options(R"(permitopen="t1:22")");
  const auto allowed = jump(jump_config_, login() + "@t1", "echo in");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_EQ(allowed.out, "in\n");
  const auto refused = jump(jump_config_, login() + "@t2", "echo should-not-run");
  EXPECT_EQ(refused.exit_code, 255);
  EXPECT_CONTAINS(refused.err, "the key's permitopen= option does not let it open t2:22");
  EXPECT_EQ(refused.out.find("should-not-run"), std::string::npos);
}

TEST_F(proxy_jump, the_inner_key_must_be_the_same_users) {
  // bob is enabled here so that his key is a valid key, only of another user.
  change_policy([&] {
    postgres_cluster::instance().psql(dbname_,
                                      "UPDATE users SET disabled_at = NULL WHERE name = 'bob'");
  });
  const auto r = jump(jump_config(alice_key_, bob_key_), login() + "@t1", "echo should-not-run");
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_CONTAINS(r.err, "Permission denied (publickey)");
  EXPECT_LOGGED("belongs to another user");
}

// The target's side of the session dies mid-command (its sshd session process is killed): the
// client reads why on stderr and gets 255, and the audit trail has the loss and the ends.
TEST_F(proxy_jump, a_target_that_goes_away_is_reported_and_audited) {
  const auto r =
      jump(jump_config_, login() + "@t1", "echo started; sleep 1; kill -9 $PPID; sleep 30");
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_EQ(r.out, "started\n");
  EXPECT_CONTAINS(r.err, "bastion: the connection to t1 was lost");
  EXPECT_CONTAINS(audit_rows("kind = 'upstream' AND result = 'error'", 1), "error alice");
  EXPECT_CONTAINS(audit_rows("kind = 'session.end'", 1), "ok alice");
  EXPECT_CONTAINS(audit_rows("kind = 'connection' AND result = 'closed'", 1), "closed alice");
}

// Other SSH implementations' jump mechanisms, as their users write them (tests/clients/).
TEST_F(proxy_jump, paramiko_and_asyncssh_jump_through_the_bastion) {
  const std::string known = dir() / "jump_known_hosts";
  for (const char* client : {"paramiko_jump.py", "asyncssh_jump.py"}) {
    // Debian's interpreter: the client libraries are its packages.
    const auto r =
        run({"/usr/bin/python3", bastion::test::clients_dir() + "/" + client, std::to_string(port_),
             known, alice_key_, login(), "t1", "echo via-$0; echo err >&2; exit 4"},
            {.timeout = std::chrono::seconds(60)});
    EXPECT_EQ(r.exit_code, 4) << client << ": " << r.err;
    EXPECT_CONTAINS(r.out, "via-");
    EXPECT_CONTAINS(r.err, "err");
  }
  EXPECT_NE(audit_rows("kind = 'auth.inner' AND result = 'ok'", 2).find("ok alice"),
            std::string::npos);
}

// Past limits.max_auth_tries (6 here) refused destinations, each with its row, a connection's
// refused destinations are refused at the open, so that it cannot write refusal rows without end;
// the connection, its sessions and the destinations it may reach go on.
TEST_F(proxy_jump, refused_destinations_stop_making_rows_at_max_auth_tries) {
  const std::string known = dir() / "jump_known_hosts";
  const auto r = run({"/usr/bin/python3", bastion::test::clients_dir() + "/paramiko_refused.py",
                      std::to_string(port_), known, alice_key_, "20", "t1"},
                     {.timeout = std::chrono::seconds(120)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "opened 6, connection up\nthen t1: SSH banner\n") << read_file(log_);
  EXPECT_LOGGED(
      "6 destinations refused (limits.max_auth_tries): further ones on this connection are "
      "refused without a row");
  const std::string rows = audit_rows("kind = 'session.refused'", 6);
  EXPECT_EQ(std::count(rows.begin(), rows.end(), ','), 5) << "six rows: " << rows;
}

// Hops abandoned during the inner handshake (EOF and CLOSE on the tunnel before the inner
// authentication ends) while the dial to the target waits for the login: the teardown must not
// re-enter the connection's loop (it freed the inner session under its own frames, which an
// ASan build reports), must not audit a cancelled dial as a target error, and the connection
// must go on serving.
TEST_F(proxy_jump, hops_abandoned_during_the_inner_handshake_leave_the_connection_serving) {
  const std::string known = dir() / "jump_known_hosts";
  const auto r = run({"/usr/bin/python3", bastion::test::clients_dir() + "/paramiko_abandon.py",
                      std::to_string(port_), known, alice_key_, login(), "t1", "5"},
                     {.timeout = std::chrono::seconds(120)});
  EXPECT_EQ(r.exit_code, 0) << r.err << read_file(log_);
  EXPECT_EQ(r.out, "still-serving\n");
  EXPECT_FALSE(daemon_->wait_exit(std::chrono::milliseconds(0))) << read_file(log_);
  // Every hop's end is audited (the journal keeps the order): after the 11th, nothing of these
  // hops is still to come.
  const std::string ends = audit_rows("kind = 'session.end'", 11);
  EXPECT_EQ(std::count(ends.begin(), ends.end(), ','), 10) << ends;
  const std::string mark = "inner session closed: ";
  EXPECT_TRUE(eventually([&] { return count_in_log(mark) >= 11; })) << read_file(log_);
  EXPECT_EQ(count_in_log(mark), 11) << read_file(log_);
  EXPECT_EQ(count_in_log("cancelled"), 0) << read_file(log_);
  EXPECT_EQ(audit_rows("kind = 'upstream' AND result = 'error'", 0), "\n");
}

// 50 `ssh -J` sessions at once, each sending 5 MiB that the target checksums.
TEST_F(proxy_jump, fifty_sessions_at_once_arrive_intact) {
  std::mt19937_64 rng(50);
  std::string data(std::size_t{5} * 1024 * 1024, '\0');
  for (auto& c : data) {
    c = static_cast<char>(rng());
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  const std::string expected = to_hex({reinterpret_cast<const char*>(digest), sizeof digest});
  constexpr int sessions = 50;
  const auto results =
      run_concurrently(sessions, {"ssh", "-F", jump_config_, login() + "@t1", "sha256sum"},
                       {.stdin_data = data, .timeout = std::chrono::seconds(180)});
  int intact = 0;
  for (const auto& r : results) {
    intact += r.exit_code == 0 && r.out.substr(0, 64) == expected ? 1 : 0;
  }

  EXPECT_EQ(intact, sessions) << "first failure: " << [&] {
    for (const auto& r : results) {
      if (r.exit_code != 0) {
        return r.err;
      }
    }
    return std::string();
  }();
}

// 50 `ssh -J` logins at once against a target that, as a production one does, lets in only the
// granted login, while bastiond runs as an OS user whose name is not that login (when the tests
// run as root). The inner authentication and the target's key exchange end in either order; in
// every order the target must see the granted login, and the rows must say so.
TEST_F(proxy_jump, fifty_logins_at_once_all_reach_the_target_as_the_granted_login) {
  constexpr int sessions = 50;
  const auto results =
      run_concurrently(sessions, {"ssh", "-F", jump_config_, login() + "@t1", "id -un"},
                       {.timeout = std::chrono::seconds(120)});
  int right = 0;
  std::map<std::string, int> failures;  // the last stderr line of each failure, counted
  for (const auto& r : results) {
    if (r.exit_code == 0 && r.out == login() + "\n") {
      ++right;
    } else {
      std::string err = r.err.substr(0, r.err.find_last_not_of("\r\n") + 1);
      ++failures[err.substr(err.find_last_of('\n') + 1) + " (exit " + std::to_string(r.exit_code) +
                 ")"];
    }
  }
  std::string summary;
  for (const auto& [line, count] : failures) {
    summary += std::to_string(count) + " x " + line + "\n";
  }
  EXPECT_EQ(right, sessions) << summary;
  const auto accepted = sshd_->accepted_logins();
  EXPECT_EQ(accepted.size(), static_cast<std::size_t>(sessions)) << sshd_->log();
  EXPECT_EQ(std::count(accepted.begin(), accepted.end(), login()), sessions) << sshd_->log();
  EXPECT_EQ(sshd_->log().find("not allowed"), std::string::npos) << sshd_->log();
  // The rows carry the login used upstream: the session rows, the session.start audit detail and
  // the upstream connection's audit row.
  EXPECT_TRUE(eventually([&] {
    return count_rows(
               "audit_events WHERE kind = 'upstream' AND result = 'ok' AND "
               "detail->>'login' = '" +
               login() + "'") == sessions;
  })) << read_file(log_);
  EXPECT_EQ(count_rows("sessions WHERE login = '" + login() + "'"), sessions);
  EXPECT_EQ(count_rows("sessions"), sessions);
  EXPECT_EQ(count_rows("audit_events WHERE kind = 'session.start' AND detail->>'login' = '" +
                       login() + "'"),
            sessions);
}

// max_sessions counts the session channels of one client connection over every inner session it
// carries, as sshd's MaxSessions does for its connection: two inner sessions on one outer
// connection (OpenSSH multiplexing on both hops) get 10 channels in all, not 10 each.
TEST_F(proxy_jump, max_sessions_holds_for_the_connection_across_its_inner_sessions) {
  std::string config = read_file(jump_config_);
  const std::string outer_host = "Host bastion\n";
  config.insert(config.find(outer_host) + outer_host.size(),
                "  ControlMaster auto\n  ControlPath " + (dir() / "o-%C").string() +
                    "\n  ControlPersist 60\n");
  const std::string cfg = dir().write("mux_config", config).string();
  const auto socket_count = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir().path())) {
      n += e.is_socket() ? 1 : 0;
    }
    return n;
  };
  child_process outer({"ssh", "-F", cfg, "-N", "-o", "ControlMaster=yes", "bastion"},
                      (dir() / "outer.log").string());
  ASSERT_TRUE(eventually([&] { return socket_count() == 1; }, std::chrono::seconds(30)))
      << read_file((dir() / "outer.log").string());
  std::vector<std::unique_ptr<child_process>> masters;
  for (const std::string name : {"i1", "i2"}) {
    masters.push_back(std::make_unique<child_process>(
        std::vector<std::string>{"ssh", "-F", cfg, "-N", "-o", "ControlMaster=yes", "-o",
                                 "ControlPath=" + (dir() / name).string(), login() + "@t1"},
        (dir() / (name + ".log")).string()));
  }
  ASSERT_TRUE(eventually([&] { return socket_count() == 3; }, std::chrono::seconds(30)))
      << read_file(log_);
  std::vector<std::unique_ptr<child_process>> sessions;
  for (int i = 0; i < 12; ++i) {
    const std::string socket = (dir() / (i % 2 == 0 ? "i1" : "i2")).string();
    sessions.push_back(std::make_unique<child_process>(
        std::vector<std::string>{"ssh", "-F", cfg, "-o", "ControlMaster=no", "-S", socket,
                                 login() + "@t1", "echo started; sleep 30"},
        (dir() / ("s" + std::to_string(i))).string()));
  }
  const auto started = [&] { return outputs_containing("s", 12, "started"); };
  EXPECT_TRUE(eventually([&] { return started() >= 10; }, std::chrono::seconds(30)))
      << started() << " sessions started\n"
      << read_file(log_);
  // The last two are refused: the log says so for each.
  EXPECT_TRUE(eventually([&] { return count_in_log("channel refused: max_sessions 10") >= 2; },
                         std::chrono::seconds(30)))
      << read_file(log_);
  EXPECT_EQ(started(), 10) << read_file(log_);
  EXPECT_EQ(count_in_log("authenticated with"), 1)
      << "one outer connection carries both inner sessions:\n"
      << read_file(log_);
}

// A client that stops reading: the target keeps writing, and the bastion must hold no more than
// its watermarks (windows and one carry per direction), not the stream.
TEST_F(proxy_jump, a_slow_reader_does_not_grow_the_bastions_memory) {
  // Warm up the paths (threads, allocator arenas) before the baseline.
  ASSERT_EQ(jump(jump_config_, login() + "@t1", "head -c 1048576 /dev/zero").exit_code, 0);
  const long before = rss_kib(daemon_->pid());
  // The reader: a pipe into a process that never reads it (sleep), so ssh blocks on its stdout.
  child_process reader(
      {"sh", "-c",
       "ssh -F " + jump_config_ + " " + login() + "@t1 'head -c 1073741824 /dev/zero' | sleep 60"},
      (dir() / "reader.log").string());
  std::this_thread::sleep_for(std::chrono::seconds(4));
  const long during = rss_kib(daemon_->pid());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long later = rss_kib(daemon_->pid());
  EXPECT_LOGGED("inner session authenticated");
  // 1 GiB is waiting at the target, which writes at over 100 MB/s: without backpressure the
  // bastion would hold hundreds of MiB within seconds. With it, it holds a few windows' worth
  // (2.4 MiB in a Release build; an ASan build's allocator adds its quarantine), and nothing
  // more as time passes.
  EXPECT_LT(during - before, 48 * 1024) << "RSS KiB before " << before << ", during " << during;
  EXPECT_LT(later - during, 4 * 1024) << "RSS KiB during " << during << ", later " << later;
}

}  // namespace
}  // namespace bastion::test
