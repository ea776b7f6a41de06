#include <gtest/gtest.h>

#include <bastion/policy/names.hpp>

namespace bastion::policy {
namespace {

using namespace std::string_literals;

TEST(names, accept_ordinary_names) {
  EXPECT_TRUE(check_user_name("alice"));
  EXPECT_TRUE(check_user_name("j.doe-2_x"));
  EXPECT_TRUE(check_target_name("db-prod.eu-west-1"));
  EXPECT_TRUE(check_login("deploy"));
  EXPECT_TRUE(check_host("10.0.0.5"));
  EXPECT_TRUE(check_host("fe80::1"));
  EXPECT_TRUE(check_host("web1.corp.example"));
}

TEST(names, refuse_hostile_and_oversized_names) {
  for (const auto& bad : {""s, "'; DROP TABLE users; --"s, "a b"s, "-rf"s, ".hidden"s, "al\0ice"s,
                          "al\xffice"s, "alice@web1"s, "a,b"s, "*"s, std::string(65, 'a')}) {
    EXPECT_FALSE(check_user_name(bad)) << bad;
  }
  EXPECT_FALSE(check_target_name(std::string(254, 't')));
  EXPECT_FALSE(check_target_name("db-*"));
  EXPECT_FALSE(check_login(std::string(33, 'l')));
  EXPECT_FALSE(check_host("-oProxyCommand=x"));
}

TEST(names, root_is_never_a_bastion_user) {
  const auto r = check_user_name("root");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().text.find("PermitRootLogin no"), std::string::npos);
}

TEST(names, channel_kinds_parse_sort_and_dedupe) {
  const auto kinds = parse_channel_kinds("x11,shell,exec,shell");
  ASSERT_TRUE(kinds);
  EXPECT_EQ(*kinds, (std::vector{channel_kind::shell, channel_kind::exec, channel_kind::x11}));
  EXPECT_EQ(to_string(channel_kind::remote_forward), "remote-forward");
  EXPECT_NE(parse_channel_kinds("shell,root").error().text.find("\"root\" is not a channel kind"),
            std::string::npos);
  EXPECT_FALSE(parse_channel_kinds(""));
  EXPECT_FALSE(parse_channel_kinds("shell,,exec"));
}

}  // namespace
}  // namespace bastion::policy
