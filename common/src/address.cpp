// Address parsing: listeners, and address blocks for source checks.
#include <arpa/inet.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <charconv>

#include <bastion/common/address.hpp>

namespace bastion {

std::string endpoint::to_string() const {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

namespace {

// inet_pton (and asio's make_address on it) reads up to a NUL: "10.0.0.1\0junk" would pass as
// 10.0.0.1. An IP literal holds only these bytes.
bool ip_literal_bytes(std::string_view text) {
  return text.size() <= INET6_ADDRSTRLEN &&
         text.find_first_not_of("0123456789abcdefABCDEF.:") == std::string_view::npos;
}

// An IPv6 zone ("[fe80::1%eth0]:2222", a link-local listener): an interface name after the '%'.
bool zone_bytes(std::string_view host) {
  const auto percent = host.find('%');
  if (percent == std::string_view::npos) {
    return true;
  }
  const std::string_view zone = host.substr(percent + 1);
  return !zone.empty() && zone.size() <= 15 &&
         zone.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
             std::string_view::npos;
}

}  // namespace

std::optional<endpoint> parse_endpoint(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(std::string(host), ec);
  if (ec || !ip_literal_bytes(host.substr(0, host.find('%'))) || !zone_bytes(host) ||
      (addr.is_v6() && !text.starts_with('['))) {
    return std::nullopt;
  }
  unsigned value = 0;
  const auto [end, perr] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (perr != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return endpoint{addr.to_string(), static_cast<std::uint16_t>(value)};
}

std::optional<net_block> parse_ip(std::string_view text) {
  if (!ip_literal_bytes(text)) {
    return std::nullopt;
  }
  net_block out;
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), out.bytes.data()) == 1) {
    out.bits = 32;
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.bytes.data()) != 1) {
    return std::nullopt;
  }
  static constexpr std::array<unsigned char, 12> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(mapped.begin(), mapped.end(), out.bytes.begin())) {
    std::copy_n(out.bytes.begin() + 12, 4, out.bytes.begin());
    std::fill(out.bytes.begin() + 4, out.bytes.end(), 0);
    out.bits = 32;
    return out;
  }
  out.v6 = true;
  out.bits = 128;
  return out;
}

std::optional<net_block> parse_net_block(std::string_view text) {
  const auto slash = text.find('/');
  auto block = parse_ip(text.substr(0, slash));
  if (!block || slash == std::string_view::npos) {
    return block;
  }
  const std::string_view len = text.substr(slash + 1);
  int bits = -1;
  const auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
  if (ec != std::errc{} || end != len.data() + len.size() || len.size() > 3 || bits < 0 ||
      bits > block->bits) {
    return std::nullopt;
  }
  return block->prefix(bits);
}

bool net_block::is_loopback() const {
  if (!v6) {
    return bytes[0] == 127;
  }
  return std::all_of(bytes.begin(), bytes.end() - 1, [](unsigned char b) { return b == 0; }) &&
         bytes[15] == 1;
}

bool net_block::contains(const net_block& address) const {
  return v6 == address.v6 && bits <= address.bits && address.prefix(bits).bytes == bytes;
}

net_block net_block::prefix(int n) const {
  net_block out = *this;
  out.bits = std::clamp(n, 0, bits);
  const auto whole = static_cast<std::size_t>(out.bits / 8);
  if (const int rest = out.bits % 8; rest != 0) {
    out.bytes.at(whole) &= static_cast<unsigned char>(0xff << (8 - rest));
    std::fill(out.bytes.begin() + static_cast<std::ptrdiff_t>(whole) + 1, out.bytes.end(), 0);
  } else {
    std::fill(out.bytes.begin() + static_cast<std::ptrdiff_t>(whole), out.bytes.end(), 0);
  }
  return out;
}

std::string net_block::to_string() const {
  std::array<char, INET6_ADDRSTRLEN> text{};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), text.data(), text.size());
  const int all = v6 ? 128 : 32;
  return bits == all ? std::string(text.data())
                     : std::string(text.data()) + "/" + std::to_string(bits);
}

}  // namespace bastion
