// Accepts TCP connections on one address and hands each socket to a handler. Asio owns accept();
// SSH begins in the handler.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include <bastion/common/address.hpp>

namespace bastion::proxy {

class listener : public std::enable_shared_from_this<listener> {
 public:
  // The socket, and the peer's address as accept() returned it: the one that the audit trail
  // names, known even when the peer has reset the connection by the time anyone asks.
  using handler =
      std::function<void(boost::asio::ip::tcp::socket, const boost::asio::ip::tcp::endpoint&)>;

  // Binds and listens at once; throws boost::system::system_error naming the address on failure.
  listener(boost::asio::io_context& io, const endpoint& where, handler on_accept);

  void start();
  // Stops accepting; connections already handed over are not touched.
  void stop();
  const endpoint& where() const { return where_; }

 private:
  void accept_next();
  void on_accepted(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);
  // A warning about running out of descriptors, at most one per 10 s.
  void report_shortage(const std::string& what);

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  endpoint where_;
  handler on_accept_;
  boost::asio::ip::tcp::endpoint peer_;  // filled by the accept in flight (one at a time)
  // Failed accepts since the last log line about them, and when that was (one per 10 s).
  std::uint64_t failures_unlogged_ = 0;
  // Accepted descriptors from this number up are closed at once: the open-files limit less a
  // reserve of min(64, a quarter of it).
  int descriptor_ceiling_ = 1 << 30;
  std::chrono::steady_clock::time_point failure_logged_{};
};

}  // namespace bastion::proxy
