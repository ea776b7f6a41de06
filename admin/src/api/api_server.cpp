// The admin API's listener: TLS, the connection cap and the io thread.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <thread>

#include <bastion/admin/api_server.hpp>
#include <bastion/common/log.hpp>

#include "connection.hpp"

namespace bastion::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using asio::ip::tcp;

namespace {

// Two workers: one request's database query never waits behind another's export; 32 jobs at most,
// then 503.
constexpr std::size_t worker_threads = 2;
constexpr std::size_t max_jobs = 32;
constexpr auto tls_handshake_timeout = std::chrono::seconds(10);

ssl::context make_tls(const config& cfg) {
  ssl::context tls(ssl::context::tls_server);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::no_compression | ssl::context::single_dh_use);
  try {
    tls.use_certificate_chain_file(cfg.admin_tls_cert.string());
    tls.use_private_key_file(cfg.admin_tls_key.string(), ssl::context::pem);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("admin.tls_cert / admin.tls_key: cannot load " +
                             cfg.admin_tls_cert.string() + " and " + cfg.admin_tls_key.string() +
                             " (" + e.code().message() +
                             "); give a PEM certificate chain and its private key");
  }
  return tls;
}

std::string peer_of(const tcp::socket& s) {
  boost::system::error_code ec;
  const auto ep = s.remote_endpoint(ec);
  if (ec) {
    return "";
  }
  return ep.address().is_v6() ? "[" + ep.address().to_string() + "]:" + std::to_string(ep.port())
                              : ep.address().to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

struct api_server::impl {
  impl(const config& c, policy::journal& journal)
      : cfg(c),
        pool(c.database, c.node_name, worker_threads, max_jobs),
        router(c, pool, journal),
        acceptor(io) {
    if (!cfg.admin_tls_cert.empty()) {
      tls.emplace(make_tls(cfg));
    }
    const auto where = cfg.admin_listen.to_string();
    try {
      const tcp::endpoint at(asio::ip::make_address(cfg.admin_listen.host), cfg.admin_listen.port);
      acceptor.open(at.protocol());
      acceptor.set_option(tcp::acceptor::reuse_address(true));
      acceptor.bind(at);
      acceptor.listen();
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error(
          "admin.listen: cannot listen on " + where + " (" + e.code().message() +
          "); free the port, or change `admin: { listen: ... }` in " + cfg.source.string());
    }
    asio::co_spawn(io, accept_loop(), [](const std::exception_ptr& e) { log_failure(e); });
    thread = std::thread([this] { io.run(); });
    spdlog::info("admin API on {}://{}/api/v1/", tls ? "https" : "http", where);
  }

  ~impl() {
    io.stop();
    thread.join();
    // Jobs still running post their results to `io`; once they are done, destroying `io` (before
    // the pool and router it references) frees the connections' coroutines.
    pool.join();
  }

  static void log_failure(const std::exception_ptr& e) {
    if (!e) {
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      spdlog::error("admin API: connection failed: {}", log_value(x.what()));
    }
  }

  asio::awaitable<void> accept_loop() {
    asio::steady_timer backoff(io);
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted) {
        co_return;
      }
      if (ec) {
        // Out of descriptors (EMFILE) or memory: wait rather than spin.
        spdlog::warn("admin API: accept failed: {}", ec.message());
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      if (active.load() >= static_cast<std::size_t>(cfg.admin_max_connections)) {
        spdlog::warn("admin API: {} connections open (admin.max_connections); closing one from {}",
                     active.load(), peer_of(socket));
        continue;  // the socket closes as it goes out of scope
      }
      ++active;
      asio::co_spawn(asio::make_strand(io), serve(std::move(socket)),
                     [](const std::exception_ptr& e) { log_failure(e); });
    }
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    struct slot {
      std::atomic<std::size_t>& n;
      ~slot() { --n; }
    } held{active};
    const std::string peer = peer_of(socket);
    beast::tcp_stream stream(std::move(socket));
    if (!tls) {
      co_await serve_requests(stream, router, pool, peer, limits);
      boost::system::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> secure(std::move(stream), *tls);
    beast::get_lowest_layer(secure).expires_after(tls_handshake_timeout);
    if (auto [ec] = co_await secure.async_handshake(ssl::stream_base::server,
                                                    asio::as_tuple(asio::use_awaitable));
        ec) {
      co_return;
    }
    co_await serve_requests(secure, router, pool, peer, limits);
    beast::get_lowest_layer(secure).expires_after(tls_handshake_timeout);
    co_await secure.async_shutdown(asio::as_tuple(asio::use_awaitable));
  }

  const config& cfg;
  worker_pool pool;
  api_router router;
  connection_limits limits;
  std::atomic<std::size_t> active{0};
  // Destroyed before the pool and the router: its pending handlers hold coroutines that use them.
  asio::io_context io{1};
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor;
  std::thread thread;
};

api_server::api_server(const config& cfg, policy::journal& journal)
    : impl_(std::make_unique<impl>(cfg, journal)) {}

api_server::~api_server() = default;

}  // namespace bastion::admin
