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

}  // namespace bastion::fuzz

#define FUZZ_REQUIRE(cond)                                         \
  do {                                                             \
    if (!(cond)) {                                                 \
      ::bastion::fuzz::property_broken(#cond, __FILE__, __LINE__); \
    }                                                              \
  } while (false)
