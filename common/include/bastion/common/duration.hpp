// Durations as they appear in the config: "120s", "5m", "1h30m", "250ms", "0s".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace bastion {

using duration = std::chrono::milliseconds;

// Parses a sequence of <integer><unit> parts, units ms, s, m, h, d. A bare number is rejected on
// purpose: "120" could mean seconds (sshd) or milliseconds, and the config must not guess.
std::optional<duration> parse_duration(std::string_view text);

// The shortest form parse_duration reads back to the same value ("90s" -> "1m30s").
std::string format_duration(duration d);

}  // namespace bastion
