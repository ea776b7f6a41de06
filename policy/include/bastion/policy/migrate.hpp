// Schema migrations: migrations/NNNN_name.sql, compiled into the binaries, applied in order, each
// in its own transaction, under a PostgreSQL advisory lock so that nodes starting together are
// safe.
#pragma once

#include <string>
#include <vector>

namespace bastion::policy {

struct migration {
  int version;
  const char* name;  // "0001_init"
  const char* sql;
};

// Every migration of this build, in version order.
const std::vector<migration>& embedded_migrations();

struct migrate_result {
  int from_version = 0;  // the schema version found
  int to_version = 0;    // the schema version left
  std::vector<std::string> applied;
};

// Applies pending migrations. Throws store_error when the database is unreachable, when a shipped
// migration was edited after it was applied, or when the schema is newer than this build.
migrate_result migrate(const std::string& conninfo);

}  // namespace bastion::policy
