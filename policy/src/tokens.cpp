// Admin API tokens: generation, shape and hash.
#include <openssl/sha.h>
#include <sys/random.h>

#include <array>
#include <stdexcept>

#include <bastion/common/hex.hpp>
#include <bastion/policy/tokens.hpp>

namespace bastion::policy {
namespace {

constexpr std::string_view token_prefix = "bst_";
constexpr std::size_t token_random_bytes = 32;
constexpr std::size_t token_text_chars = 43;  // base64url of 32 bytes, unpadded
constexpr std::string_view base64url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

}  // namespace

std::string new_admin_token() {
  std::array<unsigned char, token_random_bytes> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      throw std::runtime_error("getrandom failed: cannot make a token");
    }
    got += static_cast<std::size_t>(n);
  }
  std::string out(token_prefix);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += base64url[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) {
    out += base64url[(acc << (6 - bits)) & 0x3f];
  }
  return out;
}

bool looks_like_admin_token(std::string_view text) {
  if (text.size() != token_prefix.size() + token_text_chars || !text.starts_with(token_prefix)) {
    return false;
  }
  text.remove_prefix(token_prefix.size());
  return text.find_first_not_of(base64url) == std::string_view::npos;
}

std::string admin_token_hash(std::string_view token) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest.data());
  return to_hex({reinterpret_cast<const char*>(digest.data()), digest.size()});
}

std::string_view describe(token_verdict v) {
  switch (v) {
    case token_verdict::ok:
      return "ok";
    case token_verdict::unknown:
      return "the token is not known; create one with `bastionctl token create USER`";
    case token_verdict::revoked:
      return "the token was revoked; create a new one with `bastionctl token create USER`";
    case token_verdict::expired:
      return "the token has expired; create a new one with `bastionctl token create USER`";
    case token_verdict::not_admin:
      return "the token's user is not an admin; only admins may use the admin API";
    case token_verdict::disabled:
      return "the token's user is disabled";
  }
  return "the token is not valid";
}

}  // namespace bastion::policy
