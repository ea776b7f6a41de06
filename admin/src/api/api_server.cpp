// The admin API's listener: TLS, the connection cap and the io thread.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/ssl.hpp>
#include <map>
#include <mutex>
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

// The console from admin.web_root; unset, the one beside the binary: BIN/../web when BIN/.. is
// the build tree that made it (it holds CMakeCache.txt), else BIN/../share/bastion/web as
// `cmake --install` and the container image place it. An admin.web_root that cannot be served
// stops bastiond; without any console, bastiond serves the API alone, and says so.
console_files load_console(const config& cfg) {
  if (!cfg.admin_web_root.empty()) {
    auto files = console_files::load(cfg.admin_web_root);
    if (!files) {
      throw std::runtime_error("admin.web_root: " + files.error().text);
    }
    return std::move(*files);
  }
  std::error_code ec;
  const auto bin = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  if (ec || bin.empty()) {
    spdlog::warn(
        "admin API: no console served: cannot find bastiond's own path ({}); set "
        "admin.web_root",
        ec.message());
    return {};
  }
  const bool build_tree = std::filesystem::exists(bin / "../CMakeCache.txt", ec);
  auto files = console_files::load(bin / (build_tree ? "../web" : "../share/bastion/web"));
  if (!files) {
    spdlog::warn("admin API: no console served: {}; set admin.web_root", files.error().text);
    return {};
  }
  return std::move(*files);
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
  impl(const config& c, policy::journal& journal, recorder::recording_service& recorder)
      : cfg(c),
        pool(c.database, c.node_name, worker_threads, max_jobs),
        console(load_console(c)),
        router(c, pool, journal, recorder, console),
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
    spdlog::info("admin API on {}://{}/api/v1/{}", tls ? "https" : "http", where,
                 console.empty() ? "" : ", web console at /");
  }

  ~impl() {
    io.stop();
    thread.join();
    // Jobs not started are dropped; those running post their results to `io`, whose destruction
    // (before the pool and the router that its coroutines use) frees them.
    pool.stop();
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
      const std::string peer = peer_of(socket);
      const std::string source = peer.substr(0, peer.rfind(':'));
      if (!admit(source)) {
        router.note_refused(peer, 503);
        continue;  // the socket closes as it goes out of scope
      }
      asio::co_spawn(asio::make_strand(io), serve(std::move(socket), peer, source),
                     [](const std::exception_ptr& e) { log_failure(e); });
    }
  }

  // A connection's place under admin.max_connections and max_connections_per_source; logged
  // (at most every 10 s) when there is none.
  bool admit(const std::string& source) {
    const std::lock_guard lock(places_mutex);
    const char* full = active >= static_cast<std::size_t>(cfg.admin_max_connections)
                           ? "admin.max_connections"
                       : per_source[source] >= cfg.admin_max_connections_per_source
                           ? "admin.max_connections_per_source"
                           : nullptr;
    if (full == nullptr) {
      ++active;
      ++per_source[source];
      return true;
    }
    if (const auto now = std::chrono::steady_clock::now();
        now - last_full_log > std::chrono::seconds(10)) {
      last_full_log = now;
      spdlog::warn("admin API: {} reached; closing a connection from {}", full, log_value(source));
    }
    return false;
  }

  void release(const std::string& source) {
    const std::lock_guard lock(places_mutex);
    --active;
    if (--per_source[source] == 0) {
      per_source.erase(source);
    }
  }

  asio::awaitable<void> serve(tcp::socket socket, std::string peer, std::string source) {
    struct place {
      impl& owner;
      const std::string& source;
      ~place() { owner.release(source); }
    } const held{*this, source};
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
  console_files console;
  api_router router;
  connection_limits limits;
  std::mutex places_mutex;
  std::size_t active = 0;                               // under places_mutex
  std::map<std::string, int> per_source;                // under places_mutex
  std::chrono::steady_clock::time_point last_full_log;  // under places_mutex
  std::optional<ssl::context> tls;                      // outlives the connections' streams
  // Destroyed before the pool and the router: its pending handlers hold coroutines that use them.
  asio::io_context io{1};
  tcp::acceptor acceptor;
  std::thread thread;
};

api_server::api_server(const config& cfg, policy::journal& journal,
                       recorder::recording_service& recorder)
    : impl_(std::make_unique<impl>(cfg, journal, recorder)) {}

api_server::~api_server() = default;

}  // namespace bastion::admin
