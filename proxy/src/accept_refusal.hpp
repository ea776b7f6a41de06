// Turning connections away at accept, before any key exchange: the client is told why in
// plaintext, and each reason is logged once per netblock per interval, so that a flood neither
// holds descriptors nor floods the log. Main thread only (it alone accepts). Internal to proxy/.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <bastion/common/address.hpp>
#include <bastion/common/config.hpp>

#include "preauth_guard.hpp"

namespace bastion::proxy {

class accept_refusals {
 public:
  using clock = std::chrono::steady_clock;

  // Sends `reason` as the SSH disconnect a client prints, then closes once the client has read it
  // or after 2 s. Past `max_lingering` refusals in flight the socket is closed at once instead.
  void refuse(boost::asio::ip::tcp::socket socket, const std::string& reason);

  // A connection from `peer` that the pre-authentication limits turned away: counted in
  // bastion_preauth_rejects_total, told why, and logged with the limit that refused it.
  void refuse(boost::asio::ip::tcp::socket socket, const std::string& peer,
              const preauth_guard::admission& admission, const limits_config& limits);

  // Whether to log a refusal of `block` for `reason` now: once per block and reason every 10 s.
  // If so, returns how many such refusals went unlogged before this one.
  std::optional<std::uint64_t> log_now(const std::string& reason, const net_block& block,
                                       clock::time_point now = clock::now());

  static constexpr std::size_t max_lingering = 64;
  static constexpr std::size_t max_logged_blocks = 4096;

 private:
  struct logged {
    clock::time_point at;
    std::uint64_t unlogged = 0;
  };
  std::shared_ptr<std::size_t> lingering_ = std::make_shared<std::size_t>(0);
  std::map<std::pair<std::string, net_block>, logged> logged_;
  clock::time_point purged_{};  // expired entries are dropped at most once a second
};

}  // namespace bastion::proxy
