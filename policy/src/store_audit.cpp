// Audit rows from the proxy.
#include "store_impl.hpp"

namespace bastion::policy {

void store::write_audit(const std::vector<audit_event>& events) {
  impl_->transact("write audit events", [&](pqxx::work& txn) {
    for (const auto& e : events) {
      // Values come from clients (the user name they sent): checked, never trusted as text.
      const auto text = [](const std::string& s) { return is_valid_utf8(s) ? s : escape(s, 256); };
      txn.exec_params(
          "INSERT INTO audit_events (node, kind, result, actor, source_addr, target_name, detail) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
          impl_->node, e.kind, e.result, text(e.actor), text(e.source_addr), text(e.target_name),
          e.detail_json);
    }
  });
}

}  // namespace bastion::policy
