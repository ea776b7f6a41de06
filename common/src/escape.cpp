// Escaping of untrusted text for logs and terminals.
#include <array>
#include <cstdint>

#include <bastion/common/escape.hpp>

namespace bastion {
namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates, at most
// U+10FFFF), or 0 if it is not one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(s[k]); };
  const std::uint8_t b0 = byte(i);
  std::size_t len = 0;
  std::uint8_t lo = 0x80;
  std::uint8_t hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    lo = b0 == 0xE0 ? 0xA0 : 0x80;
    hi = b0 == 0xED ? 0x9F : 0xBF;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    lo = b0 == 0xF0 ? 0x90 : 0x80;
    hi = b0 == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (i + len > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) {
    return 0;
  }
  for (std::size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) {
      return 0;
    }
  }
  return len;
}

// U+0080..U+009F encoded as C2 80..C2 9F: 8-bit controls that some terminals obey.
bool is_c1(std::string_view s, std::size_t i) {
  return static_cast<std::uint8_t>(s[i]) == 0xC2 && static_cast<std::uint8_t>(s[i + 1]) < 0xA0;
}

// The code point of the well-formed sequence of `len` bytes at s[i].
char32_t code_point(std::string_view s, std::size_t i, std::size_t len) {
  const auto byte = [&](std::size_t k) {
    return static_cast<char32_t>(static_cast<std::uint8_t>(s[i + k]));
  };
  static constexpr std::array<char32_t, 5> lead_mask{0, 0x7F, 0x1F, 0x0F, 0x07};
  char32_t cp = byte(0) & lead_mask.at(len);
  for (std::size_t k = 1; k < len; ++k) {
    cp = (cp << 6) | (byte(k) & 0x3F);
  }
  return cp;
}

// Characters that reorder or split what a reader sees without being visible themselves: the
// bidirectional overrides and isolates (U+202E makes "txt.exe" read "exe.txt"), the marks, and
// the line and paragraph separators that some viewers break lines at.
bool is_invisible_control(char32_t cp) {
  return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

void append_hex(std::string& out, std::uint8_t b) {
  static constexpr char digits[] = "0123456789abcdef";
  out += "\\x";
  out += digits[b >> 4];
  out += digits[b & 0xF];
}

}  // namespace

std::string escape(std::string_view text, std::size_t max_bytes) {
  const std::size_t cut = text.size() > max_bytes ? text.size() - max_bytes : 0;
  const std::string_view kept = text.substr(0, text.size() - cut);
  std::string out;
  out.reserve(kept.size());
  for (std::size_t i = 0; i < kept.size();) {
    const auto b = static_cast<std::uint8_t>(kept[i]);
    if (b == '\\') {
      out += "\\\\";
      ++i;
    } else if (b >= 0x20 && b < 0x7F) {
      out += static_cast<char>(b);
      ++i;
    } else if (const std::size_t len = b >= 0x80 ? utf8_sequence(kept, i) : 0;
               len > 0 && !is_c1(kept, i) && !is_invisible_control(code_point(kept, i, len))) {
      out.append(kept.substr(i, len));
      i += len;
    } else {
      append_hex(out, b);
      ++i;
    }
  }
  if (cut > 0) {
    out += "...(+" + std::to_string(cut) + " bytes)";
  }
  return out;
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<std::uint8_t>(text[i]);
    if (b == 0) {
      return false;
    }
    if (b < 0x80) {
      ++i;
      continue;
    }
    const std::size_t len = utf8_sequence(text, i);
    if (len == 0) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace bastion
