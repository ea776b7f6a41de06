// Plain TCP forwards on the outer connection: connecting with Asio (never libssh, whose connect
// would block an io thread), then pumping through a tunnel, counting (or recording) the bytes.
#include "outer_forward.hpp"

#include <boost/asio/connect.hpp>

#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>

namespace bastion::proxy {

namespace asio = boost::asio;

outer_forward::outer_forward(const strand_type& strand, ssh_channel channel, params p,
                             std::shared_ptr<session_tap> tap)
    : strand_(strand),
      pending_(channel),
      p_(std::move(p)),
      tap_(std::move(tap)),
      channel_tap_(tap_ ? channel_tap(tap_, "direct-tcpip") : channel_tap()),
      resolver_(strand),
      socket_(strand),
      deadline_(strand),
      duration_limit_(strand),
      idle_check_(strand),
      watch_(strand) {
  channel_tap_.forward({{"host", p_.where.host},
                        {"port", p_.where.port},
                        {"connect_host", p_.connect_host},
                        {"origin_host", p_.where.origin_host},
                        {"origin_port", p_.where.origin_port},
                        {"data_recorded", p_.record_data}});
}

outer_forward::~outer_forward() {
  close("the bastion ended the forward");
}

void outer_forward::start() {
  deadline_.expires_after(p_.connect_timeout);
  deadline_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (auto self = weak.lock(); self && !ec && !self->tunnel_) {
      self->fail("connecting timed out after " + format_duration(self->p_.connect_timeout));
    }
  });
  resolver_.async_resolve(
      p_.connect_host, std::to_string(p_.where.port),
      [self = shared_from_this()](const boost::system::error_code& ec, const auto& results) {
        if (self->finished_) {
          return;  // closed meanwhile: no connection after a kill or a revocation
        }
        if (ec) {
          return self->fail("cannot resolve " + escape(self->p_.connect_host, 100));
        }
        asio::async_connect(
            self->socket_, results,
            [self](const boost::system::error_code& e, const auto&) { self->on_connected(e); });
      });
}

void outer_forward::on_connected(const boost::system::error_code& ec) {
  if (finished_ || !failure_.empty()) {
    return;
  }
  if (ec) {
    return fail("cannot connect: " + ec.message());
  }
  deadline_.cancel();
  socket_.non_blocking(true);
  const int fd = socket_.release();
  tunnel_ = std::make_unique<tunnel>(pending_.release(), fd);
  tunnel_->observe(
      [this](bool to_socket, const char* data, std::size_t n) { on_bytes(to_socket, data, n); });
  watch_.assign(fd);
  spdlog::info("{} connected", p_.log_prefix);
  arm_limits();
  p_.wake();
}

// What crossed (`to_socket`: from the client). The first bytes each way say whether an SSH
// connection runs inside, which would be a session the bastion neither sees nor records: it is
// reported, and cut unless the grant allows it (its banner and key exchange offer may have
// crossed; no login can).
void outer_forward::on_bytes(bool to_socket, const char* data, std::size_t n) {
  last_activity_ = std::chrono::steady_clock::now();
  bool& first = to_socket ? first_in_ : first_out_;
  if (first) {
    first = false;
    if (const std::string cut = ssh_inside_.first_bytes(data, n, p_.ssh_inside, p_.on_ssh_inside);
        !cut.empty()) {
      fail(cut);
    }
  }
  const auto stream = to_socket ? recorder::stream::input : recorder::stream::output;
  if (p_.record_data) {
    channel_tap_.data(stream, data, n);
  } else {
    channel_tap_.count(stream, n);
  }
}

void outer_forward::arm_limits() {
  last_activity_ = std::chrono::steady_clock::now();
  if (p_.max_duration.count() > 0) {
    duration_limit_.expires_after(p_.max_duration);
    duration_limit_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (auto self = weak.lock(); self && !ec) {
        self->fail("the forward reached its maximum duration " +
                   format_duration(self->p_.max_duration));
      }
    });
  }
  if (p_.idle_limit.count() > 0) {
    arm_idle_check(p_.idle_limit);
  }
}

void outer_forward::arm_idle_check(duration after) {
  idle_check_.expires_after(after);
  idle_check_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec) {
      return;
    }
    const auto quiet = std::chrono::steady_clock::now() - self->last_activity_;
    if (quiet >= self->p_.idle_limit) {
      self->fail("the forward was idle for " + format_duration(self->p_.idle_limit));
    } else {
      self->arm_idle_check(std::chrono::duration_cast<duration>(self->p_.idle_limit - quiet));
    }
  });
}

void outer_forward::fail(const std::string& reason) {
  if (failure_.empty()) {
    failure_ = reason;
    spdlog::info("{} {}", p_.log_prefix, log_value(reason));
  }
  p_.wake();
}

bool outer_forward::pump() {
  if (finished_) {
    return false;
  }
  if (failure_.empty() && tap_ && tap_->failed()) {  // fail_closed: nothing crosses unrecorded
    failure_ = "the recording cannot be persisted";
  }
  if (!failure_.empty()) {
    close(failure_);
    return true;
  }
  if (!tunnel_) {
    // The client's bytes wait in its channel's window until the connection is made.
    if (ssh_channel_is_closed(pending_.get()) != 0) {
      close("the client closed the forward before it connected");
      return true;
    }
    return false;
  }
  const bool progress = tunnel_->pump();
  if (tunnel_->finished()) {  // the client closed the channel (after the socket's EOF, or not)
    close("the forward closed");
    return true;
  }
  return progress;
}

void outer_forward::arm(const std::function<void()>& on_ready) {
  if (tunnel_ && !finished_) {
    watch_.arm(on_ready, tunnel_->wants_read(), tunnel_->wants_write());
  }
}

void outer_forward::close(const std::string& reason) {
  if (finished_) {
    return;
  }
  finished_ = true;
  deadline_.cancel();
  duration_limit_.cancel();
  idle_check_.cancel();
  resolver_.cancel();
  boost::system::error_code ignored;
  socket_.close(ignored);
  watch_.release();
  if (tunnel_) {
    tunnel_->close();  // closes the channel and the socket
  } else if (pending_) {
    // Freed now, while its session surely lives: a handler still pending may hold the last
    // reference until after the client's session was freed.
    if (ssh_channel_is_open(pending_.get()) != 0) {
      ssh_channel_close(pending_.get());
    }
    pending_.reset();
  }
  channel_tap_.close();
  if (tap_) {
    tap_->end(reason);
    tap_.reset();
  }
}

const std::string& outer_forward::session_id() const {
  static const std::string none;
  return tap_ ? tap_->id() : none;
}

}  // namespace bastion::proxy
