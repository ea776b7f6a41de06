// TCP listener with back-off when the process runs out of file descriptors.
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/v6_only.hpp>

#include <bastion/common/log.hpp>
#include <bastion/proxy/listener.hpp>

#include "proxy_metrics.hpp"

namespace bastion::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

bool out_of_resources(const boost::system::error_code& ec) {
  return ec == boost::system::errc::too_many_files_open ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == boost::system::errc::no_buffer_space || ec == boost::system::errc::not_enough_memory;
}

}  // namespace

listener::listener(asio::io_context& io, const endpoint& where, handler on_accept)
    : acceptor_(io), backoff_(io), where_(where), on_accept_(std::move(on_accept)) {
  const tcp::endpoint ep(asio::ip::make_address(where.host), where.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  if (ep.address().is_v6()) {
    acceptor_.set_option(asio::ip::v6_only(true));  // "[::]:2222" and "0.0.0.0:2222" can coexist
  }
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void listener::start() {
  accept_next();
}

void listener::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  backoff_.cancel();
}

void listener::accept_next() {
  acceptor_.async_accept(
      peer_, [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
        self->on_accepted(ec, std::move(socket));
      });
}

void listener::on_accepted(const boost::system::error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) {
    return;  // stopped
  }
  if (ec && !out_of_resources(ec)) {
    // Linux reports some errors of the connection being accepted (ECONNABORTED, ENETUNREACH,
    // EPROTO, ...) through accept(): that connection is gone, the next one is served at once.
    spdlog::debug("accept on {}: {}", where_.to_string(), ec.message());
    accept_next();
    return;
  }
  if (ec) {
    // EMFILE/ENFILE and friends: the pending connection stays in the backlog; retry shortly
    // instead of spinning on an accept that keeps failing (it would fail at once, every time).
    proxy_metrics::get().preauth_accept_failed.Increment();
    const auto now = std::chrono::steady_clock::now();
    if (now - failure_logged_ >= std::chrono::seconds(10)) {
      spdlog::warn(
          "accept failed on {}: {}; retrying every 100ms ({} more failures since the "
          "last line); raise the open-files limit (LimitNOFILE=) or lower "
          "limits.max_startups",
          where_.to_string(), ec.message(), failures_unlogged_);
      failure_logged_ = now;
      failures_unlogged_ = 0;
    } else {
      ++failures_unlogged_;
    }
    backoff_.expires_after(std::chrono::milliseconds(100));
    backoff_.async_wait([self = shared_from_this()](const boost::system::error_code& wait_ec) {
      if (!wait_ec) {
        self->accept_next();
      }
    });
    return;
  }
  on_accept_(std::move(socket), peer_);
  accept_next();
}

}  // namespace bastion::proxy
