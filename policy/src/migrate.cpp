// Applying migrations under an advisory lock.
#include <openssl/sha.h>

#include <map>

#include <bastion/common/hex.hpp>
#include <bastion/policy/conninfo.hpp>
#include <bastion/policy/migrate.hpp>

#include "store_impl.hpp"

namespace bastion::policy {
namespace {

// Any fixed number works as long as every node uses the same one.
constexpr std::int64_t migration_lock_key = 0x62617374696f6e;  // "bastion"

std::string sha256_hex(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return to_hex({reinterpret_cast<const char*>(digest), sizeof digest});
}

// version -> checksum of what this database has applied.
std::map<int, std::string> applied_versions(pqxx::connection& conn) {
  pqxx::work txn(conn);
  std::map<int, std::string> out;
  if (txn.exec("SELECT to_regclass('schema_migrations') IS NOT NULL")[0][0].as<bool>()) {
    for (const auto& r : txn.exec("SELECT version, checksum FROM schema_migrations")) {
      out.emplace(r[0].as<int>(), r[1].as<std::string>());
    }
  }
  txn.commit();
  return out;
}

void check_history(const std::map<int, std::string>& applied) {
  const auto& ours = embedded_migrations();
  const int newest = ours.empty() ? 0 : ours.back().version;
  for (const auto& [version, checksum] : applied) {
    if (version > newest) {
      throw store_error(store_error::kind::failed,
                        "the database schema is at version " + std::to_string(version) +
                            ", newer than this build knows (" + std::to_string(newest) +
                            "); upgrade bastiond and bastionctl on this node");
    }
  }
  for (const auto& m : ours) {
    const auto it = applied.find(m.version);
    if (it != applied.end() && it->second != sha256_hex(m.sql)) {
      throw store_error(store_error::kind::failed,
                        std::string("migration ") + m.name +
                            " was changed after it was applied; migrations are forward-only, so "
                            "restore it and put the change in a new migration file");
    }
  }
}

migrate_result apply_pending(pqxx::connection& conn) {
  const auto applied = applied_versions(conn);
  check_history(applied);
  migrate_result result;
  result.from_version = applied.empty() ? 0 : applied.rbegin()->first;
  result.to_version = result.from_version;
  for (const auto& m : embedded_migrations()) {
    if (applied.contains(m.version)) {
      continue;
    }
    pqxx::work txn(conn);
    txn.exec(m.sql);
    txn.exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    m.version, std::string(m.name), sha256_hex(m.sql));
    txn.commit();
    result.applied.emplace_back(m.name);
    result.to_version = m.version;
  }
  return result;
}

}  // namespace

migrate_result migrate(const std::string& conninfo) {
  const std::string shown_conninfo = redact_conninfo(conninfo);
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(conninfo);
  } catch (const std::exception& e) {
    throw unavailable_error(shown_conninfo, e.what());
  }
  try {
    // A session-level lock: held across the per-migration transactions, released on disconnect
    // even if this process dies.
    pqxx::nontransaction(*conn).exec_params("SELECT pg_advisory_lock($1)", migration_lock_key);
    auto result = apply_pending(*conn);
    pqxx::nontransaction(*conn).exec_params("SELECT pg_advisory_unlock($1)", migration_lock_key);
    return result;
  } catch (...) {
    rethrow_as_store_error("migrate", shown_conninfo);
  }
}

}  // namespace bastion::policy
