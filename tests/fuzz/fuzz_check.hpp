// What every fuzz target shares: the libFuzzer entry point's signature, and checks of the
// properties a target asserts beyond "does not crash". A broken property aborts, so libFuzzer
// keeps the input as a crash and the corpus replay test fails on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace bastion::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};  // NOLINT: bytes viewed as chars
}

[[noreturn]] inline void property_broken(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: property broken: %s\n", file, line, what);
  std::abort();
}

// Text fit for a terminal and a log line: well-formed UTF-8 with no control character at all (C0,
// DEL, or C1 as U+0080..U+009F), unless `allow_esc`, which lets ESC through for the sanitizer's
// drawing sequences.
inline bool terminal_safe(std::string_view text, bool allow_esc = false) {
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      const bool control = (b < 0x20 && !(allow_esc && (b == 0x1B || b == '\n' || b == '\r' ||
                                                        b == '\t' || b == '\b' || b == '\a'))) ||
                           b == 0x7F;
      if (control) {
        return false;
      }
      ++i;
      continue;
    }
    const std::size_t len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
    if (len == 0 || b > 0xF4 || i + len > text.size()) {
      return false;  // a stray continuation byte, a raw 8-bit C1, or a cut sequence
    }
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
        return false;
      }
    }
    const auto b1 = static_cast<unsigned char>(text[i + 1]);
    if ((b == 0xC2 && b1 < 0xA0) || (b == 0xE0 && b1 < 0xA0) || (b == 0xED && b1 > 0x9F) ||
        (b == 0xF0 && b1 < 0x90) || (b == 0xF4 && b1 > 0x8F)) {
      return false;  // C1 controls, overlong forms, surrogates, past U+10FFFF
    }
    i += len;
  }
  return true;
}

}  // namespace bastion::fuzz

#define FUZZ_REQUIRE(cond)                                         \
  do {                                                             \
    if (!(cond)) {                                                 \
      ::bastion::fuzz::property_broken(#cond, __FILE__, __LINE__); \
    }                                                              \
  } while (false)
