// Address parsing for listeners.
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
  if (ec || (addr.is_v6() && !text.starts_with('['))) {
    return std::nullopt;
  }
  unsigned value = 0;
  const auto [end, perr] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (perr != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return endpoint{addr.to_string(), static_cast<std::uint16_t>(value)};
}

}  // namespace bastion
