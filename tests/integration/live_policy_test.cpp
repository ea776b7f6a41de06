// Policy that changes under live sessions, through a real sshd and OpenSSH clients: revoking a
// grant or removing a key ends the sessions it let in, by both access forms, within moments;
// `bastionctl kill` ends one session and no other; a grant's idle timeout and maximum duration end
// the sessions it admits. Each says why to the client and in the session row, and is audited.
#include <nlohmann/json.hpp>

#include "target_support.hpp"

namespace bastion::test {
namespace {

using clock_type = std::chrono::steady_clock;

class live_policy : public jump_session {
 protected:
  // A client running `echo ready; sleep 120` through the bastion, by -J or by the username form,
  // once the command runs on the target.
  struct sleeper {
    std::unique_ptr<child_process> process;
    std::string log;
  };

  sleeper start_sleeper(bool by_jump, const std::string& name) {
    const std::string command = "echo ready; sleep 120";
    sleeper s;
    s.log = (dir() / (name + ".log")).string();
    s.process = std::make_unique<child_process>(
        by_jump ? std::vector<std::string>{"ssh", "-F", jump_config_, login() + "@t1", command}
                : ssh_argv(login() + "@t1", {alice_key_}, {"-q"}, command),
        s.log);
    EXPECT_TRUE(eventually([&] { return read_file(s.log).find("ready") != std::string::npos; },
                           std::chrono::seconds(30)))
        << name << ": " << read_file(s.log);
    return s;
  }

  // Milliseconds from `since` until the client exits (its exit code in `code`); -1 past 10 s.
  static long exit_after(sleeper& s, clock_type::time_point since, int& code) {
    const auto exited = s.process->wait_exit(std::chrono::seconds(10));
    if (!exited) {
      return -1;
    }
    code = *exited;
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - since).count());
  }

  std::string sql(const std::string& query) const {
    return postgres_cluster::instance().psql(dbname_, query);
  }

  // The session rows' ended_reason, in start order, once `n` of them have ended.
  std::string ended_reasons(int n) const {
    std::string out;
    eventually([&] {
      out =
          sql("SELECT string_agg(ended_reason, ',' ORDER BY started_at) FROM sessions WHERE "
              "ended_at IS NOT NULL");
      return static_cast<int>(std::count(out.begin(), out.end(), ',')) + 1 >= n && out.size() > 1;
    });
    return out;
  }

  // Both forms live, then `change` runs: each client exits within 5 s, told why, and the latency
  // of each is printed.
  void expect_change_ends_both_forms(const std::function<void()>& change, const std::string& told) {
    auto by_jump = start_sleeper(true, "jump");
    auto by_name = start_sleeper(false, "name");
    const auto t0 = clock_type::now();
    change();
    int jump_code = 0;
    int name_code = 0;
    const long jump_ms = exit_after(by_jump, t0, jump_code);
    const long name_ms = exit_after(by_name, t0, name_code);
    std::printf("change to client exit: -J %ld ms, username form %ld ms\n", jump_ms, name_ms);
    ASSERT_GE(jump_ms, 0) << "the -J client still runs: " << read_file(by_jump.log);
    ASSERT_GE(name_ms, 0) << "the username-form client still runs: " << read_file(by_name.log);
    EXPECT_LT(jump_ms, 5000);
    EXPECT_LT(name_ms, 5000);
    EXPECT_EQ(jump_code, 255);
    EXPECT_EQ(name_code, 255);
    EXPECT_CONTAINS(read_file(by_jump.log), told);
    EXPECT_CONTAINS(read_file(by_name.log), told);
    EXPECT_EQ(ended_reasons(2), "revoked,revoked\n");
    EXPECT_EQ(audit_rows("kind = 'session.revoked' AND target_name = 't1' AND session_id IS NOT "
                         "NULL",
                         2)
                      .size() > 1,
              true);
    EXPECT_EQ(sql("SELECT count(*) FROM audit_events WHERE kind = 'session.revoked'"), "2\n");
  }
};

TEST_F(live_policy, revoking_the_grant_ends_live_sessions_of_both_forms) {
  expect_change_ends_both_forms(
      [&] {
        ok({"revoke", "alice", "t1"});
      },
      "access to t1 was revoked (user alice may not");
  // A new login is refused by both forms.
  const auto again = jump(jump_config_, login() + "@t1", "echo should-not-run");
  EXPECT_EQ(again.exit_code, 255);
  EXPECT_EQ(again.out.find("should-not-run"), std::string::npos);
  EXPECT_EQ(exec(login() + "@t1", "echo should-not-run").exit_code, 255);
}

TEST_F(live_policy, removing_the_key_ends_live_sessions_of_both_forms) {
  const std::string line = ssh_keygen_fingerprint_line(alice_key_ + ".pub");
  const std::string fp =
      line.substr(line.find(' ') + 1, line.find(' ', line.find(' ') + 1) - line.find(' ') - 1);
  expect_change_ends_both_forms(
      [&] {
        ok({"key", "remove", fp});
      },
      "is no longer accepted for alice");
  EXPECT_EQ(exec(login() + "@t1", "echo should-not-run").exit_code, 255);
}

TEST_F(live_policy, a_narrower_grant_ends_a_session_whose_channel_it_no_longer_allows) {
  auto shell = start_sleeper(false, "exec");  // an exec channel
  const auto t0 = clock_type::now();
  ok({"grant", "alice", "t1", "--login", login(), "--allow", "shell"});
  int code = 0;
  ASSERT_GE(exit_after(shell, t0, code), 0) << read_file(shell.log);
  EXPECT_CONTAINS(read_file(shell.log), "no longer allows exec on t1");
  EXPECT_EQ(ended_reasons(1), "revoked\n");
}

TEST_F(live_policy, kill_ends_one_session_and_no_other) {
  auto first = start_sleeper(true, "first");
  auto second = start_sleeper(false, "second");
  std::string ids;
  ASSERT_TRUE(eventually([&] {
    ids =
        sql("SELECT string_agg(id::text, ',' ORDER BY started_at) FROM sessions WHERE "
            "ended_at IS NULL");
    return std::count(ids.begin(), ids.end(), ',') == 1;
  })) << ids;
  const std::string first_id = ids.substr(0, ids.find(','));
  const auto t0 = clock_type::now();
  const auto killed = ctl({"kill", first_id});
  EXPECT_EQ(killed.exit_code, 0) << killed.err;
  EXPECT_CONTAINS(killed.out, "killed session " + first_id + " (alice on t1 as " + login());
  EXPECT_CONTAINS(killed.out, ", killed\n");
  int code = 0;
  const long ms = exit_after(first, t0, code);
  std::printf("kill to client exit: %ld ms\n", ms);
  ASSERT_GE(ms, 0) << read_file(first.log);
  EXPECT_LT(ms, 5000);
  EXPECT_CONTAINS(read_file(first.log), "an administrator ended this session");
  EXPECT_EQ(sql("SELECT ended_reason FROM sessions WHERE id = '" + first_id + "'"), "killed\n");
  EXPECT_FALSE(second.process->wait_exit(std::chrono::milliseconds(500)))
      << "the other session ended too: " << read_file(second.log);
  EXPECT_EQ(sql("SELECT count(*) FROM audit_events WHERE kind = 'admin.kill' AND session_id = '" +
                first_id + "'"),
            "1\n");

  const auto twice = ctl({"kill", first_id});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_CONTAINS(twice.err, "already ended at");
  const auto bad = ctl({"kill", "../../etc/passwd"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_CONTAINS(bad.err, "is not a session id");
  const auto none = ctl({"kill", "00000000-0000-4000-8000-000000000000"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_CONTAINS(none.err, "no session 00000000-0000-4000-8000-000000000000");
}

TEST_F(live_policy, a_grants_idle_timeout_and_max_duration_end_its_sessions) {
  change_policy([&] { ok({"grant", "alice", "t1", "--login", login(), "--idle-timeout", "2s"}); });
  const auto idle = exec(login() + "@t1", "sleep 20");
  EXPECT_EQ(idle.exit_code, 255);
  EXPECT_CONTAINS(idle.err, "the session was idle for grant ");
  EXPECT_CONTAINS(idle.err, "'s idle_timeout 2s");

  change_policy([&] {
    ok({"grant", "alice", "t1", "--login", login(), "--max-session-duration", "3s"});
  });
  // Busy all along: only the duration can end it.
  const auto busy =
      jump(jump_config_, login() + "@t1", "for i in $(seq 1 40); do echo tick; sleep 0.5; done");
  EXPECT_EQ(busy.exit_code, 255);
  EXPECT_CONTAINS(busy.err, "'s max_session_duration 3s");
  const std::string reasons = ended_reasons(2);
  EXPECT_CONTAINS(reasons, "idle_timeout 2s");
  EXPECT_CONTAINS(reasons, "max_session_duration 3s");

  const auto listed = ctl({"grants", "--json"});
  const auto grants = nlohmann::json::parse(listed.out);
  ASSERT_EQ(grants.size(), 1U) << listed.out;
  EXPECT_EQ(grants[0]["max_session_seconds"], 3);
  EXPECT_TRUE(grants[0]["idle_timeout_seconds"].is_null()) << "granting again replaces limits";
  const auto bad = ctl({"grant", "alice", "t1", "--login", login(), "--idle-timeout", "500ms"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_CONTAINS(bad.err, "--idle-timeout 500ms: give whole seconds");
}

TEST_F(live_policy, audit_lists_a_sessions_decisions_with_filters) {
  EXPECT_EQ(exec(login() + "@t1", "echo hi").out, "hi\n");
  std::string sid;
  ASSERT_TRUE(eventually([&] {
    sid = sql("SELECT id FROM sessions WHERE ended_at IS NOT NULL");
    return sid.size() > 30;
  }));
  sid.pop_back();
  ASSERT_TRUE(eventually([&] {
    return sql("SELECT count(*) FROM audit_events WHERE session_id = '" + sid + "'") >= "2\n";
  }));
  const auto listed = ctl({"audit", "--session", sid, "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto rows = nlohmann::json::parse(listed.out);
  std::set<std::string> kinds;
  for (const auto& r : rows) {
    kinds.insert(r["kind"].get<std::string>());
    EXPECT_EQ(r["session"], sid);
    EXPECT_EQ(r["target"], "t1");
  }
  EXPECT_TRUE(kinds.count("session.start") == 1 && kinds.count("upstream") == 1) << listed.out;

  const auto auth = ctl({"audit", "--user", "alice", "--kind", "auth", "--json"});
  const auto auth_rows = nlohmann::json::parse(auth.out);
  ASSERT_FALSE(auth_rows.empty());
  for (const auto& r : auth_rows) {
    EXPECT_EQ(r["kind"].get<std::string>().rfind("auth", 0), 0U) << r.dump();
    EXPECT_EQ(r["actor"], "alice");
  }
  const auto table = ctl({"audit", "--target", "t1", "--since", "2000-01-01Z"});
  EXPECT_CONTAINS(table.out, "AT");
  EXPECT_CONTAINS(table.out, "session.start");
  EXPECT_EQ(ctl({"audit", "--kind", "x'; DROP TABLE x"}).exit_code, 1);
  EXPECT_CONTAINS(ctl({"audit", "--since", "2999-01-01Z"}).out, "no audit events match");
}

}  // namespace
}  // namespace bastion::test
