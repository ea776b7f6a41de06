// The query string of an admin API request, decoded and checked before anything reads it: only
// the parameters an endpoint names, each once, with a bounded, NUL-free, UTF-8 value. Internal to
// admin/.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <bastion/common/result.hpp>

namespace bastion::admin {

inline constexpr std::size_t max_query_value = 256;

using query_params = std::map<std::string, std::string, std::less<>>;

// "a=1&b=x%20y" as {a: "1", b: "x y"}; an unknown or repeated name, a bad %-escape, a NUL or a
// value past max_query_value is an error naming it and what is allowed.
result<query_params> parse_query(std::string_view query,
                                 std::initializer_list<std::string_view> allowed);

// A whole number from min to max, or an error that names the parameter.
result<int> int_param(const query_params& q, std::string_view name, int fallback, int min, int max);
// true/false (or 1/0).
result<bool> bool_param(const query_params& q, std::string_view name);
// A path's segments between slashes ("/api/v1/x" gives "", "api", "v1", "x").
std::vector<std::string_view> split_path(std::string_view path);

// The value if given and non-empty.
std::optional<std::string> text_param(const query_params& q, std::string_view name);

}  // namespace bastion::admin
