// bastiond's process-level wiring: threads, listeners, signals.
#include <csignal>
#include <thread>

#include <bastion/common/log.hpp>
#include <bastion/proxy/server.hpp>

namespace bastion::proxy {

namespace asio = boost::asio;

server::server(const config& cfg)
    : cfg_(cfg),
      io_(static_cast<int>(std::max(1U, std::thread::hardware_concurrency()))),
      signals_(io_, SIGINT, SIGTERM) {
  for (const auto& where : cfg_.listen) {
    try {
      listeners_.push_back(std::make_shared<listener>(
          io_, where, [this](asio::ip::tcp::socket s) { on_connection(std::move(s)); }));
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("cannot listen on " + where.to_string() + ": " + e.code().message() +
                               "; free the port or change `listen:` in " + cfg_.source.string());
    }
  }
}

void server::on_connection(asio::ip::tcp::socket socket) {
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  // SSH sessions arrive with the proxy core; until then a connection is closed at once so that
  // clients fail fast instead of waiting for a banner.
  spdlog::info(
      "connection src={} closed: this build does not serve SSH sessions yet",
      ec ? std::string("?") : peer.address().to_string() + ":" + std::to_string(peer.port()));
  socket.close(ec);
}

void server::on_signal(int signo) {
  spdlog::info("received {}; no longer accepting, draining for at most {}",
               signo == SIGTERM ? "SIGTERM" : "SIGINT", format_duration(cfg_.limits.drain_timeout));
  for (auto& l : listeners_) {
    l->stop();
  }
  // With the listeners closed, io_.run() returns once no connection has work left. No connection
  // outlives its accept yet, so the drain ends at once; sessions will bound it by drain_timeout.
}

int server::run() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (!ec) {
      on_signal(signo);
    }
  });
  for (auto& l : listeners_) {
    l->start();
    spdlog::info("listening on {}", l->where().to_string());
  }
  const unsigned n = std::max(1U, std::thread::hardware_concurrency());
  std::vector<std::jthread> threads;
  for (unsigned i = 1; i < n; ++i) {
    threads.emplace_back([this] { io_.run(); });
  }
  io_.run();
  threads.clear();
  spdlog::info("stopped");
  return 0;
}

}  // namespace bastion::proxy
