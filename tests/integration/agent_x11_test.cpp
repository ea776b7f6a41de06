// Agent (-A) and X11 (-X) forwarding through the bastion, by -J and by the username form, with a
// real ssh-agent and an Xvfb X server on the client's side and a real sshd as the target: `ssh-add
// -l` on the target lists the client's key, and `xdpyinfo` there reaches the client's display,
// only where the grant allows it; each forwarded agent or X11 channel is a channel row with byte
// counts (its bytes never recorded), and each decision is audited.
#include <filesystem>

#include "target_support.hpp"

namespace bastion::test {
namespace {

class agent_x11 : public jump_session {
 protected:
  // The target must allow X11 forwarding (sshd's default is no) for -X to get anywhere.
  std::string sshd_config() const override { return "X11Forwarding yes\nX11UseLocalhost yes\n"; }

  void allow(const std::string& kinds) {
    change_policy([&] { ok({"grant", "alice", "t1", "--login", login(), "--allow", kinds}); });
  }

  // `command` on the target through the bastion with `extra` ssh options, `env` in the client's
  // environment, and `agent` (a socket path) as the client's agent.
  run_result through(bool by_jump, const std::vector<std::string>& extra,
                     const std::string& command, const std::string& agent = "none",
                     const std::vector<std::string>& env = {}) {
    auto argv = client_argv(by_jump, extra, command);
    // ssh takes the first value it is given: this one, before those of the config or ssh_argv.
    // With IdentityAgent none, ssh also forwards no agent.
    argv.insert(argv.begin() + 1, {"-o", "IdentityAgent=" + agent});
    return run(argv, {.extra_env = env, .timeout = std::chrono::seconds(60)});
  }

  std::string sql(const std::string& query) const {
    return postgres_cluster::instance().psql(dbname_, query);
  }

  // "kind in out" of the channels of `kind` once `n` have landed.
  std::string channel_rows(const std::string& kind, int n) const {
    std::string rows;
    eventually([&] {
      rows =
          sql("SELECT string_agg(kind || ' ' || (bytes_in > 0) || ' ' || (bytes_out > 0), ',' "
              "ORDER BY id) FROM channels WHERE kind = '" +
              kind + "'");
      return static_cast<int>(std::count(rows.begin(), rows.end(), ',')) + 1 >= n &&
             rows.size() > 1;
    });
    return rows;
  }
};

class agent_forwarding : public agent_x11 {
 protected:
  void SetUp() override {
    agent_x11::SetUp();
    agent_socket_ = (dir() / "agent.sock").string();
    agent_ = std::make_unique<child_process>(
        std::vector<std::string>{"ssh-agent", "-D", "-a", agent_socket_},
        (dir() / "agent.log").string());
    ASSERT_TRUE(eventually([&] { return std::filesystem::exists(agent_socket_); }));
    const auto added =
        run({"ssh-add", alice_key_}, {.extra_env = {"SSH_AUTH_SOCK=" + agent_socket_}});
    ASSERT_EQ(added.exit_code, 0) << added.err;
    const std::string line = ssh_keygen_fingerprint_line(alice_key_ + ".pub");
    fingerprint_ =
        line.substr(line.find(' ') + 1, line.find(' ', line.find(' ') + 1) - line.find(' ') - 1);
  }

  // t2: `target`, where alice logs in with her agent (upstream_auth agent); -J trusts its name.
  void grant_by_agent(const sshd_server& target) {
    change_policy([&] {
      ok({"target", "add", "t2", "--host", "127.0.0.1", "--port", std::to_string(target.port()),
          "--host-key", target.host_key()});
      ok({"grant", "alice", "t2", "--login", login(), "--allow", "exec", "--upstream-auth",
          "agent"});
    });
    jump_config_ = jump_config(alice_key_, alice_key_);
  }

  std::string agent_socket_;
  std::string fingerprint_;
  std::unique_ptr<child_process> agent_;
};

TEST_F(agent_forwarding, the_target_sees_the_clients_agent_only_where_the_grant_allows_it) {
  allow("exec,agent");
  for (const bool by_jump : {true, false}) {
    const auto r = through(by_jump, {"-A"}, "ssh-add -l", agent_socket_);
    EXPECT_EQ(r.exit_code, 0) << (by_jump ? "-J: " : "username form: ") << r.out << r.err;
    EXPECT_CONTAINS(r.out, fingerprint_);
  }
  EXPECT_EQ(channel_rows("auth-agent@openssh.com", 2),
            "auth-agent@openssh.com true true,auth-agent@openssh.com true true\n");
  EXPECT_EQ(audit_rows("kind = 'agent.forward' AND result = 'ok'", 2).empty(), false);
  // The agent's bytes (keys, signatures) never enter the recording: only the request does.
  EXPECT_EQ(sql("SELECT count(*) FROM channels WHERE kind = 'auth-agent@openssh.com' AND "
                "(detail->>'data_recorded')::boolean"),
            "0\n");

  allow("exec");
  for (const bool by_jump : {true, false}) {
    const auto r = through(by_jump, {"-A"}, "ssh-add -l", agent_socket_);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;  // ssh-add: no agent to talk to
    EXPECT_CONTAINS(r.err, "Could not open a connection to your authentication agent");
  }
  const std::string refused = audit_rows("kind = 'agent.refused' AND result = 'denied'", 2);
  EXPECT_EQ(std::count(refused.begin(), refused.end(), ','), 1) << refused;
  EXPECT_CONTAINS(sql("SELECT string_agg(DISTINCT detail->>'reason', ',') FROM audit_events "
                      "WHERE kind = 'agent.refused'"),
                  "does not allow agent on t1");
}

// upstream_auth agent: a target that trusts only alice's own key (not the bastion's) takes the
// login that the bastion makes with her forwarded agent, and each signature is audited.
TEST_F(agent_forwarding, the_bastion_logs_in_upstream_with_the_users_agent) {
  sshd_server own_keys_only;
  own_keys_only.authorize(read_file(alice_key_ + ".pub"));
  grant_by_agent(own_keys_only);
  for (const bool by_jump : {true, false}) {
    std::vector<std::string> argv;
    if (by_jump) {
      argv = {"ssh", "-F", jump_config_, "-A", login() + "@t2", "echo agent-login-ok"};
    } else {
      argv = ssh_argv(login() + "@t2", {alice_key_}, {"-A"}, "echo agent-login-ok");
    }
    argv.insert(argv.begin() + 1, {"-o", "IdentityAgent=" + agent_socket_});
    const auto r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << (by_jump ? "-J: " : "username form: ") << r.err;
    EXPECT_CONTAINS(r.out, "agent-login-ok");
  }
  const std::string signs = audit_rows("kind = 'upstream.agent_sign' AND result = 'ok'", 2);
  EXPECT_EQ(std::count(signs.begin(), signs.end(), ','), 1) << signs;
  EXPECT_EQ(sql("SELECT string_agg(DISTINCT detail->>'key' || ' ' || target_name, ',') FROM "
                "audit_events WHERE kind = 'upstream.agent_sign'"),
            fingerprint_ + " t2\n");
  // The audit rows of one agent-authenticated session, as an admin reads them.
  const auto audit = ctl({"audit", "--target", "t2"});
  std::printf("bastionctl audit --target t2:\n%s", audit.out.c_str());

  // An agent without a key that the target trusts: the login fails, and says why.
  const auto removed = run({"ssh-add", "-D"}, {.extra_env = {"SSH_AUTH_SOCK=" + agent_socket_}});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  const auto added = run({"ssh-add", bob_key_}, {.extra_env = {"SSH_AUTH_SOCK=" + agent_socket_}});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const auto refused = run({"ssh", "-o", "IdentityAgent=" + agent_socket_, "-F", jump_config_, "-A",
                            login() + "@t2", "echo agent-login-ok"});
  EXPECT_EQ(refused.exit_code, 255);
  EXPECT_EQ(refused.out.find("agent-login-ok"), std::string::npos);
  EXPECT_CONTAINS(refused.err, "accepted no key of your agent");
}

// upstream_auth agent without -A: the client refuses the agent channel, and the login fails,
// telling it how to connect (within limits.connect_timeout, whatever the client does); nothing
// opened for that login stays behind.
class agent_login_deadline : public agent_forwarding {
 protected:
  std::string limits() const override {
    return "login_grace_time: 60s, max_auth_tries: 6, connect_timeout: 2s";
  }
};

TEST_F(agent_login_deadline, without_ssh_A_the_login_fails_saying_how_and_leaks_nothing) {
  sshd_server own_keys_only;
  own_keys_only.authorize(read_file(alice_key_ + ".pub"));
  grant_by_agent(own_keys_only);
  // One failed login first: what bastiond opens once (its database connections) is then open.
  EXPECT_EQ(jump(jump_config_, login() + "@t2", "true").exit_code, 255);
  const std::size_t fds_before = open_fds(daemon_->pid());
  for (int i = 0; i < 3; ++i) {
    const auto r = jump(jump_config_, login() + "@t2", "echo should-not-run");
    EXPECT_EQ(r.exit_code, 255) << r.out << r.err;
    EXPECT_EQ(r.out.find("should-not-run"), std::string::npos);
    EXPECT_CONTAINS(r.err, "connect with ssh -A");
  }
  EXPECT_TRUE(
      eventually([&] { return open_fds(daemon_->pid()) <= fds_before; }, std::chrono::seconds(20)))
      << fd_targets(daemon_->pid());
}

class x11_forwarding : public agent_x11 {
 protected:
  void SetUp() override {
    agent_x11::SetUp();
    // A display number that nothing else on this machine uses.
    for (display_ = 40 + (getpid() % 50); display_ < 200; ++display_) {
      if (!std::filesystem::exists("/tmp/.X11-unix/X" + std::to_string(display_)) &&
          !std::filesystem::exists("/tmp/.X" + std::to_string(display_) + "-lock")) {
        break;
      }
    }
    xvfb_ = std::make_unique<child_process>(
        std::vector<std::string>{"Xvfb", ":" + std::to_string(display_), "-nolisten", "tcp",
                                 "-screen", "0", "640x480x24"},
        (dir() / "xvfb.log").string());
    ASSERT_TRUE(eventually([&] {
      return std::filesystem::exists("/tmp/.X11-unix/X" + std::to_string(display_));
    })) << read_file((dir() / "xvfb.log").string());
  }

  int display_ = 0;
  std::unique_ptr<child_process> xvfb_;
};

TEST_F(x11_forwarding, xdpyinfo_on_the_target_reaches_the_clients_display_only_where_allowed) {
  const std::vector<std::string> env{"DISPLAY=:" + std::to_string(display_)};
  allow("exec,x11");
  for (const bool by_jump : {true, false}) {
    const auto r = through(by_jump, {"-Y"}, "xdpyinfo | grep dimensions", "none", env);
    EXPECT_EQ(r.exit_code, 0) << (by_jump ? "-J: " : "username form: ") << r.out << r.err;
    EXPECT_CONTAINS(r.out, "640x480 pixels");
  }
  const std::string rows = channel_rows("x11", 2);
  EXPECT_EQ(rows, "x11 true true,x11 true true\n");
  EXPECT_EQ(audit_rows("kind = 'x11.forward' AND result = 'ok'", 2).empty(), false);
  // The cookie is a credential: the recorded request has the protocol and screen, not it.
  EXPECT_EQ(sql("SELECT count(*) FROM channels WHERE kind = 'x11' AND "
                "(detail->>'data_recorded')::boolean"),
            "0\n");

  allow("exec");
  for (const bool by_jump : {true, false}) {
    const auto r =
        through(by_jump, {"-Y"}, "xdpyinfo >/dev/null 2>&1; echo status=$?", "none", env);
    EXPECT_CONTAINS(r.out, "status=1");
    EXPECT_CONTAINS(r.err, "X11 forwarding request failed");
  }
  const std::string refused = audit_rows("kind = 'x11.refused' AND result = 'denied'", 2);
  EXPECT_EQ(std::count(refused.begin(), refused.end(), ','), 1) << refused;
}

}  // namespace
}  // namespace bastion::test
