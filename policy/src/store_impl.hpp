// Internal to the store: the connection, the transaction wrapper that maps libpqxx exceptions,
// and audit/notify helpers shared by the store_*.cpp files.
#pragma once

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string_view>

#include <bastion/common/escape.hpp>
#include <bastion/policy/store.hpp>

namespace bastion::policy {

// Must be called inside a catch block: rethrows the current exception as a store_error whose
// message starts with `what` ("add user alice").
[[noreturn]] void rethrow_as_store_error(std::string_view what, const std::string& shown_conninfo);

// A connection error as a person reads it: one line, conninfo without password.
store_error unavailable_error(const std::string& shown_conninfo, std::string_view detail);

// libpq takes C strings, so a NUL would silently cut a value ("alice\0x" would match "alice"),
// and PostgreSQL text refuses invalid UTF-8: every string from outside is checked first.
void require_text(std::string_view what, std::string_view value);

// Throws store_error(invalid) with the check's message when it failed.
void require(const result<void>& check);

// A name for a message: quoted, escaped, bounded.
std::string shown(std::string_view name);

// The id of the row named `name` in `table` (users, groups or targets); store_error(not_found)
// naming the command that lists them.
std::int64_t id_of(pqxx::work& txn, std::string_view table, const std::string& name);

// Fills each target's labels from target_labels.
void attach_labels(pqxx::work& txn, std::vector<target_info>& targets);

// "a,b,c" (array_to_string's output) as its items; "" is none.
std::vector<std::string> split_commas(std::string_view text);

struct store::impl {
  impl(const std::string& conninfo, std::string actor_name, std::string node_name);

  // Runs `body(work)` in one transaction and commits it.
  template <class F>
  auto transact(std::string_view what, F&& body) {
    try {
      pqxx::work txn(conn);
      if constexpr (std::is_void_v<decltype(body(txn))>) {
        body(txn);
        txn.commit();
      } else {
        auto out = body(txn);
        txn.commit();
        return out;
      }
    } catch (...) {
      rethrow_as_store_error(what, shown_conninfo);
    }
  }

  // Records an administrative change in audit_events, in the same transaction as the change.
  void audit(pqxx::work& txn, std::string_view kind, const nlohmann::json& detail) const;

  void insert_keys(pqxx::work& txn, std::int64_t uid, const std::string& user,
                   const std::vector<public_key>& keys) const;

  std::string shown_conninfo;
  std::string actor;
  std::string node;
  pqxx::connection conn;
};

// An audit row's target_name and session_id columns, so that `bastionctl audit --target` and a
// session's trail find it: the given name ($`name`, if not ''), else the detail's "target"; the
// detail's "session" if it is a session id. `detail` is the parameter holding the jsonb text.
std::string audit_target_sql(int detail, int name);
std::string audit_session_sql(int detail);

// The statements of the session index, shared by the admin calls and the proxy's journal
// (store_sessions.cpp). Each is idempotent.
// SQL for parameter $N: a time the proxy measured (microseconds since the epoch), or now() when it
// gave none (0).
std::string time_or_now(int n);

void insert_session(pqxx::work& txn, const session_start& s);
void update_session_end(pqxx::work& txn, const session_end& e);
void upsert_channel(pqxx::work& txn, const channel_row& c);
void insert_search_text(pqxx::work& txn, const search_text& t);

// ISO 8601 UTC text of a timestamptz column, for SELECT lists.
inline constexpr std::string_view iso_time_sql =
    R"(to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))";

}  // namespace bastion::policy
