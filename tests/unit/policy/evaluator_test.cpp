// Policy decisions against a hand-built snapshot: default deny, and each refusal says why.
#include <gtest/gtest.h>

#include <bastion/policy/evaluator.hpp>

namespace bastion::policy {
namespace {

class evaluator : public ::testing::Test {
 protected:
  evaluator()
      : snap_(snapshot_rows{
            {{"alice", false, false}, {"bob", false, false}, {"mallory", false, true}},
            {{"SHA256:alice1", "alice", "ssh-ed25519", "A"},
             {"SHA256:bob1", "bob", "ssh-ed25519", "B"},
             {"SHA256:mal1", "mallory", "ssh-ed25519", "M"}},
            {{"web1", "10.0.0.5", 22, {}, {}},
             {"db1", "10.0.0.6", 2200, {}, {}},
             {"alias-a", "10.0.0.9", 22, {}, {}},
             {"alias-b", "10.0.0.9", 22, {}, {}}},
            {{"alice", "web1", "deploy", {channel_kind::shell, channel_kind::exec}},
             {"alice", "db1", "postgres", {channel_kind::exec}},
             {"mallory", "web1", "deploy", {channel_kind::shell}}},
        }) {}
  policy_snapshot snap_;
};

TEST(key_decisions, from_and_expiry_time_apply_at_login) {
  const policy_snapshot snap(snapshot_rows{
      {{"alice", false, false}},
      {{"SHA256:office", "alice", "ssh-ed25519", "A", *parse_key_options(R"(from="10.0.0.0/8")")},
       {"SHA256:old", "alice", "ssh-ed25519", "B",
        *parse_key_options(R"(expiry-time="20300101Z")")}},
      {},
      {}});
  const auto alice = *parse_username("alice");
  EXPECT_TRUE(decide_key(snap, alice, "SHA256:office", {"10.9.8.7", 0}).accepted);
  const auto away = decide_key(snap, alice, "SHA256:office", {"192.0.2.1", 0});
  EXPECT_FALSE(away.accepted);
  EXPECT_EQ(away.reason, "key SHA256:office is not allowed from 192.0.2.1 (its from= option)");
  EXPECT_TRUE(decide_key(snap, alice, "SHA256:old", {"192.0.2.1", 1893455999}).accepted);
  const auto late = decide_key(snap, alice, "SHA256:old", {"192.0.2.1", 1893456000});
  EXPECT_FALSE(late.accepted);
  EXPECT_EQ(late.reason, "key SHA256:old has expired (its expiry-time= option)");
}

TEST_F(evaluator, usernames_read_in_both_forms) {
  const auto plain = parse_username("alice");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->username_form());
  EXPECT_EQ(plain->bastion_user, "alice");
  const auto form = parse_username("deploy@web1");
  ASSERT_TRUE(form);
  EXPECT_TRUE(form->username_form());
  EXPECT_EQ(form->login, "deploy");
  EXPECT_EQ(form->target, "web1");
  for (const char* bad : {"", "root", "a@b@c", "@web1", "deploy@", "de ploy@web1", "x@we*b"}) {
    EXPECT_FALSE(parse_username(bad)) << bad;
  }
}

TEST_F(evaluator, keys_are_accepted_only_for_their_enabled_owner) {
  EXPECT_TRUE(decide_key(snap_, *parse_username("alice"), "SHA256:alice1", {}).accepted);
  const auto wrong = decide_key(snap_, *parse_username("alice"), "SHA256:bob1", {});
  EXPECT_FALSE(wrong.accepted);
  EXPECT_NE(wrong.reason.find("another user"), std::string::npos);
  EXPECT_FALSE(decide_key(snap_, *parse_username("alice"), "SHA256:nobody", {}).accepted);
  EXPECT_FALSE(decide_key(snap_, *parse_username("carol"), "SHA256:alice1", {}).accepted);
  const auto disabled = decide_key(snap_, *parse_username("mallory"), "SHA256:mal1", {});
  EXPECT_FALSE(disabled.accepted);
  EXPECT_NE(disabled.reason.find("disabled"), std::string::npos);
  // Username form: the key names the user.
  const auto form = decide_key(snap_, *parse_username("deploy@web1"), "SHA256:bob1", {});
  EXPECT_TRUE(form.accepted);
  EXPECT_EQ(form.user, "bob");
  EXPECT_FALSE(decide_key(snap_, *parse_username("deploy@web1"), "SHA256:mal1", {}).accepted);
}

TEST_F(evaluator, any_grant_on_a_target_is_found_whatever_the_login) {
  EXPECT_TRUE(snap_.has_grant_on("alice", "web1"));
  EXPECT_TRUE(snap_.has_grant_on("alice", "db1"));
  EXPECT_FALSE(snap_.has_grant_on("bob", "web1"));
  EXPECT_FALSE(snap_.has_grant_on("alice", "web"));  // a prefix of a name is not the name
  EXPECT_FALSE(snap_.has_grant_on("alic", "web1"));
  EXPECT_FALSE(snap_.has_grant_on("alice", "alias-a"));
}

TEST_F(evaluator, destinations_resolve_by_name_or_unique_address) {
  EXPECT_EQ(resolve_destination(snap_, "web1", 22)->name, "web1");
  EXPECT_EQ(resolve_destination(snap_, "db1", 22)->name, "db1");  // `ssh -J b db1` asks for port 22
  EXPECT_EQ(resolve_destination(snap_, "db1", 2200)->name, "db1");
  EXPECT_EQ(resolve_destination(snap_, "db1", 2201), nullptr);
  EXPECT_EQ(resolve_destination(snap_, "10.0.0.5", 22)->name, "web1");
  EXPECT_EQ(resolve_destination(snap_, "10.0.0.6", 22), nullptr);
  EXPECT_EQ(resolve_destination(snap_, "10.0.0.9", 22), nullptr)
      << "two targets share it: ambiguous";
  EXPECT_EQ(resolve_destination(snap_, "example.org", 22), nullptr);
}

TEST_F(evaluator, access_is_default_deny) {
  const auto* web1 = snap_.find_target_by_name("web1");
  const auto ok = decide_access(snap_, "alice", *web1, "deploy");
  EXPECT_TRUE(ok.allowed);
  EXPECT_TRUE(allows(ok, channel_kind::shell));
  EXPECT_FALSE(allows(ok, channel_kind::sftp));
  EXPECT_FALSE(allows(ok, channel_kind::agent));
  const auto other_login = decide_access(snap_, "alice", *web1, "root");
  EXPECT_FALSE(other_login.allowed);
  EXPECT_EQ(other_login.reason, "user alice may not log in to web1 as root");
  EXPECT_FALSE(allows(other_login, channel_kind::shell));
  EXPECT_FALSE(decide_access(snap_, "bob", *web1, "deploy").allowed);
}

}  // namespace
}  // namespace bastion::policy
