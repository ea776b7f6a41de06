// The live watch of a session over a WebSocket: the events its recording receives, as asciicast v2
// (the "v2.asciicast" subprotocol that asciinema-player's websocket driver speaks: the header as
// the first message, then one event per message). The watcher's queue is bounded; one that falls
// behind is closed (1008, "too slow"), and the watched session never waits for it. Nothing the
// watcher sends reaches the session. Internal to admin/.
#pragma once

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <memory>

#include <bastion/common/log.hpp>
#include <bastion/recorder/asciicast.hpp>
#include <bastion/recorder/service.hpp>

namespace bastion::admin {

namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

// What a watcher's wake-ups reach: owned by the watching coroutine, referenced weakly by the wake
// callback, which the session's thread may still run after the watch ended.
struct live_signal {
  explicit live_signal(const boost::asio::any_io_executor& ex)
      : timer(ex, boost::asio::steady_timer::time_point::max()) {}
  boost::asio::steady_timer timer;
  bool woken = false;
};

// The watcher's messages are read and dropped (a watch has no input), so that pings and the close
// handshake are answered.
template <class Socket>
boost::asio::awaitable<void> drain_messages(Socket& ws) {
  boost::beast::flat_buffer buffer;
  for (;;) {
    auto [ec, n] =
        co_await ws.async_read(buffer, boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) {
      co_return;
    }
    buffer.consume(n);
  }
}

// Sends each batch of events as asciicast lines, one message each, until the session ends or the
// watcher falls behind.
// A watcher that stops reading (while it still answers pings, which keeps the WebSocket's idle
// timeout away) would park a write forever: each write has `write_timeout`, after which the
// connection is closed under it.
template <class Socket>
boost::asio::awaitable<boost::system::error_code> write_within(Socket& ws, std::string_view text,
                                                               boost::asio::steady_timer& deadline,
                                                               std::chrono::seconds write_timeout) {
  deadline.expires_after(write_timeout);
  deadline.async_wait(
      [&socket = boost::beast::get_lowest_layer(ws)](const boost::system::error_code& ec) {
        if (!ec) {  // on cancel the socket may be gone: touch it only when the deadline passed
          socket.close();
        }
      });
  auto [ec, n] = co_await ws.async_write(boost::asio::buffer(text.data(), text.size()),
                                         boost::asio::as_tuple(boost::asio::use_awaitable));
  deadline.cancel();
  co_return ec;
}

template <class Socket>
boost::asio::awaitable<void> send_events(Socket& ws, recorder::live_watcher& watcher,
                                         live_signal& signal, recorder::asciicast_encoder& cast,
                                         std::chrono::seconds write_timeout) {
  using boost::asio::as_tuple;
  using boost::asio::use_awaitable;
  boost::asio::steady_timer deadline(co_await boost::asio::this_coro::executor);
  std::string lines;
  std::optional<std::chrono::microseconds> zero;
  for (;;) {
    auto batch = watcher.take();
    for (auto& ev : batch.events) {
      if (!zero) {
        // Times count from the first event the watcher sees: a player waits for times ahead of it.
        zero = ev.offset;
      }
      ev.offset -= *zero;
      lines.clear();
      cast.encode(ev, lines);
      for (std::size_t at = 0; at < lines.size();) {
        const auto end = lines.find('\n', at);
        const auto ec = co_await write_within(ws, std::string_view(lines).substr(at, end - at),
                                              deadline, write_timeout);
        if (ec) {
          co_return;
        }
        at = end + 1;
      }
    }
    if (batch.overflowed || batch.ended) {
      const websocket::close_reason why =
          batch.overflowed
              ? websocket::close_reason(websocket::close_code::policy_error,
                                        "too slow: the watch fell behind the session")
              : websocket::close_reason(websocket::close_code::normal, "the session ended");
      co_await ws.async_close(why, as_tuple(use_awaitable));
      co_return;
    }
    if (!signal.woken) {
      signal.timer.expires_at(boost::asio::steady_timer::time_point::max());
      co_await signal.timer.async_wait(as_tuple(use_awaitable));
    }
    signal.woken = false;
  }
}

// Accepts the upgrade (the request was authorised) and watches session `id` until it ends, the
// watcher leaves or falls `max_bytes` behind.
template <class Stream>
boost::asio::awaitable<void> serve_live(Stream& stream, const http::request<http::string_body>& req,
                                        recorder::recording_service& recorder,
                                        const recorder::session_id& id, std::size_t max_bytes,
                                        std::chrono::seconds write_timeout) {
  using namespace boost::asio::experimental::awaitable_operators;
  using boost::asio::as_tuple;
  using boost::asio::use_awaitable;
  boost::beast::get_lowest_layer(stream).expires_never();
  websocket::stream<Stream&> ws(stream);
  ws.set_option(websocket::stream_base::timeout::suggested(boost::beast::role_type::server));
  // The subprotocol is named only when the client offered it (a browser fails the connection
  // on one it did not); the messages are v2.asciicast either way.
  const std::string_view offered = req[http::field::sec_websocket_protocol];
  const bool named = offered.find("v2.asciicast") != std::string_view::npos;
  ws.set_option(websocket::stream_base::decorator([named](websocket::response_type& res) {
    res.set(http::field::server, "bastiond");
    if (named) {
      res.set(http::field::sec_websocket_protocol, "v2.asciicast");
    }
  }));
  ws.read_message_max(4096);
  if (auto [ec] = co_await ws.async_accept(req, as_tuple(use_awaitable)); ec) {
    co_return;
  }
  const auto ex = co_await boost::asio::this_coro::executor;
  const auto signal = std::make_shared<live_signal>(ex);
  auto watcher = std::make_shared<recorder::live_watcher>(
      max_bytes, [ex, weak = std::weak_ptr<live_signal>(signal)] {
        boost::asio::post(ex, [weak] {
          if (const auto s = weak.lock()) {
            s->woken = true;
            s->timer.cancel();
          }
        });
      });
  const auto state = recorder.watch(id, watcher);
  if (!state) {
    co_await ws.async_close({websocket::close_code::normal, "the session ended"},
                            as_tuple(use_awaitable));
    co_return;
  }
  // However the watch ends (an error, or its frame destroyed at shutdown without resuming), the
  // session stops feeding it.
  struct registration {
    recorder::recording_service& recorder;
    const recorder::session_id& id;
    const recorder::live_watcher* watcher;
    ~registration() { recorder.unwatch(id, watcher); }
  } const registered{recorder, id, watcher.get()};
  recorder::asciicast_encoder cast(
      {.terminals = state->terminals, .with_input = false, .adopt_ptys = true});
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const std::string header =
      recorder::asciicast_header(state->cols, state->rows, state->term,
                                 std::chrono::duration_cast<std::chrono::seconds>(now).count());
  if (auto [ec, n] = co_await ws.async_write(boost::asio::buffer(header.data(), header.size() - 1),
                                             as_tuple(use_awaitable));
      ec) {
    co_return;
  }
  // The awaitables move into the operator; a moved-from awaitable holds no frame, so the
  // temporaries left here have nothing to destroy twice.
  co_await (drain_messages(ws) || send_events(ws, *watcher, *signal, cast, write_timeout));
}

}  // namespace bastion::admin
