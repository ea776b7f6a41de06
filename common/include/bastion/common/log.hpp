// Logging: one line per event, key=value fields, untrusted values quoted and escaped.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace bastion {

enum class log_format { text, json };

// Sets the process-wide logger: stderr, "TIME LEVEL message" (or one JSON object per line), at
// `level` (trace..error). Lines go through a bounded queue to a thread of their own, so a slow
// stderr reader never holds an io thread: past `queue_lines` waiting lines the oldest are dropped
// and counted (log_lines_dropped, bastion_log_dropped_lines_total). shutdown_logging() writes
// what waits.
void init_logging(std::string_view level, log_format format = log_format::text,
                  std::size_t queue_lines = 8192);
void shutdown_logging();
std::size_t log_lines_dropped();

// An untrusted value as a log field: quoted, escaped and bounded, e.g. user="al\x1bice". (Not
// named `quoted`: argument-dependent lookup would pick std::quoted for std::string arguments.)
std::string log_value(std::string_view untrusted);

}  // namespace bastion
