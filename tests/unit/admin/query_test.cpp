// The admin API's query strings: decoded, bounded, and only the names an endpoint takes.
#include "query.hpp"

#include <gtest/gtest.h>

namespace bastion::admin {
namespace {

TEST(query, decodes_names_and_values) {
  const auto q = parse_query("user=al%69ce&since=2026-12-01T10%3A00Z&live=true&x+y=&",
                             {"user", "since", "live", "x y"});
  ASSERT_TRUE(q) << q.error().text;
  EXPECT_EQ(q->at("user"), "alice");
  EXPECT_EQ(q->at("since"), "2026-12-01T10:00Z");
  EXPECT_EQ(q->at("x y"), "");
  EXPECT_EQ(*bool_param(*q, "live"), true);
  EXPECT_EQ(*int_param(*q, "limit", 100, 1, 1000), 100);
  EXPECT_EQ(text_param(*q, "x y"), std::nullopt);
  EXPECT_TRUE(parse_query("", {})->empty());
}

TEST(query, refuses_what_no_endpoint_reads) {
  const auto error = [](std::string_view text) {
    const auto q = parse_query(text, {"user", "limit"});
    return q ? std::string("accepted") : q.error().text;
  };
  EXPECT_EQ(error("bogus=1"),
            "unknown query parameter \"bogus\"; this endpoint takes: user, limit");
  EXPECT_EQ(error("user=a&user=b"), "query parameter user is given twice; give it once");
  EXPECT_EQ(error("user=%4"), "a % in the query is not followed by two hex digits");
  EXPECT_EQ(error("user=%zz"), "a % in the query is not followed by two hex digits");
  EXPECT_NE(error("user=a%00b").find("UTF-8 text of at most 256 bytes"), std::string::npos);
  EXPECT_NE(error("user=%ff").find("UTF-8 text"), std::string::npos);
  EXPECT_NE(error("user=" + std::string(257, 'a')).find("at most 256 bytes"), std::string::npos);
  EXPECT_EQ(error("user=" + std::string(256, 'a')), "accepted");
  EXPECT_NE(error("us%00er=1").find("unknown query parameter \"us\\x00er\""), std::string::npos);
}

TEST(query, numbers_and_booleans_are_checked) {
  const auto q = parse_query("limit=1001&live=yes&n=12x", {"limit", "live", "n"});
  ASSERT_TRUE(q);
  EXPECT_EQ(int_param(*q, "limit", 1, 1, 1000).error().text,
            "limit must be a whole number from 1 to 1000");
  EXPECT_EQ(int_param(*q, "n", 1, 1, 1000).error().text, "n must be a whole number from 1 to 1000");
  EXPECT_EQ(bool_param(*q, "live").error().text, "live must be true or false");
}

}  // namespace
}  // namespace bastion::admin
