// The policy snapshot as the proxy loads it: what bastionctl wrote, read back in one transaction.
#include <thread>

#include <bastion/policy/cache.hpp>
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
  ok({"target", "add", "web1", "--host", "10.0.0.5", "--host-key",
      host.substr(0, host.rfind(' '))});
  ok({"grant", "alice", "web1", "--login", "deploy", "--allow", "exec,sftp"});

  policy::store store(conninfo_, "test", "test-node");
  const policy::policy_snapshot snap(store.load_snapshot_rows());
  EXPECT_EQ(snap.user_count(), 2U);
  EXPECT_TRUE(snap.find_user("bob")->disabled);
  const std::string fp = ssh_keygen_fingerprint_line(key + ".pub");
  const auto decision = policy::decide_key(snap, *policy::parse_username("alice"),
                                           fp.substr(4, fp.find(' ', 4) - 4), {});
  EXPECT_TRUE(decision.accepted) << decision.reason;
  const auto* web1 = policy::resolve_destination(snap, "web1", 22);
  ASSERT_NE(web1, nullptr);
  ASSERT_EQ(web1->host_keys.size(), 1U);
  const policy::key_context at{"10.1.2.3", 1'800'000'000};
  const auto access = policy::decide_access(snap, "alice", *web1, "deploy", at);
  EXPECT_TRUE(policy::allows(access, policy::channel_kind::sftp));
  EXPECT_FALSE(policy::allows(access, policy::channel_kind::shell));

  ok({"revoke", "alice", "web1"});
  const policy::policy_snapshot after(store.load_snapshot_rows());
  EXPECT_FALSE(
      policy::decide_access(after, "alice", *after.find_target_by_name("web1"), "deploy", at)
          .allowed);
}

// Groups, labels, patterns, windows and sources as the snapshot reads them back.
TEST_F(snapshot, reads_groups_labels_windows_and_sources) {
  ok({"user", "add", "alice"});
  const auto host = read_file(make_ssh_key(dir(), "hk", "ed25519") + ".pub");
  ok({"target", "add", "web1", "--host", "10.0.0.5", "--label", "env=prod", "--host-key",
      host.substr(0, host.rfind(' '))});
  ok({"group", "add", "ops", "alice"});
  ok({"grant", "--group", "ops", "label:env=prod", "--login", "deploy", "--allow", "exec",
      "--source", "10.0.0.0/8"});
  ok({"grant", "alice", "web*", "--login", "app", "--valid-from", "2027-01-01T00:00:00.5Z",
      "--valid-until", "2027-02-01Z"});

  policy::store store(conninfo_, "test", "test-node");
  const policy::policy_snapshot snap(store.load_snapshot_rows());
  const auto& web1 = *snap.find_target_by_name("web1");
  EXPECT_EQ(web1.labels, (policy::target_labels{{"env", "prod"}}));
  ASSERT_EQ(snap.groups_of("alice").size(), 1U);
  EXPECT_EQ(snap.groups_of("alice")[0], "ops");
  const std::int64_t jan = 1'798'761'600;  // 2027-01-01T00:00:00Z
  const auto by_group = policy::decide_access(snap, "alice", web1, "deploy", {"10.1.2.3", jan});
  EXPECT_TRUE(policy::allows(by_group, policy::channel_kind::exec)) << by_group.reason;
  EXPECT_FALSE(policy::decide_access(snap, "alice", web1, "deploy", {"192.0.2.1", jan}).allowed);
  // valid_from has a fraction of a second: the grant starts at the next whole second.
  EXPECT_FALSE(policy::decide_access(snap, "alice", web1, "app", {"192.0.2.1", jan}).allowed);
  EXPECT_TRUE(policy::decide_access(snap, "alice", web1, "app", {"192.0.2.1", jan + 1}).allowed);
  const std::int64_t feb = 1'801'440'000;  // 2027-02-01T00:00:00Z
  EXPECT_TRUE(policy::decide_access(snap, "alice", web1, "app", {"192.0.2.1", feb - 1}).allowed);
  EXPECT_FALSE(policy::decide_access(snap, "alice", web1, "app", {"192.0.2.1", feb}).allowed);
}

}  // namespace
}  // namespace bastion::test

namespace bastion::test {
namespace {

TEST_F(snapshot, the_cache_follows_admin_changes_through_notify) {
  const auto key = make_ssh_key(dir(), "alice", "ed25519");
  ok({"user", "add", "alice", "--key", key + ".pub"});
  const std::string line = ssh_keygen_fingerprint_line(key + ".pub");
  const std::string fp = line.substr(4, line.find(' ', 4) - 4);
  const auto accepted = [&](const policy::policy_cache& cache) {
    return policy::decide_key(*cache.current(), *policy::parse_username("alice"), fp, {}).accepted;
  };
  // A long resync interval: only NOTIFY can explain a prompt reload.
  policy::policy_cache cache(conninfo_, "test-node", std::chrono::hours(1));
  EXPECT_TRUE(accepted(cache));
  const auto before = cache.current();
  ok({"user", "disable", "alice"});
  EXPECT_TRUE(eventually([&] { return !accepted(cache); })) << "the disable must reach the cache";
  EXPECT_TRUE(policy::decide_key(*before, *policy::parse_username("alice"), fp, {}).accepted)
      << "a snapshot already handed out does not change under its holder";
  EXPECT_GE(cache.reloads(), 2U);
}

TEST_F(snapshot, a_change_made_in_sql_reaches_the_cache_with_a_newer_version) {
  const auto key = make_ssh_key(dir(), "alice", "ed25519");
  ok({"user", "add", "alice", "--key", key + ".pub"});
  ok({"user", "disable", "alice"});
  policy::policy_cache cache(conninfo_, "test-node", std::chrono::hours(1));
  const auto before = cache.current()->version();
  EXPECT_GE(before, 3) << "user insert, key insert and disable each advance the version";
  EXPECT_EQ(cache.current()->find_user("alice")->disabled, true);
  postgres_cluster::instance().psql(dbname_,
                                    "UPDATE users SET disabled_at = NULL WHERE name = 'alice'");
  EXPECT_TRUE(eventually([&] { return !cache.current()->find_user("alice")->disabled; }))
      << "the triggers notify for changes made by hand";
  EXPECT_EQ(cache.current()->version(), before + 1);
}

TEST_F(snapshot, the_cache_refuses_to_start_without_a_database) {
  EXPECT_THROW(policy::policy_cache("host=/nonexistent dbname=x", "test-node"),
               policy::store_error);
}

}  // namespace
}  // namespace bastion::test
