// Users and their keys.
#include <fmt/format.h>

#include <set>

#include "store_impl.hpp"

namespace bastion::policy {
namespace {

using kind = store_error::kind;

std::int64_t user_id(pqxx::work& txn, const std::string& name) {
  require_text("user name", name);
  const auto rows = txn.exec_params("SELECT id FROM users WHERE name = $1", name);
  if (rows.empty()) {
    throw store_error(kind::not_found,
                      "no user " + shown(name) + "; `bastionctl user list` shows the users");
  }
  return rows[0][0].as<std::int64_t>();
}

}  // namespace

// All or nothing: the transaction rolls back on the first duplicate.
void store::impl::insert_keys(pqxx::work& txn, std::int64_t uid, const std::string& user,
                              const std::vector<public_key>& keys) const {
  std::set<std::string> seen;
  for (const auto& key : keys) {
    if (!seen.insert(key.fingerprint).second) {
      throw store_error(kind::conflict, "key " + key.fingerprint + " is given twice in the input");
    }
    const auto owner = txn.exec_params(
        "SELECT u.name FROM user_keys k JOIN users u ON u.id = k.user_id WHERE k.fingerprint = $1",
        key.fingerprint);
    if (!owner.empty()) {
      throw store_error(kind::conflict,
                        "key " + key.fingerprint + " is already registered to user " +
                            shown(owner[0][0].as<std::string>()) +
                            "; a key identifies one person, so give this user their own key");
    }
    txn.exec_params(
        "INSERT INTO user_keys (user_id, key_type, public_key, fingerprint, bits, comment, "
        "options) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        uid, key.type, key.base64, key.fingerprint, key.bits, key.comment, key.options);
    audit(txn, "admin.key_add", {{"user", user}, {"fingerprint", key.fingerprint}});
  }
}

void store::add_user(const std::string& name, bool is_admin, const std::vector<public_key>& keys) {
  require_text("user name", name);
  require(check_user_name(name));
  impl_->transact("add user " + shown(name), [&](pqxx::work& txn) {
    const auto rows = txn.exec_params(
        "INSERT INTO users (name, is_admin) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING "
        "RETURNING id",
        name, is_admin);
    if (rows.empty()) {
      throw store_error(kind::conflict, "user " + shown(name) + " exists already");
    }
    impl_->audit(txn, "admin.user_add", {{"user", name}, {"admin", is_admin}});
    impl_->insert_keys(txn, rows[0][0].as<std::int64_t>(), name, keys);
  });
}

std::vector<user_info> store::list_users() {
  return impl_->transact("list users", [](pqxx::work& txn) {
    const auto rows =
        txn.exec(fmt::format("SELECT u.name, u.is_admin, u.disabled_at IS NOT NULL, "
                             "(SELECT count(*) FROM user_keys k WHERE k.user_id = u.id), {} "
                             "FROM users u ORDER BY u.name",
                             fmt::format(iso_time_sql, "u.created_at")));
    std::vector<user_info> out;
    for (const auto& r : rows) {
      out.push_back({r[0].as<std::string>(), r[1].as<bool>(), r[2].as<bool>(), r[3].as<int>(),
                     r[4].as<std::string>()});
    }
    return out;
  });
}

void store::disable_user(const std::string& name) {
  require_text("user name", name);
  impl_->transact("disable user " + shown(name), [&](pqxx::work& txn) {
    const auto rows = txn.exec_params(
        "UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE name = $1 RETURNING id",
        name);
    if (rows.empty()) {
      throw store_error(kind::not_found,
                        "no user " + shown(name) + "; `bastionctl user list` shows the users");
    }
    impl_->audit(txn, "admin.user_disable", {{"user", name}});
  });
}

void store::add_keys(const std::string& user, const std::vector<public_key>& keys) {
  require_text("user name", user);
  impl_->transact("add key for " + shown(user), [&](pqxx::work& txn) {
    impl_->insert_keys(txn, user_id(txn, user), user, keys);
  });
}

std::vector<key_info> store::list_keys(const std::optional<std::string>& user) {
  require_text("user name", user.value_or(""));
  return impl_->transact("list keys", [&](pqxx::work& txn) {
    if (user) {
      user_id(txn, *user);
    }
    const auto rows = txn.exec_params(
        fmt::format("SELECT k.fingerprint, u.name, k.key_type, k.bits, k.comment, k.options, {} "
                    "FROM user_keys k JOIN users u ON u.id = k.user_id "
                    "WHERE $1 = '' OR u.name = $1 ORDER BY u.name, k.created_at, k.id",
                    fmt::format(iso_time_sql, "k.created_at")),
        user.value_or(""));
    std::vector<key_info> out;
    for (const auto& r : rows) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     r[3].as<int>(), r[4].as<std::string>(), r[5].as<std::string>(),
                     r[6].as<std::string>()});
    }
    return out;
  });
}

void store::remove_key(const std::string& fingerprint) {
  require_text("fingerprint", fingerprint);
  impl_->transact("remove key " + shown(fingerprint), [&](pqxx::work& txn) {
    const auto rows = txn.exec_params(
        "DELETE FROM user_keys k USING users u WHERE k.fingerprint = $1 AND u.id = k.user_id "
        "RETURNING u.name",
        fingerprint);
    if (rows.empty()) {
      throw store_error(kind::not_found, "no key with fingerprint " + shown(fingerprint) +
                                             "; `bastionctl key list` shows the fingerprints");
    }
    impl_->audit(txn, "admin.key_remove",
                 {{"user", rows[0][0].as<std::string>()}, {"fingerprint", fingerprint}});
  });
}

}  // namespace bastion::policy
