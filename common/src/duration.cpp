// Duration parsing for the config file.
#include <array>
#include <charconv>
#include <cstdint>
#include <limits>

#include <bastion/common/duration.hpp>

namespace bastion {
namespace {

struct unit {
  std::string_view name;
  std::int64_t ms;
};

// Longest names first so that "ms" is not read as "m" followed by garbage.
constexpr std::array<unit, 5> units{{
    {"ms", 1},
    {"s", 1000},
    {"m", std::int64_t{60} * 1000},
    {"h", std::int64_t{60} * 60 * 1000},
    {"d", std::int64_t{24} * 60 * 60 * 1000},
}};

// A day in milliseconds times this still fits comfortably in int64; nothing configurable needs
// more.
constexpr std::int64_t max_ms = std::int64_t{100} * 365 * 24 * 60 * 60 * 1000;

}  // namespace

std::optional<duration> parse_duration(std::string_view text) {
  if (text.empty() || text.size() > 64) {
    return std::nullopt;
  }
  std::int64_t total = 0;
  while (!text.empty()) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end == text.data() || value < 0) {
      return std::nullopt;
    }
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    const unit* found = nullptr;
    for (const auto& u : units) {
      if (text.starts_with(u.name) &&
          (text.size() == u.name.size() ||
           (text[u.name.size()] >= '0' && text[u.name.size()] <= '9'))) {
        found = &u;
        break;
      }
    }
    if (found == nullptr || value > max_ms / found->ms) {
      return std::nullopt;
    }
    total += value * found->ms;
    if (total > max_ms) {
      return std::nullopt;
    }
    text.remove_prefix(found->name.size());
  }
  return duration{total};
}

std::string format_duration(duration d) {
  std::int64_t ms = d.count();
  if (ms == 0) {
    return "0s";
  }
  std::string out;
  for (auto it = units.rbegin(); it != units.rend(); ++it) {
    if (ms >= it->ms) {
      out += std::to_string(ms / it->ms);
      out += it->name;
      ms %= it->ms;
    }
  }
  return out;
}

}  // namespace bastion
