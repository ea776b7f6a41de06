// Readiness of a libssh session's socket, on a strand. Asio's waits are edge-triggered, so the
// owner drains libssh until nothing moves and only then arms again; a read wait is always armed,
// a write wait only while libssh holds output (SSH_WRITE_PENDING). libssh owns the fd: it is
// released, never closed, here.
#pragma once

#include <libssh/libssh.h>
#include <poll.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <memory>

namespace bastion::proxy {

class fd_watch {
 public:
  template <class Executor>
  explicit fd_watch(const Executor& ex) : fd_(ex) {}
  ~fd_watch() { release(); }
  fd_watch(const fd_watch&) = delete;
  fd_watch& operator=(const fd_watch&) = delete;

  void assign(int fd) { fd_.assign(fd); }
  bool is_open() const { return fd_.is_open(); }
  // Stops watching. Waits already armed complete as cancelled, and may do so after this object
  // is gone: they only touch the shared `armed` flags, which a release replaces.
  void release() {
    if (fd_.is_open()) {
      boost::system::error_code ignored;
      fd_.cancel(ignored);
      (void)fd_.release();
      armed_ = std::make_shared<armed>();
    }
  }

  // Calls `on_ready()` (on the strand) when `session`'s socket may be read, or written if libssh
  // has output waiting. `on_ready` must keep alive what it uses.
  template <class Handler>
  void arm(ssh_session session, Handler on_ready) {
    arm(on_ready, true, (ssh_get_poll_flags(session) & SSH_WRITE_PENDING) != 0);
  }
  // The same for a plain socket, for the directions asked for.
  //
  // Asio's epoll waits are edge-triggered, and an edge that comes while no wait is queued is
  // lost: bytes that arrive between the owner's last read and this call would never wake it. So
  // once the waits are queued, a zero-timeout poll looks again and runs `on_ready` if the socket
  // is already ready. Only ask for reads that the owner will make (never on a session that is
  // known closed: EOF stays readable), or this wakes it in a loop.
  template <class Handler>
  void arm(Handler on_ready, bool want_read, bool want_write) {
    if (!fd_.is_open()) {
      return;
    }
    short events = 0;
    if (want_read) {
      wait(boost::asio::posix::stream_descriptor::wait_read, &armed::reading, on_ready);
      events |= POLLIN;
    }
    if (want_write) {
      wait(boost::asio::posix::stream_descriptor::wait_write, &armed::writing, on_ready);
      events |= POLLOUT;
    }
    pollfd p{fd_.native_handle(), events, 0};
    if (events != 0 && ::poll(&p, 1, 0) > 0 && (p.revents & events) != 0) {
      boost::asio::post(fd_.get_executor(), on_ready);
    }
  }

 private:
  struct armed {
    bool reading = false;
    bool writing = false;
  };

  // One outstanding wait per direction.
  template <class Handler>
  void wait(boost::asio::posix::stream_descriptor::wait_type type, bool armed::*which,
            Handler on_ready) {
    if ((*armed_).*which) {
      return;
    }
    (*armed_).*which = true;
    fd_.async_wait(type, [flags = armed_, which, on_ready](const boost::system::error_code& ec) {
      (*flags).*which = false;
      if (!ec) {
        on_ready();
      }
    });
  }

  boost::asio::posix::stream_descriptor fd_;
  std::shared_ptr<armed> armed_ = std::make_shared<armed>();
};

}  // namespace bastion::proxy
