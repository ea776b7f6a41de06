// Admin API tokens: what a bearer token looks like, its stored hash, and the rows that
// `bastionctl token` lists. The token itself exists only in the admin's hands; the database holds
// its SHA-256, so a leaked table grants nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bastion::policy {

// "bst_" and 43 base64url characters: 256 random bits from the kernel.
std::string new_admin_token();
// True when `text` has the shape of a token (before any lookup, so nothing else is hashed).
bool looks_like_admin_token(std::string_view text);
// Hex SHA-256 of the token: the key it is stored and looked up under.
std::string admin_token_hash(std::string_view token);

struct token_info {
  std::int64_t id = 0;
  std::string user;
  std::string created_at;  // ISO 8601, UTC
  std::string expires_at;  // "" when it never expires
  std::string last_used_at;
  std::string revoked_at;  // "" while not revoked
};

// Why a presented token does or does not let its holder in.
enum class token_verdict { ok, unknown, revoked, expired, not_admin, disabled };

struct token_check {
  token_verdict verdict = token_verdict::unknown;
  std::int64_t token_id = 0;  // 0 when unknown
  std::string user;           // "" when unknown
};

// For an API error's detail: what is wrong with the token and how to get a good one.
std::string_view describe(token_verdict v);

}  // namespace bastion::policy
