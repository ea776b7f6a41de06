// The bastiond process: io threads, listeners, and the SIGTERM drain.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <memory>
#include <vector>

#include <bastion/common/config.hpp>
#include <bastion/proxy/listener.hpp>

namespace bastion::proxy {

class server {
 public:
  // Binds every listener; throws std::runtime_error naming the address that could not be bound.
  explicit server(const config& cfg);

  // Serves until SIGTERM or SIGINT, then stops accepting, drains for at most
  // limits.drain_timeout and returns 0.
  int run();

 private:
  void on_signal(int signo);
  void on_connection(boost::asio::ip::tcp::socket socket);

  const config& cfg_;
  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  std::vector<std::shared_ptr<listener>> listeners_;
};

}  // namespace bastion::proxy
