// The grant evaluator as a table: each case is a set of grant rows and one login, with the
// decision, the grant that made it and the reason expected. Then the rows that are refused, each
// for the field it gets wrong, and the target selectors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <bastion/policy/grants.hpp>

namespace bastion::policy {
namespace {

constexpr std::int64_t now = 1'800'000'000;  // 2027-01-15T08:00:00Z

grant_row to_user(std::int64_t id, std::string user, std::string targets,
                  std::string kinds = "shell") {
  grant_row r;
  r.id = id;
  r.user = std::move(user);
  r.targets = std::move(targets);
  r.logins = {"deploy"};
  r.kinds = std::move(kinds);
  return r;
}

grant_row to_group(std::int64_t id, std::string group, std::string targets,
                   std::string kinds = "shell") {
  grant_row r = to_user(id, "", std::move(targets), std::move(kinds));
  r.group = std::move(group);
  return r;
}

template <class F>
grant_row with(grant_row r, F&& change) {
  change(r);
  return r;
}

struct attempt {
  std::string user = "alice";
  std::vector<std::string> groups = {"ops"};
  std::string target = "web1";
  target_labels labels = {{"env", "prod"}};
  std::string login = "deploy";
  std::string source = "10.1.2.3";
  std::int64_t at = now;
};

struct grant_case {
  std::string name;
  std::vector<grant_row> rows;
  attempt who;
  bool allowed;
  std::int64_t rule;   // the deciding grant's id; 0 for none
  std::string reason;  // a part of the reason when refused
};

std::vector<grant_case> cases() {
  const auto window = [](std::optional<std::int64_t> from, std::optional<std::int64_t> until) {
    return [=](grant_row& r) {
      r.valid_from_unix = from;
      r.valid_until_unix = until;
    };
  };
  const auto sources = [](const std::vector<std::string>& s) {
    return [=](grant_row& r) { r.sources = s; };
  };
  return {
      {"no grant at all: denied", {}, {}, false, 0, "user alice may not log in to web1 as deploy"},
      {"a grant by name", {to_user(1, "alice", "web1")}, {}, true, 1, ""},
      {"another user's grant", {to_user(1, "bob", "web1")}, {}, false, 0, "may not log in"},
      {"another target", {to_user(1, "alice", "web2")}, {}, false, 0, "may not log in"},
      {"another login", {to_user(1, "alice", "web1")}, {.login = "root"}, false, 0, "as root"},
      {"one of several logins",
       {with(to_user(1, "alice", "web1"),
             [](grant_row& r) {
               r.logins = {"app", "deploy"};
             })},
       {},
       true,
       1,
       ""},
      {"a group the user is in", {to_group(1, "ops", "web1")}, {}, true, 1, ""},
      {"a group the user is not in", {to_group(1, "dba", "web1")}, {}, false, 0, "may not log in"},
      {"a glob", {to_user(1, "alice", "web*")}, {}, true, 1, ""},
      {"a glob with ?",
       {to_user(1, "alice", "web?")},
       {.target = "web12"},
       false,
       0,
       "may not log in"},
      {"a glob that must match the whole name", {to_user(1, "alice", "eb*")}, {}, false, 0, ""},
      {"a label", {to_user(1, "alice", "label:env=prod")}, {}, true, 1, ""},
      {"a label with another value",
       {to_user(1, "alice", "label:env=dev")},
       {},
       false,
       0,
       "may not log in"},
      {"a label the target lacks", {to_user(1, "alice", "label:tier=db")}, {}, false, 0, ""},
      // Precedence: the most specific grant decides, alone.
      {"the user's grant beats the group's",
       {to_group(1, "ops", "web1", "shell,exec,sftp"), to_user(2, "alice", "web1", "shell")},
       {},
       true,
       2,
       ""},
      {"a name beats a label",
       {to_user(1, "alice", "label:env=prod"), to_user(2, "alice", "web1")},
       {},
       true,
       2,
       ""},
      {"a label beats a glob",
       {to_user(1, "alice", "*"), to_user(2, "alice", "label:env=prod")},
       {},
       true,
       2,
       ""},
      {"the longer glob beats the shorter",
       {to_user(1, "alice", "w*"), to_user(2, "alice", "web*")},
       {},
       true,
       2,
       ""},
      {"the lowest id breaks a tie",
       {to_user(7, "alice", "we?1"), to_user(3, "alice", "w?b1")},
       {},
       true,
       3,
       ""},
      {"a user's glob beats a group's name",
       {to_group(1, "ops", "web1"), to_user(2, "alice", "*")},
       {},
       true,
       2,
       ""},
      // Windows: from is inclusive, until exclusive.
      {"inside its window",
       {with(to_user(1, "alice", "web1"), window(now - 10, now + 10))},
       {},
       true,
       1,
       ""},
      {"at valid_from", {with(to_user(1, "alice", "web1"), window(now, {}))}, {}, true, 1, ""},
      {"before valid_from",
       {with(to_user(1, "alice", "web1"), window(now + 1, {}))},
       {},
       false,
       1,
       "grant #1 is valid from 2027-01-15T08:00:01Z"},
      {"at valid_until",
       {with(to_user(1, "alice", "web1"), window({}, now))},
       {},
       false,
       1,
       "grant #1 expired at 2027-01-15T08:00:00Z"},
      {"an expired specific grant refuses, though a broader one would admit",
       {with(to_user(1, "alice", "web1"), window({}, now)), to_group(2, "ops", "web*")},
       {},
       false,
       1,
       "grant #1 expired at"},
      {"a specific grant's sources narrow a broader grant",
       {with(to_user(1, "alice", "web1"), sources({"192.0.2.0/24"})), to_group(2, "ops", "web*")},
       {},
       false,
       1,
       "grant #1 does not admit connections from 10.1.2.3"},
      {"elsewhere the broader grant still decides",
       {with(to_user(1, "alice", "web1"), sources({"192.0.2.0/24"})), to_group(2, "ops", "web*")},
       {.target = "web2"},
       true,
       2,
       ""},
      // Sources.
      {"from a source it admits",
       {with(to_user(1, "alice", "web1"), sources({"192.0.2.0/24", "10.0.0.0/8"}))},
       {},
       true,
       1,
       ""},
      {"from one it does not",
       {with(to_user(1, "alice", "web1"), sources({"192.0.2.0/24"}))},
       {},
       false,
       1,
       "grant #1 does not admit connections from 10.1.2.3"},
      {"an IPv4-mapped peer is its IPv4 address",
       {with(to_user(1, "alice", "web1"), sources({"10.0.0.0/8"}))},
       {.source = "::ffff:10.1.2.3"},
       true,
       1,
       ""},
      {"IPv6",
       {with(to_user(1, "alice", "web1"), sources({"2001:db8::/32"}))},
       {.source = "2001:db8::7"},
       true,
       1,
       ""},
      {"a source that is not an address is never admitted",
       {with(to_user(1, "alice", "web1"), sources({"0.0.0.0/0"}))},
       {.source = "unix"},
       false,
       1,
       "does not admit"},
      {"of two refused, the more specific gives the reason",
       {with(to_group(1, "ops", "web1"), window({}, now - 5)),
        with(to_user(2, "alice", "web*"), sources({"192.0.2.1"}))},
       {},
       false,
       2,
       "grant #2 does not admit"},
  };
}

TEST(grants, decide_each_case_of_the_table) {
  for (const auto& c : cases()) {
    std::vector<grant_rule> rules;
    for (const auto& row : c.rows) {
      auto rule = make_grant_rule(row);
      ASSERT_TRUE(rule) << c.name << ": " << rule.error().text;
      rules.push_back(std::move(*rule));
    }
    const grant_request request{c.who.user,  c.who.groups, c.who.target, &c.who.labels,
                                c.who.login, c.who.source, c.who.at};
    const auto d = evaluate_grants(rules, request);
    EXPECT_EQ(d.allowed, c.allowed) << c.name << ": " << d.reason;
    EXPECT_EQ(d.rule ? d.rule->id : 0, c.rule) << c.name;
    if (!c.allowed) {
      EXPECT_NE(d.reason.find(c.reason), std::string::npos) << c.name << ": " << d.reason;
    }
  }
}

TEST(grants, the_deciding_grant_brings_its_own_kinds_and_limits) {
  auto broad = to_group(1, "ops", "*", "shell,exec,sftp,forward");
  broad.idle_timeout_seconds = 600;
  auto narrow = to_user(2, "alice", "web1", "exec");
  narrow.max_session_seconds = 60;
  narrow.upstream_auth = "agent";
  narrow.record_forward_data = true;
  const std::vector rules{*make_grant_rule(broad), *make_grant_rule(narrow)};
  const target_labels labels;
  const std::vector<std::string> groups{"ops"};
  const auto d = evaluate_grants(rules, {"alice", groups, "web1", &labels, "deploy", "::1", now});
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.rule->kinds, std::vector{channel_kind::exec});
  EXPECT_EQ(d.rule->max_session_seconds, 60);
  EXPECT_FALSE(d.rule->idle_timeout_seconds) << "limits are never merged";
  EXPECT_EQ(d.rule->auth, upstream_auth::agent);
  EXPECT_TRUE(d.rule->record_forward_data);
  // Elsewhere the broad grant decides, with its own.
  const auto other = evaluate_grants(rules, {"alice", groups, "db", &labels, "deploy", "::1", now});
  ASSERT_TRUE(other.allowed);
  EXPECT_EQ(other.rule->id, 1);
  EXPECT_EQ(other.rule->idle_timeout_seconds, 600);
  EXPECT_EQ(other.rule->auth, upstream_auth::bastion_key);
}

TEST(grants, refuse_a_malformed_row_naming_the_field) {
  const auto base = to_user(9, "alice", "web1");
  const std::vector<std::pair<grant_row, std::string>> bad{
      {with(base, [](grant_row& r) { r.group = "ops"; }), "both a user and a group"},
      {with(base, [](grant_row& r) { r.user.clear(); }), "or neither"},
      {with(base, [](grant_row& r) { r.user = "root"; }), "never admits root"},
      {with(base, [](grant_row& r) { r.user = "a b"; }), "user name"},
      {to_group(9, "-ops", "web1"), "group name"},
      {with(base, [](grant_row& r) { r.targets = "web 1"; }), "target name"},
      {with(base, [](grant_row& r) { r.targets = "web/*"; }), "target pattern"},
      {with(base, [](grant_row& r) { r.targets = "label:env"; }), "label:KEY=VALUE"},
      {with(base, [](grant_row& r) { r.targets = "label:=prod"; }), "label key"},
      {with(base, [](grant_row& r) { r.targets = "label:env=a b"; }), "label value"},
      {with(base, [](grant_row& r) { r.logins.clear(); }), "names no login"},
      {with(base, [](grant_row& r) { r.logins = {"-x"}; }), "login"},
      {with(base, [](grant_row& r) { r.kinds = "shell,telnet"; }), "not a channel kind"},
      {with(base, [](grant_row& r) { r.kinds = ""; }), "no channel kinds"},
      {with(base,
            [](grant_row& r) {
              r.valid_from_unix = now;
              r.valid_until_unix = now;
            }),
       "valid_from is not before valid_until"},
      {with(base, [](grant_row& r) { r.sources = {"10.0.0.0/33"}; }), "source \"10.0.0.0/33\""},
      {with(base, [](grant_row& r) { r.sources = {"10.0.0.1\x1b[2J"}; }), "\\x1b"},
      {with(base, [](grant_row& r) { r.max_session_seconds = 0; }), "max_session_duration"},
      {with(base, [](grant_row& r) { r.idle_timeout_seconds = -5; }), "idle_timeout"},
      {with(base, [](grant_row& r) { r.upstream_auth = "password"; }), "upstream_auth"},
  };
  for (const auto& [row, part] : bad) {
    const auto rule = make_grant_rule(row);
    ASSERT_FALSE(rule) << part;
    EXPECT_TRUE(rule.error().text.starts_with("grant #9: ")) << rule.error().text;
    EXPECT_NE(rule.error().text.find(part), std::string::npos) << rule.error().text;
  }
}

// A stored row whose limits cannot be read still decides where it names the request, and refuses:
// a broader grant never decides in its place.
TEST(grants, an_unreadable_row_refuses_where_it_would_have_decided) {
  auto row = to_user(4, "alice", "web1");
  row.sources = {"10.0.0.0/99"};
  const auto refused = make_grant_rule(row);
  ASSERT_FALSE(refused);
  const auto rule = make_refusing_rule(row, refused.error().text);
  ASSERT_TRUE(rule) << rule.error().text;
  const std::vector rules{*rule, *make_grant_rule(to_group(5, "ops", "*"))};
  const std::vector<std::string> groups{"ops"};
  const target_labels none;
  const auto d =
      evaluate_grants(rules, {"alice", groups, "web1", &none, "deploy", "10.1.2.3", now});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule->id, 4);
  EXPECT_NE(d.reason.find("grant #4 cannot be read (grant #4: source \"10.0.0.0/99\""),
            std::string::npos)
      << d.reason;
  EXPECT_TRUE(
      evaluate_grants(rules, {"alice", groups, "db1", &none, "deploy", "::1", now}).allowed);
  // Nothing can be told of a row whose subject is unreadable: it is left out.
  auto nameless = row;
  nameless.user = "a b";
  EXPECT_FALSE(make_refusing_rule(nameless, "x"));
}

// Before a -J hop's login is known: open if some login that a grant names would be.
TEST(grants, reach_tries_each_login_that_a_grant_names) {
  auto office = to_user(1, "alice", "web1");
  office.logins = {"app"};
  office.sources = {"192.0.2.0/24"};
  const std::vector rules{*make_grant_rule(office), *make_grant_rule(to_user(2, "alice", "w*"))};
  const std::vector<std::string> groups;
  const target_labels none;
  const auto home = [&](std::string_view target) {
    return evaluate_reach(rules, {"alice", groups, target, &none, {}, "10.1.2.3", now});
  };
  EXPECT_TRUE(home("web1").allowed) << "as deploy, by grant #2";
  EXPECT_EQ(home("web1").rule->id, 2);
  EXPECT_TRUE(home("web9").allowed);
  const auto db = home("db1");
  EXPECT_FALSE(db.allowed);
  EXPECT_EQ(db.reason, "user alice may not reach db1");
  const std::vector only_office{*make_grant_rule(office)};
  const auto away =
      evaluate_reach(only_office, {"alice", groups, "web1", &none, {}, "10.1.2.3", now});
  EXPECT_FALSE(away.allowed);
  EXPECT_EQ(away.reason, "grant #1 does not admit connections from 10.1.2.3");
}

TEST(grants, target_selectors_print_as_they_are_read) {
  for (const std::string text : {"web1", "web-*", "db-??.example", "*", "label:env=prod",
                                 "label:team/owner=", "label:k8s.io/zone=eu-1"}) {
    const auto s = parse_target_selector(text);
    ASSERT_TRUE(s) << text << ": " << s.error().text;
    EXPECT_EQ(s->to_string(), text);
  }
  const target_labels none;
  EXPECT_TRUE(parse_target_selector("*")->matches("anything", none));
  EXPECT_TRUE(parse_target_selector("a*b*c")->matches("aXXbYYc", none));
  EXPECT_FALSE(parse_target_selector("a*b*c")->matches("aXXbYY", none));
  EXPECT_TRUE(parse_target_selector("*.prod")->matches("web.prod", none));
  EXPECT_FALSE(parse_target_selector("*.prod")->matches("web.prod.old", none));
  EXPECT_TRUE(parse_target_selector("label:team/owner=")->matches("x", {{"team/owner", ""}}));
  EXPECT_FALSE(parse_target_selector("label:team/owner=")->matches("x", none));
}

}  // namespace
}  // namespace bastion::policy
