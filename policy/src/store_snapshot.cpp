// Reading the policy snapshot: its queries in one repeatable-read transaction, so a change
// committed half-way never shows half.
#include <bastion/common/log.hpp>
#include <bastion/policy/migrate.hpp>
#include <bastion/policy/snapshot.hpp>

#include "store_impl.hpp"

namespace bastion::policy {
namespace {

template <class T>
std::optional<T> optional_of(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<T>(f.as<T>());
}

// A window's ends in whole seconds, rounded inward: never admitted before valid_from, nor at or
// after valid_until.
void load_grants(pqxx::work& txn, std::vector<grant_rule>& out) {
  const auto rows = txn.exec(
      "SELECT g.id, coalesce(u.name, ''), coalesce(gr.name, ''), "
      "coalesce(t.name, g.target_pattern), g.login, array_to_string(g.kinds, ','), "
      "ceil(extract(epoch FROM g.valid_from))::bigint, "
      "floor(extract(epoch FROM g.valid_until))::bigint, array_to_string(g.sources, ','), "
      "g.max_session_seconds, g.idle_timeout_seconds, g.record_forward_data, g.forward_ssh_inside, "
      "g.upstream_auth FROM grants g LEFT JOIN users u ON u.id = g.user_id LEFT JOIN groups gr ON "
      "gr.id = "
      "g.group_id LEFT JOIN targets t ON t.id = g.target_id ORDER BY g.id");
  for (const auto& r : rows) {
    grant_row row;
    row.id = r[0].as<std::int64_t>();
    row.user = r[1].as<std::string>();
    row.group = r[2].as<std::string>();
    row.targets = r[3].is_null() ? "" : r[3].as<std::string>();
    row.logins = {r[4].as<std::string>()};
    row.kinds = r[5].as<std::string>();
    row.valid_from_unix = optional_of<std::int64_t>(r[6]);
    row.valid_until_unix = optional_of<std::int64_t>(r[7]);
    row.sources = split_commas(r[8].as<std::string>());
    row.max_session_seconds = optional_of<std::int64_t>(r[9]);
    row.idle_timeout_seconds = optional_of<std::int64_t>(r[10]);
    row.record_forward_data = r[11].as<bool>();
    row.forward_ssh_inside = r[12].as<bool>();
    row.upstream_auth = r[13].as<std::string>();
    auto rule = make_grant_rule(row);
    if (!rule) {
      // A malformed row never widens access: where it can still be told what it names, it stays
      // and refuses (so that no broader grant decides in its place); else it names nothing that
      // can be known, and is left out. Either way it is said.
      spdlog::error("{}", log_value(rule.error().text));
      rule = make_refusing_rule(row, rule.error().text);
      if (!rule) {
        continue;
      }
    }
    out.push_back(std::move(*rule));
  }
}

}  // namespace

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
    // A node older than the schema would read the grants without what newer migrations added
    // (windows, sources, ...) and so admit more than they say: it keeps its last snapshot instead,
    // and is named, until it is upgraded.
    const int schema =
        txn.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
    if (const int known = embedded_migrations().back().version; schema > known) {
      throw store_error(store_error::kind::failed,
                        "the database schema is at version " + std::to_string(schema) +
                            ", newer than this bastiond knows (" + std::to_string(known) +
                            "); upgrade this node: it keeps its last policy until then");
    }
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
    attach_labels(txn, rows.targets);
    for (const auto& r : txn.exec("SELECT u.name, gr.name FROM group_members m JOIN users u ON "
                                  "u.id = m.user_id JOIN groups gr ON gr.id = m.group_id")) {
      rows.memberships.emplace_back(r[0].as<std::string>(), r[1].as<std::string>());
    }
    load_grants(txn, rows.grants);
    return rows;
  });
}

}  // namespace bastion::policy
