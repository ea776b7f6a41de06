// Logging: one line per event, key=value fields, untrusted values quoted and escaped.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace bastion {

// Sets the process-wide logger: stderr, "TIME LEVEL message", at `level` (trace..error).
void init_logging(std::string_view level);

// An untrusted value as a log field: quoted, escaped and bounded, e.g. user="al\x1bice". (Not
// named `quoted`: argument-dependent lookup would pick std::quoted for std::string arguments.)
std::string log_value(std::string_view untrusted);

}  // namespace bastion
