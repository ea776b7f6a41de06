// Untrusted text (names from clients, targets, the database) made safe for a log line or a
// terminal.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bastion {

// Keeps printable ASCII and well-formed UTF-8 (except C1 controls and the invisible bidirectional
// and line-separator characters), writes everything else as \xNN bytes and a backslash as \\, so
// the result never moves a cursor, sets a title, reorders what is read or splits a log line.
// Input past max_bytes is cut and the cut is marked with "...(+N bytes)".
std::string escape(std::string_view text, std::size_t max_bytes = 256);

// True when text is well-formed UTF-8 with no NUL: what a PostgreSQL text column accepts.
bool is_valid_utf8(std::string_view text);

}  // namespace bastion
