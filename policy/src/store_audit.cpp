// The audit trail as admins read it: `bastionctl audit`.
#include <fmt/format.h>

#include "store_impl.hpp"

namespace bastion::policy {
namespace {

using kind = store_error::kind;

// Kinds are dotted lowercase words ("session.revoked"): anything else cannot match a row, and
// is refused with the forms that can, before it reaches a LIKE pattern.
void require_kind(const std::string& k) {
  const bool ok = !k.empty() && k.size() <= 64 && std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_';
  });
  if (!ok) {
    throw store_error(kind::invalid, "--kind " + shown(k) +
                                         " is not an audit kind: give one such as auth, "
                                         "session, session.revoked or admin.grant");
  }
}

audit_row audit_from(const pqxx::row& r) {
  return {r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
          r[3].as<std::string>(),  r[4].as<std::string>(), r[5].as<std::string>(),
          r[6].as<std::string>(),  r[7].as<std::string>(), r[8].as<std::string>(),
          r[9].as<std::string>()};
}

}  // namespace

std::vector<audit_row> store::list_audit(const audit_filter& f) {
  for (const auto& text : {f.actor, f.target, f.since}) {
    require_text("filter", text.value_or(""));
  }
  if (f.kind) {
    require_kind(*f.kind);
  }
  if (f.session && !is_session_id(*f.session)) {
    throw store_error(kind::invalid, "--session " + shown(*f.session) +
                                         " is not a session id (as `bastionctl sessions` shows)");
  }
  return impl_->transact("list the audit trail", [&](pqxx::work& txn) {
    const auto rows = txn.exec_params(
        "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), node, "
        "kind, result, actor, source_addr, target_name, coalesce(session_id::text, ''), "
        "detail::text FROM audit_events "
        "WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR target_name = $2) "
        "AND ($3 = '' OR at >= $3::timestamptz) "
        "AND ($4 = '' OR kind = $4 OR starts_with(kind, $4 || '.')) "
        "AND ($5 = '' OR session_id = nullif($5, '')::uuid) "
        "ORDER BY at DESC, id DESC LIMIT $6",
        f.actor.value_or(""), f.target.value_or(""), f.since.value_or(""), f.kind.value_or(""),
        f.session.value_or(""), f.limit);
    std::vector<audit_row> out;
    out.reserve(rows.size());
    for (const auto& r : rows) {
      out.push_back(audit_from(r));
    }
    return out;
  });
}

}  // namespace bastion::policy
