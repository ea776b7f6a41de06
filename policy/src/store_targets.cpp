// Targets with their host keys, and grants.
#include <fmt/format.h>

#include "store_impl.hpp"

namespace bastion::policy {
namespace {

using kind = store_error::kind;

std::int64_t id_of(pqxx::work& txn, std::string_view table, const std::string& name) {
  require_text("name", name);
  const auto rows = txn.exec_params(fmt::format("SELECT id FROM {} WHERE name = $1", table), name);
  if (rows.empty()) {
    const std::string_view noun = table == "users" ? "user" : "target";
    throw store_error(kind::not_found, fmt::format("no {} {}; `bastionctl {} list` shows them",
                                                   noun, shown(name), noun));
  }
  return rows[0][0].as<std::int64_t>();
}

std::string kinds_literal(const std::vector<channel_kind>& kinds) {
  std::string out = "{";
  for (const auto k : kinds) {
    out += (out.size() > 1 ? "," : "") + std::string(to_string(k));
  }
  return out + "}";
}

std::vector<channel_kind> kinds_from_db(const std::string& text) {
  auto kinds = parse_channel_kinds(text);
  if (!kinds) {
    throw store_error(kind::invalid, "a grant row holds unknown kinds: " + kinds.error().text);
  }
  return *kinds;
}

}  // namespace

void store::add_target(const target_info& target) {
  require_text("target name", target.name);
  require(check_target_name(target.name));
  require_text("host", target.host);
  require(check_host(target.host));
  if (target.port < 1 || target.port > 65535) {
    throw store_error(kind::invalid,
                      "port " + std::to_string(target.port) + " is not from 1 to 65535");
  }
  if (target.host_keys.empty()) {
    throw store_error(kind::invalid,
                      "target " + shown(target.name) +
                          " needs a host key: pass --host-key 'TYPE BASE64' or --scan --yes");
  }
  impl_->transact("add target " + shown(target.name), [&](pqxx::work& txn) {
    const auto rows = txn.exec_params(
        "INSERT INTO targets (name, host, port) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING "
        "RETURNING id",
        target.name, target.host, target.port);
    if (rows.empty()) {
      throw store_error(
          kind::conflict,
          "target " + shown(target.name) + " exists already; remove it first or pick another name");
    }
    const auto id = rows[0][0].as<std::int64_t>();
    for (const auto& key : target.host_keys) {
      txn.exec_params(
          "INSERT INTO target_host_keys (target_id, key_type, public_key, fingerprint) "
          "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
          id, key.type, key.base64, key.fingerprint);
    }
    impl_->audit(txn, "admin.target_add",
                 {{"target", target.name}, {"host", target.host}, {"port", target.port}});
  });
}

std::vector<target_info> store::list_targets() {
  return impl_->transact("list targets", [](pqxx::work& txn) {
    const auto rows = txn.exec(
        fmt::format("SELECT t.name, t.host, t.port, {}, h.key_type, h.public_key, h.fingerprint "
                    "FROM targets t LEFT JOIN target_host_keys h ON h.target_id = t.id "
                    "ORDER BY t.name, h.id",
                    fmt::format(iso_time_sql, "t.created_at")));
    std::vector<target_info> out;
    for (const auto& r : rows) {
      if (out.empty() || out.back().name != r[0].c_str()) {
        out.push_back({r[0].as<std::string>(),
                       r[1].as<std::string>(),
                       r[2].as<int>(),
                       {},
                       r[3].as<std::string>()});
      }
      if (!r[4].is_null()) {
        out.back().host_keys.push_back(
            {r[4].as<std::string>(), r[5].as<std::string>(), r[6].as<std::string>()});
      }
    }
    return out;
  });
}

void store::remove_target(const std::string& name) {
  impl_->transact("remove target " + shown(name), [&](pqxx::work& txn) {
    const auto id = id_of(txn, "targets", name);
    txn.exec_params("DELETE FROM targets WHERE id = $1", id);
    impl_->audit(txn, "admin.target_remove", {{"target", name}});
  });
}

void store::grant(const std::string& user, const std::string& target, const std::string& login,
                  const std::vector<channel_kind>& kinds) {
  require_text("login", login);
  require(check_login(login));
  if (kinds.empty()) {
    throw store_error(kind::invalid, "a grant needs at least one channel kind");
  }
  impl_->transact("grant " + shown(user) + " on " + shown(target), [&](pqxx::work& txn) {
    const auto uid = id_of(txn, "users", user);
    const auto tid = id_of(txn, "targets", target);
    txn.exec_params(
        "INSERT INTO grants (user_id, target_id, login, kinds) VALUES ($1, $2, $3, $4::text[]) "
        "ON CONFLICT (user_id, target_id, login) DO UPDATE SET kinds = EXCLUDED.kinds",
        uid, tid, login, kinds_literal(kinds));
    impl_->audit(
        txn, "admin.grant",
        {{"user", user}, {"target", target}, {"login", login}, {"kinds", kinds_literal(kinds)}});
  });
}

int store::revoke(const std::string& user, const std::string& target,
                  const std::optional<std::string>& login) {
  require_text("login", login.value_or(""));
  return impl_->transact("revoke " + shown(user) + " on " + shown(target), [&](pqxx::work& txn) {
    const auto uid = id_of(txn, "users", user);
    const auto tid = id_of(txn, "targets", target);
    const auto rows = txn.exec_params(
        "DELETE FROM grants WHERE user_id = $1 AND target_id = $2 AND ($3 = '' OR login = $3) "
        "RETURNING login",
        uid, tid, login.value_or(""));
    if (rows.empty()) {
      throw store_error(kind::not_found, "no grant for " + shown(user) + " on " + shown(target) +
                                             (login ? " as " + shown(*login) : std::string()) +
                                             "; `bastionctl grants` shows them");
    }
    impl_->audit(txn, "admin.revoke",
                 {{"user", user}, {"target", target}, {"login", login.value_or("*")}});
    return static_cast<int>(rows.size());
  });
}

std::vector<grant_info> store::list_grants(const std::optional<std::string>& user) {
  return impl_->transact("list grants", [&](pqxx::work& txn) {
    if (user) {
      id_of(txn, "users", *user);
    }
    const auto rows = txn.exec_params(
        fmt::format(
            "SELECT u.name, t.name, g.login, array_to_string(g.kinds, ','), {} "
            "FROM grants g JOIN users u ON u.id = g.user_id JOIN targets t ON t.id = g.target_id "
            "WHERE $1 = '' OR u.name = $1 ORDER BY u.name, t.name, g.login",
            fmt::format(iso_time_sql, "g.created_at")),
        user.value_or(""));
    std::vector<grant_info> out;
    for (const auto& r : rows) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     kinds_from_db(r[3].as<std::string>()), r[4].as<std::string>()});
    }
    return out;
  });
}

}  // namespace bastion::policy
