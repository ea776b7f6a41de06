// Listen and target addresses: "127.0.0.1:2222", "[::1]:2222", "0.0.0.0:2222".
#pragma once

#include <array>
#include <compare>
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

// An IPv4 or IPv6 address block ("10.0.0.0/8", "2001:db8::/32"); one address is a block of all
// its bits. IPv4-mapped IPv6 addresses ("::ffff:10.0.0.1") are read as the IPv4 address, so that a
// dual-stack listener's peers match IPv4 blocks.
struct net_block {
  bool v6 = false;
  std::array<unsigned char, 16> bytes{};  // the first 4 for IPv4
  int bits = 0;

  bool contains(const net_block& address) const;
  // 127.0.0.0/8 or ::1.
  bool is_loopback() const;
  // The block of this address's first `bits` bits (at most its own), the other bits cleared.
  net_block prefix(int bits) const;
  // "10.0.0.0/8", or the bare address for a block of all its bits.
  std::string to_string() const;
  auto operator<=>(const net_block&) const = default;
};

// An IP literal, without brackets or a prefix length.
std::optional<net_block> parse_ip(std::string_view text);
// An IP literal with an optional "/BITS" (as many as the address has, at most).
std::optional<net_block> parse_net_block(std::string_view text);

}  // namespace bastion
