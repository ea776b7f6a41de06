// TCP listener with back-off when the process runs out of file descriptors.
#include <sys/resource.h>

#include <algorithm>
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
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    const auto limit = static_cast<int>(std::min<rlim_t>(files.rlim_cur, 1 << 30));
    descriptor_ceiling_ = limit - std::min(64, limit / 4);
  }
}

void listener::report_shortage(const std::string& what) {
  const auto now = std::chrono::steady_clock::now();
  if (now - failure_logged_ < std::chrono::seconds(10)) {
    ++failures_unlogged_;
    return;
  }
  spdlog::warn(
      "accept on {}: {} ({} more since the last line); raise the open-files limit "
      "(LimitNOFILE=) or lower limits.max_startups",
      where_.to_string(), what, failures_unlogged_);
  failure_logged_ = now;
  failures_unlogged_ = 0;
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
    report_shortage(ec.message() + "; retrying every 100ms");
    backoff_.expires_after(std::chrono::milliseconds(100));
    backoff_.async_wait([self = shared_from_this()](const boost::system::error_code& wait_ec) {
      if (!wait_ec) {
        self->accept_next();
      }
    });
    return;
  }
  // Descriptors are numbered lowest free first: one this high means nearly all below it are in
  // use. The last ones are kept for the sessions already in (their -J socketpairs, upstream
  // sockets, recording files, the database), and for the sanitizers of a test build, which need
  // a pipe for some checks. The client is closed at once.
  if (socket.native_handle() >= descriptor_ceiling_) {
    proxy_metrics::get().preauth_out_of_descriptors.Increment();
    boost::system::error_code ignored;
    socket.close(ignored);
    report_shortage("the open-files limit is almost reached; connection closed");
    accept_next();
    return;
  }
  // Keystrokes and their echoes are single small packets: each goes out at once rather than
  // waiting for the previous one's ACK (Nagle), as OpenSSH does for interactive sessions. Bulk
  // transfers write whole packets and lose nothing by it.
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  on_accept_(std::move(socket), peer_);
  accept_next();
}

}  // namespace bastion::proxy
