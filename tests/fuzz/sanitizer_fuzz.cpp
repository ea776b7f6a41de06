// The terminal sanitizer between recorded output and an admin's terminal. Properties:
// - what it lets through is well-formed UTF-8 without C1 controls, holds no string sequence (OSC,
//   DCS, SOS, PM, APC) nor DECID, no C0 control other than those that draw (BS, HT, LF, CR, BEL,
//   ESC), and never ends in the middle of an escape sequence;
// - sanitising twice equals sanitising once;
// - streaming, with the input cut anywhere, equals one pass over the whole.
#include <string>

#include <bastion/recorder/sanitizer.hpp>

#include "fuzz_check.hpp"

namespace {

using bastion::recorder::terminal_sanitizer;

bool safe(std::string_view out) {
  if (!bastion::fuzz::terminal_safe(out, /*allow_esc=*/true) || out.ends_with('\x1b')) {
    return false;
  }
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    if (out[i] == '\x1b' && std::string_view("]PX^_Z").find(out[i + 1]) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Feeds `in` in pieces whose sizes come from the input's own bytes.
std::string streamed(std::string_view in) {
  terminal_sanitizer s;
  std::string out;
  std::size_t pos = 0;
  while (pos < in.size()) {
    const std::size_t piece = 1 + static_cast<unsigned char>(in[pos]) % 7;
    s.feed(in.substr(pos, piece), out);
    pos += piece;
  }
  s.finish();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = bastion::fuzz::as_text(data, size);
  const std::string once = terminal_sanitizer::clean(in);
  FUZZ_REQUIRE(safe(once));
  FUZZ_REQUIRE(once.size() <= in.size());
  FUZZ_REQUIRE(terminal_sanitizer::clean(once) == once);
  FUZZ_REQUIRE(streamed(in) == once);
  return 0;
}
