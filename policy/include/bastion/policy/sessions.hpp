// Sessions and their recordings in PostgreSQL: the rows the proxy writes as sessions start and
// end, the listing admins search, and the index from a session id to its recording file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bastion::policy {

// Session ids are UUIDs that the bastion generates, in lowercase 8-4-4-4-12 hex.
bool is_session_id(std::string_view text);

// Who ran a session, where to, and how: what its row and its recording's first event say.
struct session_identity {
  std::string user;
  std::string target;
  std::string login;
  std::string source_addr;
  std::string client_version;
  std::string access_form;  // "jump" or "username"
};

struct session_start {
  std::string id;  // UUID text, server-generated
  std::string node;
  session_identity who;
  std::string recording_file;  // file name inside recording.dir
  int format_version = 1;
  std::int64_t started_unix_us = 0;  // 0: the time the row is written
};

struct recording_end {
  std::string head_hash;  // hex SHA-256 of the last chunk
  std::uint64_t bytes_raw = 0;
  std::uint64_t bytes_stored = 0;
  std::uint32_t chunk_count = 0;
  std::uint64_t lost_bytes = 0;
};

struct session_info {
  std::string id;
  std::string node;
  std::string user;
  std::string target;
  std::string login;
  std::string source_addr;
  std::string access_form;
  std::string started_at;
  std::int64_t started_unix_us = 0;  // exact: the keyset of the listing's pages
  std::string ended_at;              // "" while live
  std::string ended_reason;
  std::string recording_file;
  std::string head_hash;  // "" until finalised
  std::uint64_t bytes_raw = 0;
  std::uint64_t bytes_stored = 0;
  std::uint64_t lost_bytes = 0;
};

// Where a page of the session listing ends: the last row's start and id. As text (an API's
// next_cursor), "MICROSECONDS.ID".
struct session_cursor {
  std::int64_t started_unix_us = 0;
  std::string id;
};
std::string to_string(const session_cursor& c);
std::optional<session_cursor> parse_session_cursor(std::string_view text);

struct session_filter {
  bool live_only = false;
  std::optional<std::string> user;
  std::optional<std::string> target;
  std::optional<std::string>
      since;  // a timestamp PostgreSQL reads, e.g. "2026-11-25" or "2026-11-25T10:00Z"
  int limit = 1000;
  std::optional<session_cursor> after;  // only sessions listed after this one
};

// A channel of a session as its row says: kind, what it ran or reached, its end and byte counts.
struct channel_info {
  std::uint32_t channel_no = 0;
  std::string kind;
  std::string detail_json;
  std::string opened_at;
  std::string closed_at;  // "" while open
  std::optional<int> exit_status;
  std::string exit_signal;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
};

// `bastionctl audit`: the audit trail, newest first. Every filter is optional.
struct audit_filter {
  std::optional<std::string> actor;   // the bastion user, or the admin, who acted
  std::optional<std::string> target;  // target_name
  std::optional<std::string> since;   // a timestamp, as session_filter's
  std::optional<std::string> kind;    // "auth" matches auth and auth.*; "auth.inner" only itself
  std::optional<std::string> session;
  int limit = 1000;
};

// `bastionctl search` and the API's search: the index documents that hold `text` (literally,
// case-insensitive), newest sessions first.
struct search_filter {
  std::string text;
  std::optional<std::string> user;
  std::optional<std::string> target;
  std::optional<std::string> since;  // a timestamp, as session_filter's
  int limit = 50;                    // documents
};

// One search index document (recorder/search_text.hpp) and its session.
struct search_row {
  session_info session;
  std::string kind;   // "input" or "output"
  std::string body;   // lines, each ending in '\n'
  std::string marks;  // "at:offset_us:channel,..." per line
};

struct audit_row {
  std::int64_t id = 0;
  std::string at;  // UTC, ISO 8601 with milliseconds
  std::string node;
  std::string kind;
  std::string result;
  std::string actor;
  std::string source_addr;
  std::string target_name;
  std::string session_id;  // "" if none
  std::string detail_json;
};

}  // namespace bastion::policy
