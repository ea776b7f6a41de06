#include <gtest/gtest.h>

#include <bastion/common/duration.hpp>

namespace bastion {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(duration, parses_each_unit) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("120s"), seconds(120));
  EXPECT_EQ(parse_duration("5m"), minutes(5));
  EXPECT_EQ(parse_duration("2h"), hours(2));
  EXPECT_EQ(parse_duration("1d"), hours(24));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
}

TEST(duration, parses_combinations) {
  EXPECT_EQ(parse_duration("1h30m"), minutes(90));
  EXPECT_EQ(parse_duration("1m30s500ms"), milliseconds(90500));
}

TEST(duration, rejects_what_it_cannot_read_without_guessing) {
  for (const char* bad : {"", "120", "s", "12x", "1.5s", "-1s", "1 s", "1s ", "1hh", "ms", "1m30",
                          "99999999999999999999s", "1000000d"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(duration, formats_back_to_what_it_parses) {
  for (const char* text : {"0s", "250ms", "2m", "1h30m", "1d2h3m4s5ms"}) {
    const auto d = parse_duration(text);
    ASSERT_TRUE(d) << text;
    EXPECT_EQ(format_duration(*d), text);
  }
  EXPECT_EQ(format_duration(seconds(90)), "1m30s");
}

}  // namespace
}  // namespace bastion
