// One admin HTTP connection, plain or TLS: reads requests within bounds (header and body limits,
// a deadline per request), answers each through the router, and streams asciicast bodies chunk by
// chunk, reading the next piece only once the last one was written. Internal to admin/.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>

#include <bastion/common/log.hpp>

#include "live_socket.hpp"
#include "router.hpp"

namespace bastion::admin {

struct connection_limits {
  std::uint32_t header_bytes = 8 * 1024;
  std::uint64_t body_bytes = 64 * 1024;
  // For a whole request to arrive (headers and body), and for an idle keep-alive connection to
  // send its next one: a slow client is closed, never holds its place.
  std::chrono::seconds request_timeout{30};
  // For each write of a response (a reader that stops reading is closed).
  std::chrono::seconds write_timeout{60};
  std::size_t stream_piece_bytes = 256 * 1024;
  // What a live watcher may fall behind its session before it is dropped.
  std::size_t live_watcher_bytes = 1024 * 1024;
};

// The console's Content-Security-Policy: its own files only, no inline script or style, no
// eval. 'wasm-unsafe-eval' lets asciinema-player compile its terminal emulator, which it carries
// as WebAssembly; connect-src 'self' covers the API and the live WebSocket on this origin.
constexpr const char* content_security_policy =
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

// Headers on every response: nothing cached (the console's files revalidate instead), nothing
// sniffed, nothing framed, and the console's CSP.
template <class Message>
void set_common_headers(Message& m) {
  m.set(http::field::server, "bastiond");
  m.set(http::field::cache_control, "no-store");
  m.set("Content-Security-Policy", content_security_policy);
  m.set("X-Content-Type-Options", "nosniff");
  m.set("X-Frame-Options", "DENY");
  m.set("Referrer-Policy", "no-referrer");
}

// The next piece of a cast from the worker pool. A full pool makes the stream wait its turn
// (it must not cut a body whose status went out); nullopt when the stream must end.
inline boost::asio::awaitable<std::optional<std::string>> next_piece(
    recorder::asciicast_stream& cast, worker_pool& pool, std::size_t max_bytes) {
  auto read_on = [&cast, max_bytes] { return cast.next(max_bytes); };
  boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor);
  for (;;) {
    try {
      auto piece = co_await pool.run_plain(read_on);
      if (!piece) {
        spdlog::warn("admin API: asciicast stream cut: {}", log_value(piece.error().text));
        co_return std::nullopt;
      }
      co_return std::move(*piece);
    } catch (const pool_busy&) {
      // below: wait outside the handler, then try again
    } catch (const std::exception& e) {
      spdlog::error("admin API: asciicast stream failed: {}", log_value(e.what()));
      co_return std::nullopt;
    }
    wait.expires_after(std::chrono::milliseconds(20));
    co_await wait.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
}

// Writes `reply`; false when the connection must close (the client asked, or a write failed). A
// cast goes out chunked, or to an HTTP/1.0 client as a body that ends when the connection does.
template <class Stream>
boost::asio::awaitable<bool> write_reply(Stream& stream, api_reply& reply, bool keep_alive,
                                         bool http10, worker_pool& pool,
                                         const connection_limits& limits) {
  using boost::asio::as_tuple;
  using boost::asio::use_awaitable;
  auto& socket = boost::beast::get_lowest_layer(stream);
  if (!reply.cast) {
    http::response<http::string_body> res{reply.status, http10 ? 10 : 11};
    set_common_headers(res);
    res.set(http::field::content_type, reply.content_type);
    for (const auto& [field, value] : reply.headers) {
      res.set(field, value);
    }
    res.body() = std::move(reply.body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    socket.expires_after(limits.write_timeout);
    const auto [ec, n] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
    co_return !ec && keep_alive;
  }
  http::response<http::empty_body> res{reply.status, http10 ? 10 : 11};
  set_common_headers(res);
  res.set(http::field::content_type, reply.content_type);
  res.chunked(!http10);
  res.keep_alive(keep_alive && !http10);
  http::response_serializer<http::empty_body> head{res};
  socket.expires_after(limits.write_timeout);
  if (const auto [ec, n] = co_await http::async_write_header(stream, head, as_tuple(use_awaitable));
      ec) {
    co_return false;
  }
  for (;;) {
    // Ending without the last chunk (or, for HTTP/1.0, early) tells the client the body is cut.
    const auto piece = co_await next_piece(*reply.cast, pool, limits.stream_piece_bytes);
    if (!piece) {
      co_return false;
    }
    socket.expires_after(limits.write_timeout);
    // Named, not temporaries in the co_await: a chunk's header holds a shared_ptr, which GCC 12
    // would release twice.
    const auto body = boost::asio::buffer(*piece);
    if (http10) {
      if (piece->empty()) {
        co_return false;
      }
      const auto [ec, n] = co_await boost::asio::async_write(stream, body, as_tuple(use_awaitable));
      if (ec) {
        co_return false;
      }
      continue;
    }
    if (piece->empty()) {
      const auto last = http::make_chunk_last();
      const auto [ec, n] = co_await boost::asio::async_write(stream, last, as_tuple(use_awaitable));
      co_return !ec && keep_alive;
    }
    const auto chunk = http::make_chunk(body);
    const auto [ec, n] = co_await boost::asio::async_write(stream, chunk, as_tuple(use_awaitable));
    if (ec) {
      co_return false;
    }
  }
}

// Serves requests on `stream` until the client closes, a limit is hit or a write fails.
template <class Stream>
boost::asio::awaitable<void> serve_requests(Stream& stream, api_router& router, worker_pool& pool,
                                            const std::string& peer,
                                            const connection_limits& limits) {
  using boost::asio::as_tuple;
  using boost::asio::use_awaitable;
  boost::beast::flat_buffer buffer(limits.header_bytes + 1024);
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(limits.header_bytes);
    parser.body_limit(limits.body_bytes);
    boost::beast::get_lowest_layer(stream).expires_after(limits.request_timeout);
    const auto [ec, n] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
    if (ec == http::error::end_of_stream || ec == boost::beast::error::timeout ||
        ec == boost::asio::error::operation_aborted) {
      co_return;
    }
    if (ec) {
      // A broken connection gets nothing; a request that is not valid HTTP, or over a limit,
      // gets its reason.
      if (ec.category() != make_error_code(http::error::bad_target).category()) {
        co_return;
      }
      auto reply = ec == http::error::header_limit
                       ? error_reply(http::status::request_header_fields_too_large,
                                     "the request's headers are over " +
                                         std::to_string(limits.header_bytes / 1024) + " KiB")
                   : ec == http::error::body_limit
                       ? error_reply(http::status::payload_too_large,
                                     "the request's body is over " +
                                         std::to_string(limits.body_bytes / 1024) + " KiB")
                       : error_reply(http::status::bad_request,
                                     "the request is not valid HTTP/1.1 (" + ec.message() + ")");
      router.note_refused(peer, static_cast<unsigned>(reply.status));
      co_await write_reply(stream, reply, false, false, pool, limits);
      co_return;
    }
    const auto req = parser.release();
    auto reply = co_await router.handle(req, peer);
    if (reply.live) {
      co_await serve_live(stream, req, router.recorder(), *reply.live, limits.live_watcher_bytes,
                          limits.write_timeout);
      co_return;
    }
    // HEAD is not served: closing keeps a client that expects no body from misreading the next
    // answer.
    const bool keep = req.keep_alive() && req.method() != http::verb::head;
    if (!co_await write_reply(stream, reply, keep, req.version() == 10, pool, limits)) {
      co_return;
    }
  }
}

}  // namespace bastion::admin
