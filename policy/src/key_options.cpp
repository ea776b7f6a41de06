// authorized_keys options: parsing (as sshd's auth-options.c reads them) and the from= match.
#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

#include <bastion/common/address.hpp>
#include <bastion/common/escape.hpp>
#include <bastion/policy/key_options.hpp>
#include <bastion/policy/names.hpp>

namespace bastion::policy {
namespace {

// sshd's permitopen="host:port": a literal host (no patterns; an IPv6 address in brackets) and a
// port number or "*". Anything else could never match a destination.
bool valid_permitopen(std::string_view value) {
  const auto colon = value.rfind(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  std::string_view host = value.substr(0, colon);
  const std::string_view port = value.substr(colon + 1);
  if (host.starts_with('[')) {
    if (!host.ends_with(']')) {
      return false;
    }
    host = host.substr(1, host.size() - 2);
    const auto ip = parse_ip(host);
    if (!ip || !ip->v6) {
      return false;
    }
  } else if (host.find(':') != std::string_view::npos) {
    return false;
  }
  int n = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  const bool port_ok = port == "*" || (ec == std::errc{} && end == port.data() + port.size() &&
                                       n >= 1 && n <= 65535);
  return port_ok && check_host(host).has_value();
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// One option: its name, and its value if it has one (name="value", \" inside stands for ").
struct option {
  std::string_view name;
  std::optional<std::string> value;
};

result<option> next_option(std::string_view& text) {
  option out;
  std::size_t i = 0;
  while (i < text.size() && text[i] != ',' && text[i] != '=') {
    ++i;
  }
  out.name = text.substr(0, i);
  if (out.name.empty()) {
    return make_error("an empty option (two commas, or a comma at the end)");
  }
  if (i < text.size() && text[i] == '=') {
    if (i + 1 >= text.size() || text[i + 1] != '"') {
      return make_error("option " + escape(out.name, 64) + "= needs a quoted value");
    }
    std::string value;
    std::size_t j = i + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\' && j + 1 < text.size() && text[j + 1] == '"') {
        ++j;
      }
      value += text[j];
    }
    if (j >= text.size()) {
      return make_error("the value of option " + escape(out.name, 64) + " has no closing quote");
    }
    out.value = std::move(value);
    i = j + 1;
  }
  if (i < text.size() && text[i] != ',') {
    return make_error("option " + escape(out.name, 64) + " must be followed by a comma");
  }
  text.remove_prefix(std::min(text.size(), i + 1));
  return out;
}

// "YYYYMMDD", "YYYYMMDDHHMM" or "YYYYMMDDHHMMSS", local time unless it ends in Z (UTC), as sshd.
std::optional<std::int64_t> parse_expiry(std::string_view v) {
  const bool utc = !v.empty() && (v.back() == 'Z' || v.back() == 'z');
  if (utc) {
    v.remove_suffix(1);
  }
  if ((v.size() != 8 && v.size() != 12 && v.size() != 14) ||
      !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const auto num = [&](std::size_t at, std::size_t n) {
    return v.size() >= at + n ? std::stoi(std::string(v.substr(at, n))) : 0;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(8, 2);
  tm.tm_min = num(10, 2);
  tm.tm_sec = num(12, 2);
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_isdst = -1;
  const std::time_t t = utc ? timegm(&tm) : std::mktime(&tm);
  return t == static_cast<std::time_t>(-1) ? std::nullopt : std::optional<std::int64_t>(t);
}

bool is_wildcard_pattern(std::string_view p) {
  return !p.empty() && p.find_first_of("*?") != std::string_view::npos &&
         std::all_of(p.begin(), p.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == '.' || c == ':' ||
                  c == '*' || c == '?';
         });
}

result<std::vector<std::string>> parse_from(const std::string& value) {
  std::vector<std::string> patterns;
  std::string_view rest = value;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view p = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const std::string_view bare = p.starts_with('!') ? p.substr(1) : p;
    if (!parse_net_block(bare) && !is_wildcard_pattern(bare)) {
      return make_error(
          "from=\"" + escape(value, 200) + "\": \"" + escape(p, 100) +
          "\" is not an address, a CIDR block or an address pattern; the bastion does not look "
          "up client host names (as sshd with UseDNS no), so write addresses");
    }
    // Addresses print in lower case: so are the patterns kept, or "!2001:DB8:*" never matches.
    std::string lower(p);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    patterns.push_back(std::move(lower));
  }
  if (patterns.empty()) {
    return make_error("from=\"\" allows no source; remove the option or list addresses");
  }
  return patterns;
}

// Options that only switch a permission: restrict clears them, their names set or clear one.
bool apply_flag(key_options& o, std::string_view name) {
  struct flag {
    const char* name;
    bool key_options::*field;
  };
  static constexpr flag flags[] = {{"pty", &key_options::pty},
                                   {"port-forwarding", &key_options::port_forwarding},
                                   {"agent-forwarding", &key_options::agent_forwarding},
                                   {"X11-forwarding", &key_options::x11_forwarding}};
  const bool negated = name.size() > 3 && iequals(name.substr(0, 3), "no-");
  const std::string_view base = negated ? name.substr(3) : name;
  for (const auto& f : flags) {
    if (iequals(base, f.name)) {
      o.*(f.field) = !negated;
      return true;
    }
  }
  return false;
}

result<void> apply_valued(key_options& o, std::string_view name, const std::string& value) {
  // A second command= or from= would replace the first and could widen what the key may do
  // (sshd refuses them too); of two expiry-times the earlier holds.
  const auto once = [&](bool set) -> result<void> {
    if (set) {
      return make_error("option " + escape(name, 64) +
                        "= is given twice; keep one (a second would override the first)");
    }
    return {};
  };
  if (iequals(name, "command")) {
    if (auto ok = once(o.command.has_value()); !ok) {
      return ok;
    }
    o.command = value;
  } else if (iequals(name, "from")) {
    if (auto ok = once(!o.from.empty()); !ok) {
      return ok;
    }
    auto patterns = parse_from(value);
    if (!patterns) {
      return patterns.error();
    }
    o.from = std::move(*patterns);
  } else if (iequals(name, "expiry-time")) {
    const auto t = parse_expiry(value);
    if (!t) {
      return make_error("expiry-time=\"" + escape(value, 64) +
                        "\" must be YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS (Z for UTC)");
    }
    o.expires_unix = o.expires_unix ? std::min(*o.expires_unix, *t) : *t;
  } else if (iequals(name, "permitopen")) {
    if (!valid_permitopen(value)) {
      return make_error("permitopen=\"" + escape(value, 100) +
                        "\" must be HOST:PORT, with a host name or address (an IPv6 address in "
                        "brackets) and a port from 1 to 65535 or *");
    }
    o.permitopen.push_back(value);
  } else {
    return make_error("option " + escape(name, 64) +
                      "= cannot be honoured by the bastion; remove it from the key line");
  }
  return {};
}

}  // namespace

result<key_options> parse_key_options(std::string_view text) {
  key_options o;
  while (!text.empty()) {
    auto opt = next_option(text);
    if (!opt) {
      return opt.error();
    }
    if (opt->value) {
      if (auto ok = apply_valued(o, opt->name, *opt->value); !ok) {
        return ok.error();
      }
    } else if (iequals(opt->name, "restrict")) {
      o.pty = o.port_forwarding = o.agent_forwarding = o.x11_forwarding = false;
    } else if (iequals(opt->name, "no-user-rc") || iequals(opt->name, "user-rc")) {
      // ~/.ssh/rc is never run on the bastion; on the target its own sshd decides.
    } else if (!apply_flag(o, opt->name)) {
      return make_error("option " + escape(opt->name, 64) +
                        " cannot be honoured by the bastion; remove it from the key line");
    }
  }
  return o;
}

bool open_permitted(const key_options& options, std::string_view host, int port) {
  if (options.permitopen.empty()) {
    return true;
  }
  return std::any_of(options.permitopen.begin(), options.permitopen.end(), [&](const auto& p) {
    const std::string_view entry(p);
    const auto colon = entry.rfind(':');
    std::string_view h = entry.substr(0, colon);
    const std::string_view entry_port = entry.substr(colon + 1);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
      h = h.substr(1, h.size() - 2);
    }
    // Compared as numbers: sshd reads "022" as port 22, and so does valid_permitopen.
    int n = 0;
    const auto [end, ec] =
        std::from_chars(entry_port.data(), entry_port.data() + entry_port.size(), n);
    const bool port_matches = entry_port == "*" || (ec == std::errc{} && n == port);
    return iequals(h, host) && port_matches;
  });
}

bool source_allowed(const key_options& options, std::string_view ip) {
  if (options.from.empty()) {
    return true;
  }
  const auto addr = parse_ip(ip);
  const std::string ip_text(ip);
  bool matched = false;
  for (const auto& p : options.from) {
    const bool negated = p.starts_with('!');
    const std::string bare = negated ? p.substr(1) : p;
    const auto block = parse_net_block(bare);
    const bool match =
        block ? addr && block->contains(*addr) : fnmatch(bare.c_str(), ip_text.c_str(), 0) == 0;
    if (match && negated) {
      return false;
    }
    matched = matched || match;
  }
  return matched;
}

}  // namespace bastion::policy
