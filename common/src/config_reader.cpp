// Typed reads of YAML config values with errors that say where and how to fix.
#include "config_reader.hpp"

#include <charconv>
#include <map>

#include <bastion/common/escape.hpp>

namespace bastion::detail {
namespace {

int line_of(const YAML::Node& node) {
  const auto mark = node.Mark();
  return mark.line >= 0 ? mark.line + 1 : 0;
}

}  // namespace

config_section::config_section(const std::filesystem::path& source, const YAML::Node& node,
                               std::string prefix)
    : source_(source), node_(node), prefix_(std::move(prefix)) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    fail(node_, prefix_.empty() ? "(top level)" : prefix_.substr(0, prefix_.size() - 1),
         "must be a mapping of keys to values; see the example in README.md");
  }
}

void config_section::fail(const YAML::Node& at, std::string_view key,
                          std::string_view problem) const {
  const int line = line_of(at);
  std::string where = source_.string();
  if (line > 0) {
    where += ":" + std::to_string(line);
  }
  throw config_error(where + ": " + std::string(key) + ": " + std::string(problem));
}

void config_section::fail_value(std::string_view key, std::string_view problem) {
  const YAML::Node at = lookup(key);
  fail(at.IsDefined() ? at : node_, prefix_ + std::string(key), problem);
}

YAML::Node config_section::lookup(std::string_view key) {
  known_.emplace(key);
  if (!node_.IsMap()) {
    return YAML::Node(YAML::NodeType::Undefined);
  }
  for (const auto& kv : node_) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) {
      return kv.second;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::optional<std::string> config_section::scalar(std::string_view key) {
  const YAML::Node node = lookup(key);
  if (!node.IsDefined()) {
    return std::nullopt;
  }
  if (!node.IsScalar()) {
    fail(node, prefix_ + std::string(key), "must be a single value, not a list or mapping");
  }
  check_no_nul(node, key);
  return node.Scalar();
}

// Values reach C APIs (open(2), libpq, inet_pton) that stop at a NUL: "/var/lib\0/x" would
// silently mean "/var/lib".
void config_section::check_no_nul(const YAML::Node& node, std::string_view key) const {
  if (node.Scalar().find('\0') != std::string::npos) {
    fail(node, prefix_ + std::string(key), "holds a NUL byte (\\0); remove it");
  }
}

void config_section::read(std::string_view key, std::string& out) {
  if (auto v = scalar(key)) {
    out = *v;
  }
}

void config_section::read(std::string_view key, std::filesystem::path& out) {
  const YAML::Node node = lookup(key);
  if (!node.IsDefined()) {
    return;
  }
  if (!node.IsScalar() || node.Scalar().empty()) {
    fail(node, prefix_ + std::string(key), "must be a file or directory path");
  }
  check_no_nul(node, key);
  out = node.Scalar();
}

void config_section::read(std::string_view key, duration& out) {
  if (auto v = scalar(key)) {
    const auto parsed = parse_duration(*v);
    if (!parsed) {
      fail_value(
          key, "\"" + escape(*v, 64) +
                   "\" is not a duration; write a number with a unit (ms, s, m, h, d), e.g. 120s, "
                   "5m or 1h30m");
    }
    out = *parsed;
  }
}

void config_section::read(std::string_view key, int& out, int min, int max) {
  const auto v = scalar(key);
  if (!v) {
    return;
  }
  const std::string_view text = *v;
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
    fail_value(key, "\"" + escape(text, 64) + "\" is not a whole number from " +
                        std::to_string(min) + " to " + std::to_string(max));
  }
  out = value;
}

void config_section::read(std::string_view key, bool& out) {
  const auto v = scalar(key);
  if (!v) {
    return;
  }
  if (*v != "true" && *v != "false") {
    fail_value(key, "\"" + escape(*v, 64) + "\" is not a boolean; write true or false");
  }
  out = *v == "true";
}

void config_section::read(std::string_view key, endpoint& out) {
  if (auto v = scalar(key)) {
    const auto parsed = parse_endpoint(*v);
    if (!parsed) {
      fail_value(key, "\"" + escape(*v, 64) +
                          "\" is not an address; write IP:PORT, e.g. 127.0.0.1:2222 or [::1]:2222");
    }
    out = *parsed;
  }
}

std::vector<YAML::Node> config_section::sequence(std::string_view key, const YAML::Node& node) {
  std::vector<YAML::Node> items;
  if (node.IsScalar()) {
    items.push_back(node);  // a single value where a list is expected is read as a list of one
  } else if (node.IsSequence() && node.size() > 0) {
    for (const auto& item : node) {
      if (!item.IsScalar()) {
        fail(item, prefix_ + std::string(key), "each entry must be a single value");
      }
      items.push_back(item);
    }
  } else {
    fail(node, prefix_ + std::string(key), "must be a non-empty list, e.g. [\"a\", \"b\"]");
  }
  for (const auto& item : items) {
    check_no_nul(item, key);
  }
  return items;
}

// A list whose entries `parse` reads (nullopt: refused with `what` and the fix).
template <class T, class Parse>
void config_section::read_list(std::string_view key, std::vector<T>& out, Parse parse,
                               std::string_view what) {
  const YAML::Node node = lookup(key);
  if (!node.IsDefined()) {
    return;
  }
  std::vector<T> values;
  for (const auto& item : sequence(key, node)) {
    const auto parsed = parse(item.Scalar());
    if (!parsed) {
      fail(item, prefix_ + std::string(key),
           "\"" + escape(item.Scalar(), 64) + "\" is not " + std::string(what));
    }
    values.push_back(*parsed);
  }
  out = std::move(values);
}

void config_section::read(std::string_view key, std::vector<endpoint>& out) {
  read_list(key, out, parse_endpoint, "an address; write IP:PORT, e.g. 0.0.0.0:2222 or [::]:2222");
}

void config_section::read(std::string_view key, std::vector<std::filesystem::path>& out) {
  const YAML::Node node = lookup(key);
  if (!node.IsDefined()) {
    return;
  }
  std::vector<std::filesystem::path> values;
  for (const auto& item : sequence(key, node)) {
    values.emplace_back(item.Scalar());
  }
  out = std::move(values);
}

void config_section::read(std::string_view key, std::vector<net_block>& out) {
  read_list(key, out, parse_net_block,
            "an address block; write an address or ADDRESS/BITS, e.g. 10.0.0.0/8 or "
            "2001:db8::/32");
}

config_section config_section::child(std::string_view key) {
  return config_section(source_, lookup(key), prefix_ + std::string(key) + ".");
}

void config_section::finish() const {
  if (!node_.IsMap()) {
    return;
  }
  std::map<std::string, int, std::less<>> seen;
  for (const auto& kv : node_) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
    if (!known_.contains(key)) {
      std::string valid;
      for (const auto& k : known_) {
        valid += (valid.empty() ? "" : ", ") + k;
      }
      fail(kv.first, prefix_ + escape(key, 64), "unknown key; remove it or use one of: " + valid);
    }
    if (++seen[key] == 2) {
      fail(kv.first, prefix_ + key, "given twice; keep one");
    }
  }
}

}  // namespace bastion::detail
