// The store's connection, error mapping and audit trail.
#include <fmt/format.h>

#include <bastion/common/escape.hpp>
#include <bastion/policy/conninfo.hpp>

#include "store_impl.hpp"

namespace bastion::policy {
namespace {

// PostgreSQL messages span lines (DETAIL, HINT) and may quote values; keep the first line, escaped.
std::string first_line(std::string_view message) {
  const auto nl = message.find('\n');
  return escape(message.substr(0, nl), 300);
}

pqxx::connection connect(const std::string& conninfo, const std::string& shown) {
  try {
    return pqxx::connection(conninfo);
  } catch (const std::exception& e) {
    throw unavailable_error(shown, e.what());
  }
}

// SQLSTATEs of a server that is there but cannot take the work now: out of disk, memory or
// connections (class 53), shutting down, restarting or cancelling the statement (57), a read-only
// standby after a failover (25006), a serialisation failure or deadlock (40). The same statement
// can succeed later, so it counts as unavailable: the journal keeps or spools the rows, never
// drops them.
bool transient(const std::string& sqlstate) {
  return sqlstate.starts_with("53") || sqlstate.starts_with("57") || sqlstate == "25006" ||
         sqlstate.starts_with("40");
}

}  // namespace

void require_text(std::string_view what, std::string_view value) {
  if (!is_valid_utf8(value) || value.size() > std::size_t{64} * 1024) {
    throw store_error(store_error::kind::invalid,
                      std::string(what) + " " + shown(value) +
                          " must be valid UTF-8 of at most 64 KiB without NUL bytes");
  }
}

void require(const result<void>& check) {
  if (!check) {
    throw store_error(store_error::kind::invalid, check.error().text);
  }
}

std::string shown(std::string_view name) {
  return "\"" + escape(name, 64) + "\"";
}

std::int64_t id_of(pqxx::work& txn, std::string_view table, const std::string& name) {
  require_text("name", name);
  const auto rows = txn.exec_params(fmt::format("SELECT id FROM {} WHERE name = $1", table), name);
  if (rows.empty()) {
    const std::string_view noun = table == "users"    ? "user"
                                  : table == "groups" ? "group"
                                                      : "target";
    const std::string_view lister = table == "users"    ? "user list"
                                    : table == "groups" ? "group list"
                                                        : "target list";
    throw store_error(
        store_error::kind::not_found,
        fmt::format("no {} {}; `bastionctl {}` shows them", noun, shown(name), lister));
  }
  return rows[0][0].as<std::int64_t>();
}

std::vector<std::string> split_commas(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    out.emplace_back(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return out;
}

store_error unavailable_error(const std::string& shown_conninfo, std::string_view detail) {
  return store_error(
      store_error::kind::unavailable,
      "cannot reach PostgreSQL at \"" + shown_conninfo + "\": " + first_line(detail) +
          "; check that the server runs and that `database:` in the config (or --db) "
          "is right");
}

void rethrow_as_store_error(std::string_view what, const std::string& shown_conninfo) {
  using kind = store_error::kind;
  const std::string prefix = std::string(what) + ": ";
  try {
    throw;
  } catch (const store_error&) {
    throw;
  } catch (const pqxx::broken_connection& e) {
    throw unavailable_error(shown_conninfo, e.what());
  } catch (const pqxx::unique_violation& e) {
    throw store_error(kind::conflict, prefix + "it exists already (" + first_line(e.what()) + ")");
  } catch (const pqxx::foreign_key_violation& e) {
    throw store_error(kind::not_found, prefix + first_line(e.what()));
  } catch (const pqxx::check_violation& e) {
    throw store_error(kind::invalid,
                      prefix + "the database refused the value (" + first_line(e.what()) + ")");
  } catch (const pqxx::data_exception& e) {
    throw store_error(kind::invalid,
                      prefix + "the database refused the value (" + first_line(e.what()) + ")");
  } catch (const pqxx::undefined_table& e) {
    throw store_error(kind::failed,
                      prefix + first_line(e.what()) + "; run `bastionctl migrate` first");
  } catch (const pqxx::sql_error& e) {
    if (transient(e.sqlstate())) {
      throw store_error(kind::unavailable,
                        prefix + "PostgreSQL cannot take it now (" + first_line(e.what()) + ")");
    }
    throw store_error(kind::failed, prefix + first_line(e.what()));
  } catch (const std::exception& e) {
    throw store_error(kind::failed, prefix + first_line(e.what()));
  }
}

store::impl::impl(const std::string& conninfo, std::string actor_name, std::string node_name)
    : shown_conninfo(redact_conninfo(conninfo)),
      actor(std::move(actor_name)),
      node(std::move(node_name)),
      conn(connect(conninfo, shown_conninfo)) {}

void store::impl::audit(pqxx::work& txn, std::string_view kind,
                        const nlohmann::json& detail) const {
  txn.exec_params(
      fmt::format("INSERT INTO audit_events (node, kind, result, actor, detail, target_name, "
                  "session_id) VALUES ($1, $2, 'ok', $3, $4::jsonb, {}, {})",
                  audit_target_sql(4, 5), audit_session_sql(4)),
      node, std::string(kind), actor,
      detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), std::string());
}

store::store(const std::string& conninfo, std::string actor, std::string node)
    : impl_(std::make_unique<impl>(conninfo, std::move(actor), std::move(node))) {}

store::~store() = default;

void store::set_actor(std::string actor) {
  impl_->actor = std::move(actor);
}

}  // namespace bastion::policy
