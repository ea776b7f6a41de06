// Grant rows and target selectors, as an admin types them and as the database hands them back.
// Input: lines of "FIELD=VALUE" for one grant row (user, group, targets, login, kinds, sources)
// and then, after a line "--", the request: target name, a label "KEY=VALUE", login, source IP.
// Properties:
// - make_grant_rule never throws, and its error names the grant;
// - a selector that parses prints back to text that parses to the same selector;
// - a rule allows a request only if it names the user, the target (by its name or label) and the
//   login, and admits its source: nothing else ever widens access;
// - every reason is terminal-safe.
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include <bastion/policy/grants.hpp>

#include "fuzz_check.hpp"

namespace {

using namespace bastion::policy;

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  }
  return out;
}

grant_row row_of(const std::vector<std::string_view>& lines, std::size_t end) {
  grant_row row;
  row.id = 7;
  for (std::size_t i = 0; i < end; ++i) {
    const auto eq = lines[i].find('=');
    const std::string_view key = lines[i].substr(0, eq);
    const std::string value(eq == std::string_view::npos ? "" : lines[i].substr(eq + 1));
    if (key == "user") {
      row.user = value;
    } else if (key == "group") {
      row.group = value;
    } else if (key == "targets") {
      row.targets = value;
    } else if (key == "login") {
      row.logins.push_back(value);
    } else if (key == "kinds") {
      row.kinds = value;
    } else if (key == "source") {
      row.sources.push_back(value);
    }
  }
  return row;
}

void check_selector(std::string_view text) {
  const auto s = parse_target_selector(text);
  if (!s) {
    FUZZ_REQUIRE(bastion::fuzz::terminal_safe(s.error().text));
    return;
  }
  const auto again = parse_target_selector(s->to_string());
  FUZZ_REQUIRE(again && again->to_string() == s->to_string() && again->by == s->by);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto lines = lines_of(bastion::fuzz::as_text(data, size));
  std::size_t sep = 0;
  while (sep < lines.size() && lines[sep] != "--") {
    ++sep;
  }
  const grant_row row = row_of(lines, sep);
  check_selector(row.targets);
  const auto rule = make_grant_rule(row);
  if (!rule) {
    FUZZ_REQUIRE(rule.error().text.starts_with("grant #7: "));
    FUZZ_REQUIRE(bastion::fuzz::terminal_safe(rule.error().text));
    return 0;
  }
  const auto field = [&](std::size_t i) {
    return sep + i < lines.size() ? lines[sep + i] : std::string_view{};
  };
  const std::string_view target = field(1);
  const std::string_view label = field(2);
  const auto eq = label.find('=');
  target_labels labels;
  if (eq != std::string_view::npos) {
    labels.emplace(label.substr(0, eq), label.substr(eq + 1));
  }
  const std::vector<std::string> groups{"ops"};
  const grant_request request{"alice", groups, target, &labels, field(3), field(4), 0};
  const auto d = evaluate_grants(std::span(&*rule, 1), request);
  FUZZ_REQUIRE(bastion::fuzz::terminal_safe(d.reason));
  if (d.allowed) {
    FUZZ_REQUIRE(rule->to_group ? rule->subject == "ops" : rule->subject == "alice");
    FUZZ_REQUIRE(rule->targets.matches(target, labels));
    FUZZ_REQUIRE(std::find(rule->logins.begin(), rule->logins.end(), field(3)) !=
                 rule->logins.end());
    FUZZ_REQUIRE(rule->sources.empty() || bastion::parse_ip(field(4)).has_value());
    if (rule->targets.by == target_selector::kind::name) {
      FUZZ_REQUIRE(target == rule->targets.name);
    }
  }
  return 0;
}
