// authorized_keys options (sshd(8), AUTHORIZED_KEYS FILE FORMAT) as the bastion honours them: at
// login (from=, expiry-time=) and for what the key's sessions may do (restrict, no-pty and the
// no-*-forwarding family with their positive twins, command=, permitopen=). Options that the
// bastion cannot honour (environment=, tunnel=, permitlisten=, principals=, cert-authority,
// no-touch-required, verify-required, unknown ones) are refused when the key is added, by name, so
// that a key never carries a restriction that is silently dropped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <bastion/common/result.hpp>

namespace bastion::policy {

struct key_options {
  // from="pattern-list": addresses, CIDR blocks or wildcard patterns (* and ?), each may be
  // negated with '!'. Empty: from anywhere.
  std::vector<std::string> from;
  std::optional<std::int64_t> expires_unix;  // expiry-time="YYYYMMDD[HHMM[SS]][Z]"
  bool pty = true;
  bool port_forwarding = true;
  bool agent_forwarding = true;
  bool x11_forwarding = true;
  std::optional<std::string> command;  // command="...": runs instead of what the client asks
  // permitopen="host:port": the destinations this key may open, a `-J` hop's included. The -J hop
  // is a session that the bastion ends and records, not a raw forward, so no-port-forwarding (and
  // restrict) leave it alone: they hold for -L, -D and -R.
  std::vector<std::string> permitopen;
};

// Parses the options field of an authorized_keys line ("" gives the defaults).
result<key_options> parse_key_options(std::string_view text);

// The from= check as sshd makes it without DNS (UseDNS no, its default): true if `ip` matches a
// pattern and no negated one. Host names are refused by parse_key_options, since they would
// never match.
bool source_allowed(const key_options& options, std::string_view ip);

// The permitopen= check as sshd makes it: no entry, or one whose host is `host` literally (no
// patterns, no lookups; an IPv6 address in brackets; case does not matter) and whose port is
// `port` or *.
bool open_permitted(const key_options& options, std::string_view host, int port);

}  // namespace bastion::policy
