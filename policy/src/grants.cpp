// Grant rules: checking rows, matching targets, and choosing the grant that decides.
#include <algorithm>
#include <ctime>
#include <tuple>

#include <bastion/common/escape.hpp>
#include <bastion/policy/grants.hpp>

namespace bastion::policy {
namespace {

constexpr std::string_view label_prefix = "label:";

// * matches any run of characters, ? any one; everything else itself. Linear in practice: on a
// mismatch it backs up only to the last *.
bool glob_match(std::string_view glob, std::string_view text) {
  std::size_t g = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t resume = 0;
  while (t < text.size()) {
    if (g < glob.size() && (glob[g] == '?' || glob[g] == text[t])) {
      ++g;
      ++t;
    } else if (g < glob.size() && glob[g] == '*') {
      star = g++;
      resume = t;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') {
    ++g;
  }
  return g == glob.size();
}

std::string utc_text(std::int64_t unix_s) {
  const auto t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) {
    return std::to_string(unix_s);
  }
  char buf[32];
  return std::string(buf, std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm));
}

// Higher is more specific; see grants.hpp for the order.
auto specificity(const grant_rule& r) {
  const auto& t = r.targets;
  const int target_rank = t.by == target_selector::kind::name    ? 2
                          : t.by == target_selector::kind::label ? 1
                                                                 : 0;
  const auto literals = static_cast<std::ptrdiff_t>(
      t.by == target_selector::kind::glob
          ? std::count_if(t.name.begin(), t.name.end(), [](char c) { return c != '*' && c != '?'; })
          : 0);
  return std::make_tuple(!r.to_group, target_rank, literals, -r.id);
}

bool names_request(const grant_rule& r, const grant_request& q) {
  const bool subject =
      r.to_group ? std::find(q.groups.begin(), q.groups.end(), r.subject) != q.groups.end()
                 : r.subject == q.user;
  static const target_labels no_labels;
  return subject && r.targets.matches(q.target, q.labels ? *q.labels : no_labels) &&
         std::find(r.logins.begin(), r.logins.end(), q.login) != r.logins.end();
}

// Why the rule does not admit the request now; "" if it does.
std::string not_admitted(const grant_rule& r, const grant_request& q) {
  const std::string which = "grant #" + std::to_string(r.id);
  if (!r.unreadable.empty()) {
    return which + " cannot be read (" + r.unreadable + "); fix or revoke it";
  }
  if (r.valid_from_unix && q.now_unix < *r.valid_from_unix) {
    return which + " is valid from " + utc_text(*r.valid_from_unix);
  }
  if (r.valid_until_unix && q.now_unix >= *r.valid_until_unix) {
    return which + " expired at " + utc_text(*r.valid_until_unix);
  }
  if (!r.sources.empty()) {
    const auto ip = parse_ip(q.source_ip);
    const bool inside = ip && std::any_of(r.sources.begin(), r.sources.end(),
                                          [&](const net_block& b) { return b.contains(*ip); });
    if (!inside) {
      return which + " does not admit connections from " + escape(q.source_ip, 64);
    }
  }
  return {};
}

template <class T>
result<void> require_positive(std::string_view what, const std::optional<T>& v) {
  if (v && *v <= 0) {
    return make_error(std::string(what) + " must be above zero");
  }
  return {};
}

result<void> check_subject(const grant_row& row, grant_rule& out) {
  if (row.user.empty() == row.group.empty()) {
    return make_error("names both a user and a group, or neither; a grant is to one of them");
  }
  out.to_group = !row.group.empty();
  out.subject = out.to_group ? row.group : row.user;
  return out.to_group ? check_group_name(row.group) : check_user_name(row.user);
}

result<void> check_limits(const grant_row& row, grant_rule& out) {
  if (row.valid_from_unix && row.valid_until_unix &&
      *row.valid_from_unix >= *row.valid_until_unix) {
    return make_error("valid_from is not before valid_until");
  }
  out.valid_from_unix = row.valid_from_unix;
  out.valid_until_unix = row.valid_until_unix;
  for (const auto& s : row.sources) {
    const auto block = parse_net_block(s);
    if (!block) {
      return make_error("source \"" + escape(s, 64) +
                        "\" is not an address or a CIDR block (10.0.0.0/8, 2001:db8::/32)");
    }
    out.sources.push_back(*block);
  }
  if (auto ok = require_positive("max_session_duration", row.max_session_seconds); !ok) {
    return ok;
  }
  if (auto ok = require_positive("idle_timeout", row.idle_timeout_seconds); !ok) {
    return ok;
  }
  out.max_session_seconds = row.max_session_seconds;
  out.idle_timeout_seconds = row.idle_timeout_seconds;
  if (row.upstream_auth == "bastion-key" || row.upstream_auth == "agent") {
    out.auth = row.upstream_auth == "agent" ? upstream_auth::agent : upstream_auth::bastion_key;
  } else {
    return make_error("upstream_auth \"" + escape(row.upstream_auth, 32) +
                      "\" is neither bastion-key nor agent");
  }
  out.record_forward_data = row.record_forward_data;
  out.forward_ssh_inside = row.forward_ssh_inside;
  return {};
}

}  // namespace

std::string_view to_string(upstream_auth auth) {
  return auth == upstream_auth::agent ? "agent" : "bastion-key";
}

bool target_selector::matches(std::string_view target, const target_labels& labels) const {
  switch (by) {
    case kind::name:
      return target == name;
    case kind::glob:
      return glob_match(name, target);
    case kind::label: {
      const auto it = labels.find(label_key);
      return it != labels.end() && it->second == label_value;
    }
  }
  return false;
}

std::string target_selector::to_string() const {
  return by == kind::label ? std::string(label_prefix) + label_key + "=" + label_value : name;
}

result<target_selector> parse_target_selector(std::string_view text) {
  target_selector out;
  if (text.starts_with(label_prefix)) {
    const std::string_view kv = text.substr(label_prefix.size());
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos) {
      return make_error("target \"" + escape(text, 64) + "\": a label selector is label:KEY=VALUE");
    }
    if (auto ok = check_label(kv.substr(0, eq), kv.substr(eq + 1)); !ok) {
      return ok.error();
    }
    out.by = target_selector::kind::label;
    out.label_key = kv.substr(0, eq);
    out.label_value = kv.substr(eq + 1);
    return out;
  }
  out.name = text;
  if (text.find_first_of("*?") == std::string_view::npos) {
    if (auto ok = check_target_name(text); !ok) {
      return ok.error();
    }
    return out;
  }
  const auto glob_char = [](char c) { return is_name_char(c) || c == '*' || c == '?'; };
  if (text.size() > 253 || !std::all_of(text.begin(), text.end(), glob_char)) {
    return make_error("target pattern \"" + escape(text, 64) +
                      "\" may only hold letters, digits, '.', '_', '-', '*' and '?'");
  }
  out.by = target_selector::kind::glob;
  return out;
}

result<grant_rule> make_grant_rule(const grant_row& row) {
  grant_rule out;
  out.id = row.id;
  const auto fail = [&](const error_message& e) {
    return make_error("grant #" + std::to_string(row.id) + ": " + e.text);
  };
  if (auto ok = check_subject(row, out); !ok) {
    return fail(ok.error());
  }
  auto targets = parse_target_selector(row.targets);
  if (!targets) {
    return fail(targets.error());
  }
  out.targets = std::move(*targets);
  if (row.logins.empty()) {
    return fail(make_error("names no login"));
  }
  for (const auto& login : row.logins) {
    if (auto ok = check_login(login); !ok) {
      return fail(ok.error());
    }
  }
  out.logins = row.logins;
  auto kinds = parse_channel_kinds(row.kinds);
  if (!kinds) {
    return fail(kinds.error());
  }
  out.kinds = std::move(*kinds);
  if (auto ok = check_limits(row, out); !ok) {
    return fail(ok.error());
  }
  return out;
}

result<grant_rule> make_refusing_rule(const grant_row& row, const std::string& why) {
  grant_row bare = row;
  bare.valid_from_unix.reset();
  bare.valid_until_unix.reset();
  bare.sources.clear();
  bare.max_session_seconds.reset();
  bare.idle_timeout_seconds.reset();
  bare.upstream_auth = "bastion-key";
  auto rule = make_grant_rule(bare);
  if (rule) {
    rule->unreadable = escape(why, 200);
  }
  return rule;
}

grant_decision evaluate_grants(std::span<const grant_rule> rules, const grant_request& request) {
  const grant_rule* best = nullptr;
  for (const auto& r : rules) {
    if (names_request(r, request) && (best == nullptr || specificity(r) > specificity(*best))) {
      best = &r;
    }
  }
  if (best == nullptr) {
    return {false, nullptr,
            "user " + escape(request.user, 64) + " may not log in to " +
                escape(request.target, 64) + " as " + escape(request.login, 64)};
  }
  std::string why = not_admitted(*best, request);
  return {why.empty(), best, std::move(why)};
}

grant_decision evaluate_reach(std::span<const grant_rule> rules, const grant_request& request) {
  std::vector<std::string_view> logins;  // the logins that grants on this target name
  for (const auto& r : rules) {
    grant_request any = request;
    for (const auto& login : r.logins) {
      any.login = login;
      if (names_request(r, any) && std::find(logins.begin(), logins.end(), login) == logins.end()) {
        logins.push_back(login);
      }
    }
  }
  grant_decision first{
      false, nullptr,
      "user " + escape(request.user, 64) + " may not reach " + escape(request.target, 64)};
  for (const auto login : logins) {
    grant_request as = request;
    as.login = login;
    auto d = evaluate_grants(rules, as);
    if (d.allowed) {
      return d;
    }
    if (first.rule == nullptr) {
      first = std::move(d);
    }
  }
  return first;
}

}  // namespace bastion::policy
