// Session rows, recording rows and the session listing.
#include <fmt/format.h>

#include "store_impl.hpp"

namespace bastion::policy {
namespace {

using kind = store_error::kind;

constexpr std::string_view session_columns = R"(
  s.id::text, s.node, s.user_name, s.target_name, s.login, s.source_addr, s.access_form,
  to_char(s.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
  coalesce(to_char(s.ended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''),
  coalesce(s.ended_reason, ''), coalesce(r.path, ''), coalesce(r.head_hash, ''),
  coalesce(r.bytes_raw, 0), coalesce(r.bytes_stored, 0), coalesce(r.lost_bytes, 0),
  (extract(epoch FROM s.started_at) * 1000000)::bigint)";

session_info session_from(const pqxx::row& r) {
  session_info s{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                 r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
                 r[6].as<std::string>(), r[7].as<std::string>()};
  s.started_unix_us = r[15].as<std::int64_t>();
  s.ended_at = r[8].as<std::string>();
  s.ended_reason = r[9].as<std::string>();
  s.recording_file = r[10].as<std::string>();
  s.head_hash = r[11].as<std::string>();
  s.bytes_raw = r[12].as<std::uint64_t>();
  s.bytes_stored = r[13].as<std::uint64_t>();
  s.lost_bytes = r[14].as<std::uint64_t>();
  return s;
}

// Anything but a session id is refused before the query.
void require_session_id(const std::string& id) {
  if (!is_session_id(id)) {
    throw store_error(
        kind::invalid,
        "session id " + shown(id) +
            " is not a session id (8-4-4-4-12 lowercase hex, as `bastionctl sessions` shows)");
  }
}

}  // namespace

std::string to_string(const session_cursor& c) {
  return std::to_string(c.started_unix_us) + "." + c.id;
}

std::optional<session_cursor> parse_session_cursor(std::string_view text) {
  const auto dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 18) {
    return std::nullopt;
  }
  session_cursor out;
  for (const char c : text.substr(0, dot)) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    out.started_unix_us = out.started_unix_us * 10 + (c - '0');
  }
  out.id = text.substr(dot + 1);
  if (!is_session_id(out.id)) {
    return std::nullopt;
  }
  return out;
}

bool is_session_id(std::string_view text) {
  if (text.size() != 36) {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::string audit_target_sql(int detail, int name) {
  return fmt::format("left(coalesce(nullif(${1}, ''), ${0}::jsonb->>'target', ''), 253)", detail,
                     name);
}

std::string audit_session_sql(int detail) {
  return fmt::format(
      "CASE WHEN ${0}::jsonb->>'session' ~ "
      "'^[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$' "
      "THEN (${0}::jsonb->>'session')::uuid END",
      detail);
}

std::string time_or_now(int n) {
  return fmt::format(
      "CASE WHEN ${0}::bigint = 0 THEN now() ELSE to_timestamp(${0}::bigint / 1000000.0) END", n);
}

void insert_session(pqxx::work& txn, const session_start& s) {
  require_session_id(s.id);
  const session_identity& w = s.who;
  for (const auto* text :
       {&w.user, &w.target, &w.login, &w.source_addr, &w.client_version, &s.recording_file}) {
    require_text("session field", *text);
  }
  txn.exec_params(
      fmt::format(
          "INSERT INTO sessions (id, node, user_id, user_name, target_id, target_name, login, "
          "source_addr, client_version, access_form, started_at) "
          "VALUES ($1::uuid, $2, (SELECT id FROM users WHERE name = $3), $3, "
          "(SELECT id FROM targets WHERE name = $4), $4, $5, $6, $7, $8, {}) "
          "ON CONFLICT (id) DO NOTHING",
          time_or_now(9)),
      s.id, s.node, w.user, w.target, w.login, w.source_addr, w.client_version, w.access_form,
      s.started_unix_us);
  txn.exec_params(
      "INSERT INTO recordings (session_id, path, format_version) VALUES ($1::uuid, $2, $3) "
      "ON CONFLICT (session_id) DO NOTHING",
      s.id, s.recording_file, s.format_version);
}

void update_session_end(pqxx::work& txn, const session_end& e) {
  require_session_id(e.id);
  require_text("reason", e.reason);
  const auto rows = txn.exec_params(
      fmt::format("UPDATE sessions SET ended_at = coalesce(ended_at, {}), ended_reason = $2 "
                  "WHERE id = $1::uuid RETURNING id",
                  time_or_now(3)),
      e.id, e.reason, e.ended_unix_us);
  if (rows.empty()) {
    throw store_error(store_error::kind::not_found, "no session " + shown(e.id));
  }
  const auto& r = e.recording;
  txn.exec_params(
      "UPDATE recordings SET head_hash = $2, bytes_raw = $3, bytes_stored = $4, chunk_count = $5, "
      "lost_bytes = $6, finalised_at = coalesce(finalised_at, now()) WHERE session_id = $1::uuid",
      e.id, r.head_hash, r.bytes_raw, r.bytes_stored, r.chunk_count, r.lost_bytes);
}

void upsert_channel(pqxx::work& txn, const channel_row& c) {
  require_session_id(c.session_id);
  require_text("channel kind", c.kind);
  require_text("exit signal", c.exit_signal);
  txn.exec_params(
      fmt::format(
          "INSERT INTO channels (session_id, channel_no, kind, detail, opened_at, closed_at, "
          "exit_status, exit_signal, bytes_in, bytes_out) "
          "VALUES ($1::uuid, $2, $3, $4::jsonb, {}, {}, $7, nullif($8, ''), $9, $10) "
          "ON CONFLICT (session_id, channel_no) DO UPDATE SET closed_at = excluded.closed_at, "
          "exit_status = excluded.exit_status, exit_signal = excluded.exit_signal, "
          "bytes_in = excluded.bytes_in, bytes_out = excluded.bytes_out",
          time_or_now(5), time_or_now(6)),
      c.session_id, c.channel_no, c.kind, c.detail_json, c.opened_unix_us, c.closed_unix_us,
      c.exit_status, c.exit_signal, c.bytes_in, c.bytes_out);
}

// Written once per (session, seq); a replay's second insert is a no-op. The recorder made the text
// valid UTF-8 without NULs; it is checked again, as for every row from outside.
void insert_search_text(pqxx::work& txn, const search_text& t) {
  require_session_id(t.session_id);
  require_text("search text", t.body);
  require_text("search marks", t.marks);
  txn.exec_params(
      "INSERT INTO search_documents (session_id, seq, kind, body, marks) "
      "VALUES ($1::uuid, $2, $3, $4, $5) ON CONFLICT (session_id, seq) DO NOTHING",
      t.session_id, t.seq, t.kind, t.body, t.marks);
}

void store::start_session(const session_start& s) {
  impl_->transact("record session start", [&](pqxx::work& txn) { insert_session(txn, s); });
}

void store::end_session(const std::string& id, const std::string& reason,
                        const recording_end& rec) {
  impl_->transact("record session end", [&](pqxx::work& txn) {
    update_session_end(txn, {id, reason, 0, rec});
  });
}

std::vector<session_info> store::list_sessions(const session_filter& f) {
  for (const auto& text : {f.user, f.target, f.since}) {
    require_text("filter", text.value_or(""));
  }
  if (f.after) {
    require_session_id(f.after->id);
  }
  // The cursor's instant is rebuilt exactly from whole microseconds (a float epoch would round).
  return impl_->transact("list sessions", [&](pqxx::work& txn) {
    const auto rows = txn.exec_params(
        fmt::format(
            "SELECT {} FROM sessions s LEFT JOIN recordings r ON r.session_id = s.id "
            "WHERE ($1 = false OR s.ended_at IS NULL) AND ($2 = '' OR s.user_name = $2) "
            "AND ($3 = '' OR s.target_name = $3) AND ($4 = '' OR s.started_at >= $4::timestamptz) "
            "AND ($6::bigint IS NULL OR (s.started_at, s.id) < "
            "('epoch'::timestamptz + $6::bigint * interval '1 microsecond', $7::uuid)) "
            "ORDER BY s.started_at DESC, s.id DESC LIMIT $5",
            session_columns),
        f.live_only, f.user.value_or(""), f.target.value_or(""), f.since.value_or(""), f.limit,
        f.after ? std::optional(f.after->started_unix_us) : std::nullopt,
        f.after ? f.after->id : std::string("00000000-0000-0000-0000-000000000000"));
    std::vector<session_info> out;
    for (const auto& r : rows) {
      out.push_back(session_from(r));
    }
    return out;
  });
}

std::vector<channel_info> store::list_channels(const std::string& session_id) {
  require_session_id(session_id);
  return impl_->transact("list channels", [&](pqxx::work& txn) {
    const auto rows = txn.exec_params(
        fmt::format("SELECT channel_no, kind, detail::text, {}, coalesce({}, ''), exit_status, "
                    "coalesce(exit_signal, ''), bytes_in, bytes_out FROM channels "
                    "WHERE session_id = $1::uuid ORDER BY channel_no",
                    fmt::format(iso_time_sql, "opened_at"), fmt::format(iso_time_sql, "closed_at")),
        session_id);
    std::vector<channel_info> out;
    out.reserve(rows.size());
    for (const auto& r : rows) {
      out.push_back({r[0].as<std::uint32_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     r[3].as<std::string>(), r[4].as<std::string>(),
                     r[5].is_null() ? std::nullopt : std::optional(r[5].as<int>()),
                     r[6].as<std::string>(), r[7].as<std::uint64_t>(), r[8].as<std::uint64_t>()});
    }
    return out;
  });
}

std::optional<session_info> store::find_session(const std::string& id) {
  require_session_id(id);
  return impl_->transact("find session", [&](pqxx::work& txn) -> std::optional<session_info> {
    const auto rows = txn.exec_params(fmt::format("SELECT {} FROM sessions s LEFT JOIN recordings "
                                                  "r ON r.session_id = s.id WHERE s.id = $1::uuid",
                                                  session_columns),
                                      id);
    if (rows.empty()) {
      return std::nullopt;
    }
    return session_from(rows[0]);
  });
}

session_info store::request_kill(const std::string& id, const std::string& reason) {
  require_session_id(id);
  require_text("reason", reason);
  return impl_->transact("kill session", [&](pqxx::work& txn) {
    const auto rows = txn.exec_params(fmt::format("SELECT {} FROM sessions s LEFT JOIN recordings "
                                                  "r ON r.session_id = s.id WHERE s.id = $1::uuid",
                                                  session_columns),
                                      id);
    if (rows.empty()) {
      throw store_error(kind::not_found, "no session " + id + "; `bastionctl sessions` lists them");
    }
    auto session = session_from(rows[0]);
    if (!session.ended_at.empty()) {
      return session;
    }
    const nlohmann::json payload = {{"op", "kill"}, {"session", id}, {"by", impl_->actor}};
    // Delivered at commit, with the audit row, to every node listening.
    txn.exec_params("SELECT pg_notify('bastion_control', $1)", payload.dump());
    nlohmann::json detail{{"session", id},
                          {"target", session.target},
                          {"user", session.user},
                          {"node", session.node}};
    if (!reason.empty()) {
      detail["reason"] = reason;
    }
    impl_->audit(txn, "admin.kill", detail);
    return session;
  });
}

std::vector<session_info> store::unfinished_sessions(const std::string& node) {
  return impl_->transact("list unfinished sessions", [&](pqxx::work& txn) {
    const auto rows = txn.exec_params(
        fmt::format("SELECT {} FROM sessions s LEFT JOIN recordings r ON r.session_id = s.id "
                    "WHERE s.node = $1 AND s.ended_at IS NULL ORDER BY s.started_at",
                    session_columns),
        node);
    std::vector<session_info> out;
    for (const auto& r : rows) {
      out.push_back(session_from(r));
    }
    return out;
  });
}

std::vector<search_row> store::search_documents(const search_filter& f) {
  require_text("search text", f.text);
  for (const auto& text : {f.user, f.target, f.since}) {
    require_text("filter", text.value_or(""));
  }
  // The text is matched literally: LIKE's wildcards in it are escaped.
  std::string pattern = "%";
  for (const char c : f.text) {
    if (c == '%' || c == '_' || c == '\\') {
      pattern += '\\';
    }
    pattern += c;
  }
  pattern += '%';
  return impl_->transact("search sessions", [&](pqxx::work& txn) {
    // A text with no run of three letters or digits cannot use the trigram index: bounded.
    txn.exec("SET LOCAL statement_timeout = '10s'");
    const auto rows = txn.exec_params(
        fmt::format("SELECT {}, d.kind, d.body, d.marks FROM search_documents d "
                    "JOIN sessions s ON s.id = d.session_id "
                    "LEFT JOIN recordings r ON r.session_id = s.id "
                    "WHERE d.body ILIKE $1 AND ($2 = '' OR s.user_name = $2) "
                    "AND ($3 = '' OR s.target_name = $3) "
                    "AND ($4 = '' OR s.started_at >= $4::timestamptz) "
                    "ORDER BY s.started_at DESC, s.id DESC, d.seq LIMIT $5",
                    session_columns),
        pattern, f.user.value_or(""), f.target.value_or(""), f.since.value_or(""), f.limit);
    std::vector<search_row> out;
    out.reserve(rows.size());
    for (const auto& r : rows) {
      out.push_back({session_from(r), r[16].as<std::string>(), r[17].as<std::string>(),
                     r[18].as<std::string>()});
    }
    return out;
  });
}

}  // namespace bastion::policy
