#include <gtest/gtest.h>

#include <bastion/common/base64.hpp>
#include <bastion/common/escape.hpp>

namespace bastion {
namespace {

using namespace std::string_literals;

TEST(escape, keeps_printable_text_and_utf8) {
  EXPECT_EQ(escape("alice@web-1"), "alice@web-1");
  EXPECT_EQ(escape("J\xC3\xBCrgen \xE2\x9C\x93"), "J\xC3\xBCrgen \xE2\x9C\x93");
}

TEST(escape, neutralises_controls_escapes_and_bad_utf8) {
  EXPECT_EQ(escape("a\x1b]0;title\x07"), "a\\x1b]0;title\\x07");
  EXPECT_EQ(escape("line\nforged=1"), "line\\x0aforged=1");
  EXPECT_EQ(escape("\xC2\x9B"
                   "31m"),
            "\\xc2\\x9b31m");  // C1 CSI in UTF-8
  EXPECT_EQ(escape("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escape("\xC0\xAF"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(escape("\xED\xA0\x80"), "\\xed\\xa0\\x80");  // surrogate
  EXPECT_EQ(escape("a\\b"), "a\\\\b");
  EXPECT_EQ(escape("nul\0x"s), "nul\\x00x");
  // A right-to-left override (U+202E), an isolate (U+2066) and a line separator (U+2028).
  EXPECT_EQ(escape("file\xE2\x80\xAEtxt.exe"), "file\\xe2\\x80\\xaetxt.exe");
  EXPECT_EQ(escape("\xE2\x81\xA6x\xE2\x80\xA8y"), "\\xe2\\x81\\xa6x\\xe2\\x80\\xa8y");
  EXPECT_EQ(escape("\xE2\x80\x94"), "\xE2\x80\x94");  // an em dash stays
}

TEST(escape, bounds_its_output) {
  const std::string big(70000, 'a');
  const std::string out = escape(big, 100);
  EXPECT_EQ(out, std::string(100, 'a') + "...(+69900 bytes)");
}

TEST(escape, utf8_validity_matches_postgresql_text) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x94\x91"));
  EXPECT_FALSE(is_valid_utf8("a\0b"s));
  EXPECT_FALSE(is_valid_utf8("\x80"));
  EXPECT_FALSE(is_valid_utf8("\xF0\x9F\x94"));      // truncated
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
}

TEST(base64, decodes_strictly) {
  EXPECT_EQ(base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(base64_decode("aGVsbG8h"), "hello!");
  EXPECT_EQ(base64_decode("aGk="), "hi");
  EXPECT_EQ(base64_decode("aA=="), "h");
  for (const char* bad : {"", "aGk", "aGk*", "a===", "aGVsbG8=aGk=", "aGl=", "aB==", "aGVs bG8="}) {
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace bastion
