// Grants as users meet them, through a real sshd: a group's grant on a label lets its members in by
// both access forms and nobody else; leaving the group, a window that has ended and a source the
// grant does not admit each refuse the login, with the reason.
#include "target_support.hpp"

namespace bastion::test {
namespace {

class grants : public jump_session {
 protected:
  void SetUp() override {
    jump_session::SetUp();
    change_policy([&] {
      ok({"revoke", "alice", "t1"});
      ok({"target", "add", "t2", "--host", "127.0.0.1", "--port", std::to_string(sshd_->port()),
          "--host-key", sshd_->host_key(), "--label", "env=test"});
    });
    jump_config_ = jump_config(alice_key_, alice_key_);  // with t2's known_hosts line
  }

  // A refused login: ssh fails, and its stderr carries `reason`; nothing ran.
  void expect_refused(const run_result& r, const std::string& reason) {
    EXPECT_EQ(r.exit_code, 255);
    EXPECT_CONTAINS(r.err, reason);
    EXPECT_EQ(r.out.find("should-not-run"), std::string::npos);
  }
};

TEST_F(grants, a_group_grant_on_a_label_admits_its_members_by_both_forms) {
  change_policy([&] {
    ok({"group", "add", "ops", "alice"});
    ok({"grant", "--group", "ops", "label:env=test", "--login", login(), "--allow", "exec"});
  });
  EXPECT_EQ(jump(jump_config_, login() + "@t2", "echo by-jump").out, "by-jump\n");
  EXPECT_EQ(exec(login() + "@t2", "echo by-name").out, "by-name\n");
  // t1 carries no label: the group's grant does not reach it.
  expect_refused(jump(jump_config_, login() + "@t1", "echo should-not-run"),
                 "user alice may not reach t1");
  change_policy([&] { ok({"group", "remove", "ops", "alice"}); });
  expect_refused(jump(jump_config_, login() + "@t2", "echo should-not-run"),
                 "user alice may not reach t2");
  expect_refused(exec(login() + "@t2", "echo should-not-run"),
                 "bastion: user alice may not log in to t2 as " + login());
}

TEST_F(grants, a_window_that_ended_or_a_source_not_admitted_refuses_with_the_reason) {
  change_policy([&] {
    ok({"grant", "alice", "t*", "--login", login(), "--valid-until", "2001-01-01Z"});
  });
  const std::string expired = "expired at 2001-01-01T00:00:00Z";
  expect_refused(jump(jump_config_, login() + "@t2", "echo should-not-run"), expired);
  expect_refused(exec(login() + "@t2", "echo should-not-run"), expired);

  change_policy([&] {
    ok({"grant", "alice", "t*", "--login", login(), "--source", "192.0.2.0/24"});
  });
  const std::string away = "does not admit connections from 127.0.0.1";
  expect_refused(jump(jump_config_, login() + "@t1", "echo should-not-run"), away);
  expect_refused(exec(login() + "@t1", "echo should-not-run"), away);

  change_policy([&] {
    ok({"grant", "alice", "t*", "--login", login(), "--source", "127.0.0.0/8", "--valid-from",
        "2001-01-01Z"});
  });
  EXPECT_EQ(jump(jump_config_, login() + "@t2", "echo in").out, "in\n");
  EXPECT_EQ(exec(login() + "@t1", "echo in").out, "in\n");
}

}  // namespace
}  // namespace bastion::test
