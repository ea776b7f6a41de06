// Reading the policy snapshot: four queries in one repeatable-read transaction, so a change
// committed half-way never shows half.
#include <bastion/common/log.hpp>
#include <bastion/policy/snapshot.hpp>

#include "store_impl.hpp"

namespace bastion::policy {

std::int64_t store::policy_version() {
  return impl_->transact("read the policy version", [](pqxx::work& txn) {
    return txn.exec1("SELECT version FROM policy_version")[0].as<std::int64_t>();
  });
}

snapshot_rows store::load_snapshot_rows() {
  return impl_->transact("load policy", [](pqxx::work& txn) {
    txn.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    snapshot_rows rows;
    rows.version = txn.exec1("SELECT version FROM policy_version")[0].as<std::int64_t>();
    for (const auto& r : txn.exec("SELECT name, is_admin, disabled_at IS NOT NULL FROM users")) {
      rows.users.push_back({r[0].as<std::string>(), r[1].as<bool>(), r[2].as<bool>()});
    }
    for (const auto& r :
         txn.exec("SELECT k.fingerprint, u.name, k.key_type, k.public_key, k.options FROM "
                  "user_keys k JOIN users u ON u.id = k.user_id")) {
      auto options = parse_key_options(r[4].as<std::string>());
      if (!options) {
        // A key whose restrictions cannot be read must not log in without them.
        spdlog::error("key {} of {} skipped: {}", log_value(r[0].as<std::string>()),
                      log_value(r[1].as<std::string>()), log_value(options.error().text));
        continue;
      }
      rows.keys.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                           r[3].as<std::string>(), std::move(*options)});
    }
    for (const auto& r :
         txn.exec("SELECT t.name, t.host, t.port, h.key_type, h.public_key, h.fingerprint "
                  "FROM targets t LEFT JOIN target_host_keys h ON h.target_id = t.id ORDER BY "
                  "t.name, h.id")) {
      if (rows.targets.empty() || rows.targets.back().name != r[0].c_str()) {
        rows.targets.push_back(
            {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int>(), {}, {}});
      }
      if (!r[3].is_null()) {
        rows.targets.back().host_keys.push_back(
            {r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>()});
      }
    }
    for (const auto& r :
         txn.exec("SELECT u.name, t.name, g.login, array_to_string(g.kinds, ',') FROM grants g "
                  "JOIN users u ON u.id = g.user_id JOIN targets t ON t.id = g.target_id")) {
      auto kinds = parse_channel_kinds(r[3].as<std::string>());
      if (!kinds) {
        // A malformed row never widens access: it is left out, and said so.
        spdlog::error("grant of {} on {} skipped: {}", log_value(r[0].as<std::string>()),
                      log_value(r[1].as<std::string>()), log_value(kinds.error().text));
        continue;
      }
      rows.grants.push_back(
          {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(), *kinds});
    }
    return rows;
  });
}

}  // namespace bastion::policy
