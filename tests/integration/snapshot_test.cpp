// The policy snapshot as the proxy loads it: what bastionctl wrote, read back in one transaction.
#include <bastion/policy/evaluator.hpp>

#include "bastionctl_support.hpp"
#include "sshd.hpp"

namespace bastion::test {
namespace {

class snapshot : public bastionctl_test {};

TEST_F(snapshot, reflects_what_admins_wrote) {
  const auto key = make_ssh_key(dir(), "alice", "ed25519");
  ok({"user", "add", "alice", "--key", key + ".pub"});
  ok({"user", "add", "bob"});
  ok({"user", "disable", "bob"});
  const auto host = read_file(make_ssh_key(dir(), "hk", "ed25519") + ".pub");
  ok({"target", "add", "web1", "--host", "10.0.0.5", "--host-key", host.substr(0, host.rfind(' '))});
  ok({"grant", "alice", "web1", "--login", "deploy", "--allow", "exec,sftp"});

  policy::store store(conninfo_, "test", "test-node");
  const policy::policy_snapshot snap(store.load_snapshot_rows());
  EXPECT_EQ(snap.user_count(), 2U);
  EXPECT_TRUE(snap.find_user("bob")->disabled);
  const std::string fp = ssh_keygen_fingerprint_line(key + ".pub");
  const auto decision = policy::decide_key(snap, *policy::parse_username("alice"), fp.substr(4, fp.find(' ', 4) - 4));
  EXPECT_TRUE(decision.accepted) << decision.reason;
  const auto* web1 = policy::resolve_destination(snap, "web1", 22);
  ASSERT_NE(web1, nullptr);
  ASSERT_EQ(web1->host_keys.size(), 1U);
  const auto access = policy::decide_access(snap, "alice", *web1, "deploy");
  EXPECT_TRUE(policy::allows(access, policy::channel_kind::sftp));
  EXPECT_FALSE(policy::allows(access, policy::channel_kind::shell));

  ok({"revoke", "alice", "web1"});
  const policy::policy_snapshot after(store.load_snapshot_rows());
  EXPECT_FALSE(policy::decide_access(after, "alice", *after.find_target_by_name("web1"), "deploy").allowed);
}

}  // namespace
}  // namespace bastion::test
