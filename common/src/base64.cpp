// Strict base64 decoding.
#include <array>
#include <cstdint>

#include <bastion/common/base64.hpp>

namespace bastion {
namespace {

constexpr std::array<std::int8_t, 256> make_table() {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    t[static_cast<std::uint8_t>(alphabet[i])] = static_cast<std::int8_t>(i);
  }
  return t;
}

constexpr auto table = make_table();

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::size_t pad = 0;
  if (text.ends_with("==")) {
    pad = 2;
  } else if (text.ends_with('=')) {
    pad = 1;
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t acc = 0;
  for (std::size_t i = 0; i < text.size() - pad; ++i) {
    const std::int8_t v = table[static_cast<std::uint8_t>(text[i])];
    if (v < 0) {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    if (i % 4 == 3) {
      out += static_cast<char>((acc >> 16) & 0xFF);
      out += static_cast<char>((acc >> 8) & 0xFF);
      out += static_cast<char>(acc & 0xFF);
      acc = 0;
    }
  }
  if (pad == 2) {
    if ((acc & 0xF) != 0) {
      return std::nullopt;
    }
    out += static_cast<char>((acc >> 4) & 0xFF);
  } else if (pad == 1) {
    if ((acc & 0x3) != 0) {
      return std::nullopt;
    }
    out += static_cast<char>((acc >> 10) & 0xFF);
    out += static_cast<char>((acc >> 2) & 0xFF);
  }
  return out;
}

}  // namespace bastion
