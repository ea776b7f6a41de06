// Sessions relayed by the bastion in the username form (ssh LOGIN@TARGET@bastion) to a real
// OpenSSH sshd: exit codes, stdout and stderr apart, stdin in full, and every refusal with its
// reason on the client's stderr.
#include <openssl/sha.h>

#include <random>

#include <bastion/common/hex.hpp>

#include "build_paths.hpp"
#include "target_support.hpp"

namespace bastion::test {
namespace {

TEST_F(proxy_session, exec_relays_stdout_stderr_and_the_exit_code) {
  const auto r = exec(login() + "@t1", "echo out-line; echo err-line >&2; exit 3");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "out-line\n");
  EXPECT_CONTAINS(r.err, "err-line");
  EXPECT_EQ(r.out.find("err-line"), std::string::npos);
  EXPECT_LOGGED("connected to \"t1\"");
}

// The pre-auth banner (by default "This session is recorded.") reaches the client once, before it
// authenticates; ssh prints it on stderr.
TEST_F(proxy_session, the_banner_is_printed_before_authentication) {
  const auto r = ssh(login() + "@t1", {alice_key_}, {}, "true");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto banner = r.err.find("This session is recorded.");
  ASSERT_NE(banner, std::string::npos) << r.err;
  EXPECT_LT(banner, r.err.find("Authenticated to")) << r.err;
  EXPECT_EQ(r.err.find("This session is recorded.", banner + 1), std::string::npos) << r.err;
}

// SIGHUP reads the config again: a broken file changes nothing (the log names the key) and the
// bastion keeps serving; a good one applies log_level at once and names what waits for a restart.
TEST_F(proxy_session, sighup_reloads_the_config_and_a_broken_one_changes_nothing) {
  const std::string good = read_file(config_);
  std::ofstream(config_) << good << "limits: { max_auth_tries: 0 }\n";
  ASSERT_EQ(kill(daemon_->pid(), SIGHUP), 0);
  ASSERT_NE(log_once("keeping the running config").find("keeping the running config"),
            std::string::npos)
      << read_file(log_);
  EXPECT_CONTAINS(read_file(log_), "limits: given twice");
  EXPECT_EQ(exec(login() + "@t1", "echo still-serving").out, "still-serving\n");

  std::string changed = with_log_level(good, "debug");
  changed.replace(changed.find("drain_timeout: 5s"), 17, "drain_timeout: 6s");
  std::ofstream(config_) << changed;
  ASSERT_EQ(kill(daemon_->pid(), SIGHUP), 0);
  ASSERT_NE(log_once("SIGHUP: reloaded").find("SIGHUP: reloaded"), std::string::npos)
      << read_file(log_);
  EXPECT_CONTAINS(read_file(log_),
                  "SIGHUP: limits changed in " + config_ + "; it takes effect at the next start");
  const std::size_t mark = read_file(log_).size();
  EXPECT_EQ(exec(login() + "@t1", "echo debug-now").out, "debug-now\n");
  EXPECT_CONTAINS(log_once(" debug ", mark).substr(mark), " debug ");
}

// A user name and a command holding a newline, ESC and a right-to-left override (U+202E) reach
// the log escaped: no forged line, no terminal sequence, nothing reordered.
TEST_F(proxy_session, hostile_names_and_commands_reach_the_log_escaped) {
  const std::string hostile =
      "x\nforged=1 \x1b[31m\xE2\x80\xAE"
      "cod.exe";
  const std::string escaped = "x\\x0aforged=1 \\x1b[31m\\xe2\\x80\\xaecod.exe";
  std::string user_hex;
  for (const char c : "mallory" + hostile) {
    user_hex += to_hex(std::string(1, c));
  }
  const auto login_try =
      run({"/usr/bin/python3", bastion::test::clients_dir() + "/paramiko_hostile_user.py",
           std::to_string(port_), known_hosts_, alice_key_, user_hex});
  EXPECT_EQ(login_try.out, "refused\n") << login_try.err;
  const auto r = exec(login() + "@t1", "true '" + hostile + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(eventually([&] { return count_in_log("started exec") == 1; })) << read_file(log_);
  const std::string log = read_file(log_);
  EXPECT_CONTAINS(log, "user=\"mallory" + escaped + "\"") << log;
  EXPECT_CONTAINS(log, "started exec \"true '" + escaped + "'\"");
  EXPECT_EQ(log.find("\nforged=1"), std::string::npos);
  EXPECT_EQ(log.find('\x1b'), std::string::npos);
  EXPECT_EQ(log.find("\xE2\x80\xAE"), std::string::npos);
}

TEST_F(proxy_session, stdin_arrives_whole) {
  std::mt19937_64 rng(3);
  std::string data(std::size_t{4} * 1024 * 1024, '\0');
  for (auto& c : data) {
    c = static_cast<char>(rng());
  }
  const auto r = exec(login() + "@t1", "sha256sum", data);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  EXPECT_EQ(r.out.substr(0, 64), to_hex({reinterpret_cast<const char*>(digest), sizeof digest}));
}

TEST_F(proxy_session, large_output_arrives_whole) {
  const auto r = exec(login() + "@t1", "head -c 8388608 /dev/zero | tr '\\0' x");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.size(), 8388608U);
  EXPECT_EQ(r.out.find_first_not_of('x'), std::string::npos);
}

TEST_F(proxy_session, a_pty_session_gets_the_client_terminal_size) {
  // script(1) gives ssh a real terminal of 100x30; the target must see the same size.
  std::string command = "stty cols 100 rows 30; ssh -tt -q -p " + std::to_string(port_);
  for (const auto& o : std::vector<std::string>{
           "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o",
           "UserKnownHostsFile=" + known_hosts_, "-o", "IdentitiesOnly=yes", "-o",
           "IdentityAgent=none", "-i", alice_key_}) {
    command += " " + o;
  }
  command += " " + login() + "@t1@127.0.0.1 'stty size; tty; exit 7'";
  const auto r =
      run({"script", "-qec", command, "/dev/null"}, {.timeout = std::chrono::seconds(60)});
  EXPECT_EQ(r.exit_code, 7) << r.out << r.err;
  EXPECT_CONTAINS(r.out, "30 100");
  EXPECT_CONTAINS(r.out, "/dev/pts/");
}

TEST_F(proxy_session, refusals_say_why_on_stderr) {
  change_policy([&] {
    ok({"target", "add", "t2", "--host", "127.0.0.1", "--port", std::to_string(sshd_->port()),
        "--host-key",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIlJQbYTcnE4ZV4dlfpTy2oTBlxG2wSxiybqlsqmkuKo"});
    ok({"grant", "alice", "t2", "--login", login()});
    ok({"target", "add", "t3", "--host", "127.0.0.1", "--port", std::to_string(free_port()),
        "--host-key", sshd_->host_key()});
    ok({"grant", "alice", "t3", "--login", login()});
  });
  struct refusal {
    std::string destination;
    std::string reason;
  };
  for (const auto& c : std::vector<refusal>{
           {"nobody@t1", "bastion: user alice may not log in to t1 as nobody"},
           {login() + "@t9", "bastion: t9 is not a registered target"},
           {login() + "@t2", "bastion: the host key of t2 is " + sshd_->host_key_fingerprint()},
           {login() + "@t3", "bastion: cannot connect to t3 (127.0.0.1:"},
       }) {
    const auto r = exec(c.destination, "echo should-not-run");
    EXPECT_EQ(r.exit_code, 255) << c.destination;
    EXPECT_NE(r.err.find(c.reason), std::string::npos) << c.destination << ": " << r.err;
    EXPECT_EQ(r.out.find("should-not-run"), std::string::npos);
  }
}

// Policy decides before the bastion connects anywhere: an authenticated user without a grant
// for that login makes no connection to the target.
TEST_F(proxy_session, an_ungranted_target_is_never_dialled) {
  const silent_listener target;
  change_policy([&] {
    ok({"target", "add", "t4", "--host", "127.0.0.1", "--port", std::to_string(target.port()),
        "--host-key", sshd_->host_key()});
  });
  const auto r = exec(login() + "@t4", "echo should-not-run");
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_CONTAINS(r.err, "bastion: user alice may not log in to t4 as " + login());
  EXPECT_FALSE(target.connected_within(std::chrono::milliseconds(500)))
      << "the bastion connected to a target it had refused";
}

TEST_F(proxy_session, only_granted_kinds_pass) {
  change_policy([&] { ok({"grant", "alice", "t1", "--login", login(), "--allow", "shell"}); });
  const auto refused = ssh(login() + "@t1", {alice_key_}, {}, "echo should-not-run");
  EXPECT_EQ(refused.exit_code, 255) << refused.err;
  EXPECT_CONTAINS(refused.err, "exec request failed on channel 0");
  EXPECT_EQ(refused.out.find("should-not-run"), std::string::npos);
  // The granted kind passes on the same grant: a shell, reading its commands from stdin.
  const auto shell =
      ssh(login() + "@t1", {alice_key_}, {"-q", "-T"}, "", "echo in-shell; exit 4\n");
  EXPECT_EQ(shell.exit_code, 4) << shell.err;
  EXPECT_EQ(shell.out, "in-shell\n");
}

TEST_F(proxy_session, the_eleventh_channel_on_one_connection_is_refused) {
  // One connection (an OpenSSH control master, kept as our child), then sessions multiplexed on it.
  const std::string control = (dir() / "ctl").string();
  const std::string destination = login() + "@t1@127.0.0.1";
  std::vector<std::string> base{"ssh",
                                "-F",
                                "/dev/null",
                                "-o",
                                "BatchMode=yes",
                                "-o",
                                "StrictHostKeyChecking=yes",
                                "-o",
                                "UserKnownHostsFile=" + known_hosts_,
                                "-o",
                                "IdentitiesOnly=yes",
                                "-o",
                                "IdentityAgent=none",
                                "-i",
                                alice_key_,
                                "-p",
                                std::to_string(port_),
                                "-S",
                                control};
  auto with = [&](std::vector<std::string> extra) {
    auto argv = base;
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  };
  child_process master(with({"-M", "-N", destination}), (dir() / "master.log").string());
  ASSERT_TRUE(
      eventually([&] { return std::filesystem::exists(control); }, std::chrono::seconds(30)))
      << read_file((dir() / "master.log").string());
  std::vector<std::unique_ptr<child_process>> sessions;
  sessions.reserve(10);
  for (int i = 0; i < 10; ++i) {
    sessions.push_back(
        std::make_unique<child_process>(with({destination, "echo started; sleep 20"}),
                                        (dir() / ("s" + std::to_string(i))).string()));
  }
  ASSERT_TRUE(eventually([&] { return outputs_containing("s", 10, "started") == 10; },
                         std::chrono::seconds(30)))
      << "ten sessions must run at once; the first one printed: "
      << read_file((dir() / "s0").string()) << "\nbastiond:\n"
      << read_file(log_);
  // The master's open of an 11th session channel is refused; OpenSSH then falls back to a
  // connection of its own for that command, which the log shows as a second connection.
  const auto r = run(with({destination, "echo eleventh"}));
  EXPECT_TRUE(eventually([&] { return count_in_log("connected to") >= 2; })) << read_file(log_);
  const std::string log = log_once("channel refused: max_sessions 10 reached");
  EXPECT_CONTAINS(log, "channel refused: max_sessions 10 reached");
  const auto first = log.find("connected to");
  ASSERT_NE(first, std::string::npos);
  const auto second = log.find("connected to", first + 1);
  ASSERT_NE(second, std::string::npos) << "the 11th session must not run on the full connection";
  const auto source_of = [&](std::size_t at) {
    const auto start = log.rfind("src=", at);
    return log.substr(start, log.find(' ', start) - start);
  };
  EXPECT_NE(source_of(first), source_of(second));
  EXPECT_EQ(r.out, "eleventh\n");
}

// A key's authorized_keys options hold through the bastion as sshd holds them.
class key_options_session : public proxy_session {
 protected:
  void set_options(const std::string& options) { set_alice_key_options(options); }
};

TEST_F(key_options_session, command_runs_instead_of_what_the_client_asks) {
  set_options(R"opt(command="echo forced-$((6*7))",no-pty)opt");
  const auto r = exec(login() + "@t1", "echo asked");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "forced-42\n");
  // no-pty: the terminal is refused, and OpenSSH ends a session whose -tt it cannot have.
  const auto pty = ssh(login() + "@t1", {alice_key_}, {"-tt"}, "echo asked");
  EXPECT_EQ(pty.exit_code, 255);
  EXPECT_CONTAINS(pty.err, "PTY allocation request failed on channel 0");
}

// A forced command is an exec on the target whatever the client asked for: it sees the client's
// command as sshd shows it, and a grant without exec runs nothing, not even for a shell request.
TEST_F(key_options_session, a_forced_command_sees_the_command_asked_and_needs_exec) {
  set_options(R"(command="echo ran:$SSH_ORIGINAL_COMMAND")");
  const auto r = exec(login() + "@t1", "ls /");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ran:ls /\n");
  change_policy([&] { ok({"grant", "alice", "t1", "--login", login(), "--allow", "shell"}); });
  const auto shell = ssh(login() + "@t1", {alice_key_}, {"-T"}, "");
  EXPECT_EQ(shell.exit_code, 255) << shell.out << shell.err;
  EXPECT_EQ(shell.out.find("ran:"), std::string::npos) << shell.out;
  EXPECT_CONTAINS(shell.err, "shell request failed");
}

TEST_F(key_options_session, from_and_expiry_time_refuse_the_login) {
  set_options(R"(from="10.0.0.0/8")");
  EXPECT_EQ(exec(login() + "@t1", "true").exit_code, 255);
  EXPECT_LOGGED("is not allowed from 127.0.0.1 (its from= option)");
  set_options(R"(expiry-time="20200101Z")");
  EXPECT_EQ(exec(login() + "@t1", "true").exit_code, 255);
  EXPECT_LOGGED("has expired (its expiry-time= option)");
  set_options(R"(from="192.0.2.0/24,127.0.0.1",expiry-time="20990101Z")");
  const auto r = exec(login() + "@t1", "echo in");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "in\n");
}

// limits.max_session_duration and limits.idle_timeout end a session with the reason on stderr.
// One limit per fixture: on loaded machines a session may take seconds to start on the target.
class duration_limited_session : public proxy_session {
 protected:
  std::string limits() const override {
    return "login_grace_time: 10s, max_auth_tries: 6, max_session_duration: 4s";
  }
};

class idle_limited_session : public proxy_session {
 protected:
  std::string limits() const override {
    return "login_grace_time: 10s, max_auth_tries: 6, idle_timeout: 3s";
  }
};

TEST_F(duration_limited_session, a_busy_session_ends_at_max_session_duration) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = exec(login() + "@t1", "while true; do echo tick; sleep 0.3; done");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_CONTAINS(r.err, "bastion: the session reached limits.max_session_duration 4s");
  EXPECT_GE(took, std::chrono::milliseconds(3500));
  EXPECT_CONTAINS(audit_rows("kind = 'session.limit'", 1), "ended alice");
}

// With no channel to tell (ssh -N), the limit ends the connection, and its upstream, itself.
TEST_F(duration_limited_session, a_connection_without_channels_ends_at_max_session_duration) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = ssh(login() + "@t1", {alice_key_}, {"-N"}, "");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_CONTAINS(r.err, "the session reached limits.max_session_duration 4s");
  EXPECT_GE(took, std::chrono::milliseconds(3500));
  EXPECT_LT(took, std::chrono::seconds(30)) << "the client's timeout must not be what ended it";
}

TEST_F(idle_limited_session, a_quiet_session_ends_at_idle_timeout) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = exec(login() + "@t1", "echo before; sleep 30");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_CONTAINS(r.err, "bastion: the session was idle for limits.idle_timeout 3s");
  EXPECT_GE(took, std::chrono::milliseconds(2500));
  EXPECT_LT(took, std::chrono::seconds(25)) << "the sleep must not be what ended it";
}

}  // namespace
}  // namespace bastion::test
