// Listen and target addresses: "127.0.0.1:2222", "[::1]:2222", "0.0.0.0:2222".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bastion {

struct endpoint {
  std::string host;  // an IP literal, without brackets
  std::uint16_t port = 0;

  // "127.0.0.1:2222" or "[::1]:2222": the form parse_endpoint reads.
  std::string to_string() const;
  bool operator==(const endpoint&) const = default;
};

// Reads IP:PORT with the IPv6 address in brackets. Host names are refused: a listener binds to an
// address, and resolving names at startup would make the bind depend on DNS.
std::optional<endpoint> parse_endpoint(std::string_view text);

}  // namespace bastion
