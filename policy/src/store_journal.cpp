// The proxy's journal: audit rows and the session index, in order.
#include <fmt/format.h>

#include "store_impl.hpp"

namespace bastion::policy {
namespace {

// Values come from clients (the user name they sent): checked, never trusted as text.
std::string text(const std::string& s) {
  return is_valid_utf8(s) ? s : escape(s, 256);
}

// The event id makes the insert idempotent: a spool replay that a crash cut short runs again.
void insert_audit(pqxx::work& txn, const std::string& node, const audit_event& e) {
  txn.exec_params(
      fmt::format(
          "INSERT INTO audit_events (node, kind, result, actor, source_addr, target_name, detail, "
          "event_id, at, session_id) VALUES ($1, $2, $3, $4, $5, {}, $7::jsonb, "
          "nullif($8, '')::uuid, {}, {}) ON CONFLICT (event_id) DO NOTHING",
          audit_target_sql(7, 6), time_or_now(9), audit_session_sql(7)),
      node, e.kind, e.result, text(e.actor), text(e.source_addr), text(e.target_name),
      e.detail_json, e.event_id, e.at_unix_us);
}

}  // namespace

void store::write_journal(const std::vector<journal_entry>& entries) {
  impl_->transact("write the journal", [&](pqxx::work& txn) {
    for (const auto& entry : entries) {
      std::visit(
          [&](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, audit_event>) {
              insert_audit(txn, impl_->node, e);
            } else if constexpr (std::is_same_v<T, session_start>) {
              insert_session(txn, e);
            } else if constexpr (std::is_same_v<T, session_end>) {
              update_session_end(txn, e);
            } else if constexpr (std::is_same_v<T, channel_row>) {
              upsert_channel(txn, e);
            } else {
              insert_search_text(txn, e);
            }
          },
          entry);
    }
  });
}

}  // namespace bastion::policy
