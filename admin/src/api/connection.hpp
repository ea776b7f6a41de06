// One admin HTTP connection, plain or TLS: reads requests within bounds (header and body limits,
// a deadline per request), answers each through the router, and streams asciicast bodies chunk by
// chunk, reading the next piece only once the last one was written. Internal to admin/.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

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
};

// Headers on every response: nothing cached, nothing sniffed, nothing framed.
template <class Message>
void set_common_headers(Message& m) {
  m.set(http::field::server, "bastiond");
  m.set(http::field::cache_control, "no-store");
  m.set("X-Content-Type-Options", "nosniff");
  m.set("X-Frame-Options", "DENY");
  m.set("Referrer-Policy", "no-referrer");
}

template <class Stream>
boost::asio::awaitable<bool> write_reply(Stream& stream, api_reply& reply, bool keep_alive,
                                         worker_pool& pool, const connection_limits& limits) {
  using boost::asio::as_tuple;
  using boost::asio::use_awaitable;
  auto& socket = boost::beast::get_lowest_layer(stream);
  if (!reply.cast) {
    http::response<http::string_body> res{reply.status, 11};
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
  http::response<http::empty_body> res{reply.status, 11};
  set_common_headers(res);
  res.set(http::field::content_type, reply.content_type);
  res.chunked(true);
  res.keep_alive(keep_alive);
  http::response_serializer<http::empty_body> head{res};
  socket.expires_after(limits.write_timeout);
  if (const auto [ec, n] = co_await http::async_write_header(stream, head, as_tuple(use_awaitable));
      ec) {
    co_return false;
  }
  auto* cast = reply.cast.get();
  for (;;) {
    auto read_on = [cast, max = limits.stream_piece_bytes] { return cast->next(max); };
    auto piece = co_await pool.run_plain(read_on);
    if (!piece) {
      // The status went out already: ending without the last chunk tells the client the body is
      // incomplete.
      spdlog::warn("admin API: asciicast stream cut: {}", piece.error().text);
      co_return false;
    }
    socket.expires_after(limits.write_timeout);
    if (piece->empty()) {
      const auto [ec, n] = co_await boost::asio::async_write(stream, http::make_chunk_last(),
                                                             as_tuple(use_awaitable));
      co_return !ec && keep_alive;
    }
    const auto [ec, n] = co_await boost::asio::async_write(
        stream, http::make_chunk(boost::asio::buffer(*piece)), as_tuple(use_awaitable));
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
      co_await write_reply(stream, reply, false, pool, limits);
      co_return;
    }
    const auto req = parser.release();
    auto reply = co_await router.handle(req, peer);
    if (!co_await write_reply(stream, reply, req.keep_alive(), pool, limits)) {
      co_return;
    }
  }
}

}  // namespace bastion::admin
