// Policy decisions against a hand-built snapshot: default deny, and each refusal says why.
#include <gtest/gtest.h>

#include <array>

#include <bastion/policy/evaluator.hpp>

namespace bastion::policy {
namespace {

grant_rule grant(std::int64_t id, std::string user, std::string targets, std::string login,
                 std::string kinds) {
  grant_row row;
  row.id = id;
  row.user = std::move(user);
  row.targets = std::move(targets);
  row.logins = {std::move(login)};
  row.kinds = std::move(kinds);
  return *make_grant_rule(row);
}

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
            {grant(1, "alice", "web1", "deploy", "shell,exec"),
             grant(2, "alice", "db1", "postgres", "exec"),
             grant(3, "mallory", "web1", "deploy", "shell")},
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
  const auto reach = [&](std::string_view user, std::string_view target) {
    const auto* t = snap_.find_target_by_name(target);
    return t != nullptr && snap_.decide_reach(user, *t, "10.1.2.3", 0).allowed;
  };
  EXPECT_TRUE(reach("alice", "web1"));
  EXPECT_TRUE(reach("alice", "db1"));
  EXPECT_FALSE(reach("bob", "web1"));
  EXPECT_FALSE(reach("alic", "web1"));
  EXPECT_FALSE(reach("alice", "alias-a"));
}

// A group's grant on a label reaches the targets that carry it, for the group's members; a grant
// out of its window or its sources does not.
TEST(grant_snapshot, groups_labels_windows_and_sources_reach_the_snapshot) {
  auto windowed = grant(2, "bob", "w*", "deploy", "exec");
  windowed.valid_until_unix = 100;
  auto sourced = grant(3, "carol", "web1", "deploy", "exec");
  sourced.sources = {*parse_net_block("192.0.2.0/24")};
  grant_rule to_ops = grant(1, "x", "label:env=prod", "deploy", "shell");
  to_ops.to_group = true;
  to_ops.subject = "ops";
  const target_info web1{"web1", "10.0.0.5", 22, {}, {}, {{"env", "prod"}}};
  const target_info dev1{"dev1", "10.0.0.7", 22, {}, {}, {{"env", "dev"}}};
  const policy_snapshot snap(snapshot_rows{
      {{"alice", false, false}, {"bob", false, false}, {"carol", false, false}},
      {},
      {web1, dev1},
      {to_ops, windowed, sourced},
      {{"alice", "ops"}},
  });
  const auto& t1 = *snap.find_target_by_name("web1");
  const auto& t2 = *snap.find_target_by_name("dev1");
  const key_context office{"10.1.2.3", 50};
  EXPECT_EQ(decide_access(snap, "alice", t1, "deploy", office).grant, 1);
  EXPECT_FALSE(decide_access(snap, "alice", t2, "deploy", office).allowed);
  EXPECT_TRUE(decide_access(snap, "bob", t1, "deploy", office).allowed);
  const auto late = decide_access(snap, "bob", t1, "deploy", {"10.1.2.3", 100});
  EXPECT_FALSE(late.allowed);
  EXPECT_EQ(late.grant, 2);
  EXPECT_EQ(late.reason, "grant #2 expired at 1970-01-01T00:01:40Z");
  EXPECT_EQ(snap.decide_reach("bob", t1, "10.1.2.3", 100).reason,
            "grant #2 expired at 1970-01-01T00:01:40Z");
  EXPECT_TRUE(decide_access(snap, "carol", t1, "deploy", {"192.0.2.9", 50}).allowed);
  EXPECT_FALSE(decide_access(snap, "carol", t1, "deploy", office).allowed);
  EXPECT_FALSE(snap.decide_reach("carol", t1, "10.1.2.3", 50).allowed);
  EXPECT_TRUE(snap.decide_reach("carol", t1, "192.0.2.9", 50).allowed);
  EXPECT_EQ(std::vector(snap.groups_of("alice").begin(), snap.groups_of("alice").end()),
            std::vector<std::string>{"ops"});
  EXPECT_TRUE(snap.groups_of("bob").empty());
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

// A registered host's other port is a plain TCP forward: it needs forward in the deciding grant,
// and a key that may forward.
TEST_F(evaluator, plain_forwards_go_to_registered_hosts_other_ports_where_forward_is_granted) {
  EXPECT_EQ(resolve_service(snap_, "web1", 22), nullptr);  // its SSH service: a -J hop
  EXPECT_EQ(resolve_service(snap_, "db1", 2200), nullptr);
  EXPECT_EQ(resolve_service(snap_, "nowhere", 5432), nullptr);
  EXPECT_EQ(resolve_service(snap_, "10.0.0.9", 80), nullptr);  // two names share it
  ASSERT_NE(resolve_service(snap_, "db1", 5432), nullptr);
  EXPECT_EQ(resolve_service(snap_, "10.0.0.6", 5432)->name, "db1");

  const target_info& db1 = *resolve_service(snap_, "db1", 5432);
  const key_context at{"10.1.2.3", 0};
  const auto exec_only = decide_plain_forward(snap_, "alice", db1, {}, "db1", 5432, at);
  EXPECT_FALSE(exec_only.allowed);
  EXPECT_EQ(exec_only.reason, "grant 2 does not allow forward to db1");
  EXPECT_FALSE(decide_plain_forward(snap_, "bob", db1, {}, "db1", 5432, at).allowed);

  const policy_snapshot granted(
      snapshot_rows{{{"alice", false, false}},
                    {},
                    {{"db1", "10.0.0.6", 2200, {}, {}}},
                    {grant(7, "alice", "db1", "postgres", "exec,forward")}});
  const target_info& db = *resolve_service(granted, "db1", 5432);
  // Another target's SSH service on the same address is never a plain forward.
  const policy_snapshot shared(snapshot_rows{
      {}, {}, {{"t1", "10.0.0.5", 22, {}, {}}, {"t1b", "10.0.0.5", 2222, {}, {}}}, {}});
  EXPECT_EQ(resolve_service(shared, "t1", 2222), nullptr);
  EXPECT_EQ(resolve_service(shared, "t1", 8080)->name, "t1");
  const auto ok = decide_plain_forward(granted, "alice", db, {}, "db1", 5432, at);
  EXPECT_TRUE(ok.allowed) << ok.reason;
  EXPECT_EQ(ok.grant, 7);
  EXPECT_EQ(ok.login, "postgres");
  EXPECT_FALSE(decide_plain_forward(granted, "alice", db, *parse_key_options("no-port-forwarding"),
                                    "db1", 5432, at)
                   .allowed);
  EXPECT_FALSE(decide_plain_forward(granted, "alice", db,
                                    *parse_key_options(R"(permitopen="db1:6432")"), "db1", 5432, at)
                   .allowed);
  EXPECT_TRUE(decide_plain_forward(granted, "alice", db,
                                   *parse_key_options(R"(permitopen="db1:5432")"), "db1", 5432, at)
                  .allowed);
}

TEST_F(evaluator, access_is_default_deny) {
  const auto* web1 = snap_.find_target_by_name("web1");
  const key_context at{"10.1.2.3", 0};
  const auto ok = decide_access(snap_, "alice", *web1, "deploy", at);
  EXPECT_TRUE(ok.allowed);
  EXPECT_TRUE(allows(ok, channel_kind::shell));
  EXPECT_FALSE(allows(ok, channel_kind::sftp));
  EXPECT_FALSE(allows(ok, channel_kind::agent));
  const auto other_login = decide_access(snap_, "alice", *web1, "root", at);
  EXPECT_FALSE(other_login.allowed);
  EXPECT_EQ(other_login.reason, "user alice may not log in to web1 as root");
  EXPECT_FALSE(allows(other_login, channel_kind::shell));
  EXPECT_FALSE(decide_access(snap_, "bob", *web1, "deploy", at).allowed);
}

// After a reload a live session is decided again from what it was let in with: each of its keys,
// its target and its grant, under the new snapshot.
TEST(live_decisions, a_session_holds_while_its_keys_target_and_grant_do) {
  grant_row limited;
  limited.id = 7;
  limited.user = "alice";
  limited.targets = "web*";
  limited.logins = {"deploy"};
  limited.kinds = "shell,forward";
  limited.idle_timeout_seconds = 600;
  const auto rows = [&](bool with_key, bool with_target, bool with_grant) {
    snapshot_rows r{{{"alice", false, false}, {"bob", false, false}}, {}, {}, {}};
    r.keys.push_back({"SHA256:bob1", "bob", "ssh-ed25519", "B"});
    if (with_key) {
      r.keys.push_back(
          {"SHA256:a1", "alice", "ssh-ed25519", "A", *parse_key_options("no-port-forwarding")});
    }
    if (with_target) {
      r.targets.push_back({"web1", "10.0.0.5", 22, {}, {}});
    }
    if (with_grant) {
      r.grants.push_back(*make_grant_rule(limited));
    }
    return policy_snapshot(std::move(r));
  };
  const std::array keys{key_use{*parse_username("alice"), "SHA256:a1"}};
  const live_session session{"alice", "web1", "deploy", keys};
  const key_context at{"10.1.2.3", 0};

  const auto held = decide_live(rows(true, true, true), session, at);
  EXPECT_TRUE(held.allowed) << held.reason;
  EXPECT_EQ(held.grant, 7);
  EXPECT_EQ(held.idle_timeout_seconds, 600) << "the grant's limits go with the decision";
  EXPECT_EQ(held.kinds, std::vector{channel_kind::shell}) << "narrowed by the key's options";

  const auto no_key = decide_live(rows(false, true, true), session, at);
  EXPECT_FALSE(no_key.allowed);
  EXPECT_EQ(no_key.reason,
            "the key SHA256:a1 is no longer accepted for alice (unknown key SHA256:a1)");
  const auto no_target = decide_live(rows(true, false, true), session, at);
  EXPECT_FALSE(no_target.allowed);
  EXPECT_EQ(no_target.reason, "web1 is no longer a registered target");
  const auto no_grant = decide_live(rows(true, true, false), session, at);
  EXPECT_FALSE(no_grant.allowed);
  EXPECT_EQ(no_grant.reason, "user alice may not log in to web1 as deploy");

  // A -J hop's second key must be the same user's: another user's key refuses it.
  const std::array two{keys[0], key_use{*parse_username("alice"), "SHA256:bob1"}};
  const auto foreign = decide_live(rows(true, true, true), {"alice", "web1", "deploy", two}, at);
  EXPECT_FALSE(foreign.allowed);
  EXPECT_EQ(foreign.reason,
            "the key SHA256:bob1 is no longer accepted for alice (key SHA256:bob1 belongs to "
            "another user)");
}

}  // namespace
}  // namespace bastion::policy
