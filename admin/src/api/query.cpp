// Query string parsing for the admin API.
#include "query.hpp"

#include <algorithm>
#include <charconv>

#include <bastion/common/escape.hpp>

namespace bastion::admin {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

result<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] != '%') {
      out += in[i];
    } else if (i + 2 < in.size() && hex_digit(in[i + 1]) >= 0 && hex_digit(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(in[i + 1]) * 16 + hex_digit(in[i + 2]));
      i += 2;
    } else {
      return make_error("a % in the query is not followed by two hex digits");
    }
  }
  return out;
}

std::string allowed_list(std::initializer_list<std::string_view> allowed) {
  std::string out;
  for (const auto name : allowed) {
    out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out.empty() ? "none" : out;
}

}  // namespace

result<query_params> parse_query(std::string_view query,
                                 std::initializer_list<std::string_view> allowed) {
  query_params out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) {
      continue;
    }
    const auto eq = part.find('=');
    auto name = percent_decode(part.substr(0, eq));
    auto value = percent_decode(eq == std::string_view::npos ? "" : part.substr(eq + 1));
    if (!name) {
      return name.error();
    }
    if (!value) {
      return value.error();
    }
    if (std::find(allowed.begin(), allowed.end(), *name) == allowed.end()) {
      return make_error("unknown query parameter \"" + escape(*name, 64) +
                        "\"; this endpoint takes: " + allowed_list(allowed));
    }
    if (value->size() > max_query_value || value->find('\0') != std::string::npos ||
        !is_valid_utf8(*value)) {
      return make_error("query parameter " + *name + " must be UTF-8 text of at most " +
                        std::to_string(max_query_value) + " bytes");
    }
    if (!out.emplace(std::move(*name), std::move(*value)).second) {
      return make_error("query parameter " + std::string(part.substr(0, eq)) +
                        " is given twice; give it once");
    }
  }
  return out;
}

result<int> int_param(const query_params& q, std::string_view name, int fallback, int min,
                      int max) {
  const auto it = q.find(name);
  if (it == q.end() || it->second.empty()) {
    return fallback;
  }
  int v = 0;
  const auto& text = it->second;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    return make_error(std::string(name) + " must be a whole number from " + std::to_string(min) +
                      " to " + std::to_string(max));
  }
  return v;
}

result<bool> bool_param(const query_params& q, std::string_view name) {
  const auto it = q.find(name);
  if (it == q.end() || it->second.empty() || it->second == "false" || it->second == "0") {
    return false;
  }
  if (it->second == "true" || it->second == "1") {
    return true;
  }
  return make_error(std::string(name) + " must be true or false");
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  }
  return out;
}

std::optional<std::string> text_param(const query_params& q, std::string_view name) {
  const auto it = q.find(name);
  return it == q.end() || it->second.empty() ? std::nullopt : std::optional(it->second);
}

}  // namespace bastion::admin
