// Admin API tokens: created and revoked by bastionctl, checked by bastiond at every API request.
#include <fmt/format.h>

#include <bastion/policy/tokens.hpp>

#include "store_impl.hpp"

namespace bastion::policy {
namespace {

using kind = store_error::kind;

std::string token_columns() {
  return fmt::format(
      "t.id, u.name, {}, coalesce({}, ''), coalesce({}, ''), coalesce({}, '')",
      fmt::format(iso_time_sql, "t.created_at"), fmt::format(iso_time_sql, "t.expires_at"),
      fmt::format(iso_time_sql, "t.last_used_at"), fmt::format(iso_time_sql, "t.revoked_at"));
}

token_info token_from(const pqxx::row& r) {
  return {r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
          r[3].as<std::string>(),  r[4].as<std::string>(), r[5].as<std::string>()};
}

}  // namespace

token_info store::create_token(const std::string& user, const std::string& hash,
                               std::optional<std::int64_t> ttl_seconds) {
  require_text("user name", user);
  return impl_->transact("create a token for " + shown(user), [&](pqxx::work& txn) {
    const auto owner = txn.exec_params(
        "SELECT id, is_admin, disabled_at IS NOT NULL FROM users WHERE name = $1", user);
    if (owner.empty()) {
      throw store_error(kind::not_found,
                        "no user " + shown(user) + "; `bastionctl user list` shows the users");
    }
    if (!owner[0][1].as<bool>()) {
      throw store_error(kind::invalid, "user " + shown(user) +
                                           " is not an admin; only admins hold API tokens (add "
                                           "one with `bastionctl user add NAME --admin`)");
    }
    if (owner[0][2].as<bool>()) {
      throw store_error(kind::invalid, "user " + shown(user) + " is disabled");
    }
    const auto rows = txn.exec_params(
        fmt::format("WITH t AS (INSERT INTO admin_tokens (user_id, token_hash, expires_at) "
                    "VALUES ($1, $2, CASE WHEN $3::bigint IS NULL THEN NULL "
                    "ELSE now() + $3::bigint * interval '1 second' END) RETURNING *) "
                    "SELECT {} FROM t JOIN users u ON u.id = t.user_id",
                    token_columns()),
        owner[0][0].as<std::int64_t>(), hash, ttl_seconds);
    auto token = token_from(rows[0]);
    impl_->audit(txn, "admin.token_create",
                 {{"user", user}, {"token", token.id}, {"expires_at", token.expires_at}});
    return token;
  });
}

std::vector<token_info> store::list_tokens() {
  return impl_->transact("list tokens", [&](pqxx::work& txn) {
    const auto rows = txn.exec(
        fmt::format("SELECT {} FROM admin_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id",
                    token_columns()));
    std::vector<token_info> out;
    out.reserve(rows.size());
    for (const auto& r : rows) {
      out.push_back(token_from(r));
    }
    return out;
  });
}

void store::revoke_token(std::int64_t id) {
  impl_->transact("revoke token " + std::to_string(id), [&](pqxx::work& txn) {
    const auto rows = txn.exec_params(
        "UPDATE admin_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 "
        "RETURNING (SELECT name FROM users WHERE id = user_id)",
        id);
    if (rows.empty()) {
      throw store_error(kind::not_found, "no token " + std::to_string(id) +
                                             "; `bastionctl token list` shows the tokens");
    }
    impl_->audit(txn, "admin.token_revoke",
                 {{"token", id}, {"user", rows[0][0].as<std::string>()}});
  });
}

namespace {

// The verdict on the token that `where` ("t.token_hash = $1" or "t.id = $1::bigint") names, with
// `key` as $1; marks it used
// when it lets its holder in.
token_check check_token_where(pqxx::work& txn, const char* where, const std::string& key) {
  const auto rows = txn.exec_params(
      fmt::format("SELECT t.id, u.name, t.revoked_at IS NOT NULL, "
                  "t.expires_at IS NOT NULL AND t.expires_at <= now(), u.is_admin, "
                  "u.disabled_at IS NOT NULL FROM admin_tokens t JOIN users u ON u.id = t.user_id "
                  "WHERE {}",
                  where),
      key);
  if (rows.empty()) {
    return token_check{};
  }
  const auto& r = rows[0];
  token_check out{token_verdict::ok, r[0].as<std::int64_t>(), r[1].as<std::string>()};
  if (r[2].as<bool>()) {
    out.verdict = token_verdict::revoked;
  } else if (r[3].as<bool>()) {
    out.verdict = token_verdict::expired;
  } else if (r[5].as<bool>()) {
    out.verdict = token_verdict::disabled;
  } else if (!r[4].as<bool>()) {
    out.verdict = token_verdict::not_admin;
  } else {
    txn.exec_params("UPDATE admin_tokens SET last_used_at = now() WHERE id = $1", out.token_id);
  }
  return out;
}

}  // namespace

token_check store::check_token(const std::string& hash) {
  return impl_->transact("check a token", [&](pqxx::work& txn) {
    return check_token_where(txn, "t.token_hash = $1", hash);
  });
}

token_check store::check_token_id(std::int64_t id) {
  return impl_->transact("check a token", [&](pqxx::work& txn) {
    return check_token_where(txn, "t.id = $1::bigint", std::to_string(id));
  });
}

}  // namespace bastion::policy
