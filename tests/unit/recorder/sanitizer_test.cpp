// The replay sanitizer against a table of hostile sequences, plus its algebra: idempotent, and
// indifferent to how the stream is split.
#include <gtest/gtest.h>

#include <random>

#include <bastion/common/escape.hpp>
#include <bastion/recorder/sanitizer.hpp>

namespace bastion::recorder {
namespace {

std::string clean(std::string_view s) {
  return terminal_sanitizer::clean(s);
}

struct sample {
  const char* name;
  std::string in;
  std::string out;
};

void PrintTo(const sample& s, std::ostream* os) {
  *os << s.name;
}

class hostile_sequences : public ::testing::TestWithParam<sample> {};

TEST_P(hostile_sequences, are_dropped_and_the_text_around_them_kept) {
  EXPECT_EQ(clean(GetParam().in), GetParam().out);
}

const std::string E = "\x1b";

INSTANTIATE_TEST_SUITE_P(
    sanitizer, hostile_sequences,
    ::testing::Values(
        sample{"title_bel", "a" + E + "]0;pwned\a" + "b", "ab"},
        sample{"title_st", "a" + E + "]2;pwned" + E + "\\b", "ab"},
        sample{"osc52_clipboard", "x" + E + "]52;c;Y3VybCBldmlsIHwgc2g=\a" + "y", "xy"},
        sample{"hyperlink", E + "]8;;http://evil/" + E + "\\click" + E + "]8;;" + E + "\\",
               "click"},
        sample{"decrqss", "a" + E + "P$qm" + E + "\\b", "ab"},
        sample{"dcs_sixel", E + "Pq#0;2;0;0;0#0~~" + E + "\\ok", "ok"},
        sample{"apc", E + "_Gf=100;AAAA" + E + "\\ok", "ok"},
        sample{"pm", E + "^private" + E + "\\ok", "ok"},
        sample{"sos", E + "Xstring" + E + "\\ok", "ok"},
        sample{"primary_da", "a" + E + "[c" + E + "[0c" + "b", "ab"},
        sample{"secondary_da", "a" + E + "[>c" + E + "[>0c" + "b", "ab"},
        sample{"tertiary_da", "a" + E + "[=c" + "b", "ab"},
        sample{"dsr_cursor_position", "a" + E + "[6n" + E + "[?6n" + E + "[5n" + "b", "ab"},
        sample{"decrqm", "a" + E + "[?2026$p" + "b", "ab"},
        sample{"window_ops_report", "a" + E + "[21t" + E + "[14t" + E + "[8;100;100t" + "b", "ab"},
        sample{"decid", "a" + E + "Z" + "b", "ab"},
        sample{"enq_answerback",
               "a\x05"
               "b",
               "ab"},
        sample{"c1_8bit_csi",
               "a\x9b"
               "6n"
               "b",
               "a6nb"},
        sample{"c1_8bit_osc",
               "a\x9d"
               "0;t\x9c"
               "b",
               "a0;tb"},
        sample{"c1_utf8_encoded",
               "a\xc2\x9b"
               "6n"
               "b",
               "a6nb"},
        sample{"mouse_tracking", "a" + E + "[?1000h" + E + "[?1006;1000h" + E + "[?1004h" + "b",
               "ab"},
        sample{"can_aborts_csi",
               "a" + E +
                   "[6\x18"
                   "b",
               "ab"},
        sample{"runaway_csi", "a" + E + "[" + std::string(100, '1') + "mb",
               "a" + std::string(37, '1') + "mb"},
        sample{"invalid_utf8",
               "a\xff\xfe\xc0\xaf"
               "b",
               "ab"},
        sample{"keeps_sgr", E + "[1;31mred" + E + "[0m", E + "[1;31mred" + E + "[0m"},
        sample{"keeps_cursor", E + "[2J" + E + "[H" + E + "[10;5H" + E + "[3A" + E + "[K",
               E + "[2J" + E + "[H" + E + "[10;5H" + E + "[3A" + E + "[K"},
        sample{"keeps_alt_screen", E + "[?1049h" + E + "[?25l" + E + "[?1049l",
               E + "[?1049h" + E + "[?25l" + E + "[?1049l"},
        sample{"keeps_charset_and_cursor_style",
               E + "(0qq" + E + "(B" + E + "[2 q" + E + "7" + E + "8",
               E + "(0qq" + E + "(B" + E + "[2 q" + E + "7" + E + "8"},
        sample{"keeps_text_and_utf8", "ls -l\r\n\xe2\x9c\x93 done\t\a",
               "ls -l\r\n\xe2\x9c\x93 done\t\a"}),
    [](const ::testing::TestParamInfo<sample>& param_info) {
      return std::string(param_info.param.name);
    });

std::string random_terminal_bytes(std::mt19937_64& rng, std::size_t n) {
  // Biased towards the bytes that start and end sequences.
  static const std::string interesting =
      "\x1b[]P_^XZ\\\a\x18\x9b\x9c\x90;?0123456789mHcnqt$ >=\xc2\xe2\x9c\x93\r\n";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += rng() % 3 == 0 ? static_cast<char>(rng() % 256) : interesting[rng() % interesting.size()];
  }
  return s;
}

TEST(sanitizer, cleaning_twice_equals_once) {
  std::mt19937_64 rng(2026);
  for (int i = 0; i < 2000; ++i) {
    const std::string once = clean(random_terminal_bytes(rng, 200));
    EXPECT_EQ(clean(once), once);
  }
}

TEST(sanitizer, split_streams_give_the_same_result) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 500; ++i) {
    const std::string input = random_terminal_bytes(rng, 300);
    terminal_sanitizer s;
    std::string out;
    for (std::size_t pos = 0; pos < input.size();) {
      const std::size_t len = 1 + rng() % 7;
      s.feed(std::string_view(input).substr(pos, len), out);
      pos += len;
    }
    s.finish();
    EXPECT_EQ(out, clean(input));
  }
}

// Raw 0x80..0x9F bytes may only appear inside well-formed UTF-8 (as continuation bytes).
TEST(sanitizer, output_never_holds_a_string_introducer_or_c1) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 2000; ++i) {
    const std::string out = clean(random_terminal_bytes(rng, 200));
    ASSERT_TRUE(is_valid_utf8(out));
    for (const char* bad :
         {"\x1b]", "\x1bP", "\x1b_", "\x1b^", "\x1bX", "\x1bZ", "\x05", "\xc2\x9b"}) {
      ASSERT_EQ(out.find(bad), std::string::npos) << "found " << testing::PrintToString(bad);
    }
  }
}

}  // namespace
}  // namespace bastion::recorder
