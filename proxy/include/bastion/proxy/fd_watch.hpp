// Readiness of a libssh session's socket, on a strand. Asio's waits are edge-triggered, so the
// owner drains libssh until nothing moves and only then arms again; a read wait is always armed,
// a write wait only while libssh holds output (SSH_WRITE_PENDING). libssh owns the fd: it is
// released, never closed, here.
#pragma once

#include <libssh/libssh.h>

#include <boost/asio/posix/stream_descriptor.hpp>
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
  void release() {
    if (fd_.is_open()) {
      boost::system::error_code ignored;
      fd_.cancel(ignored);
      (void)fd_.release();
    }
  }

  // Calls `on_ready()` (on the strand) when `session`'s socket may be read, or written if libssh
  // has output waiting. `keep_alive` is held until then.
  template <class Owner, class Handler>
  void arm(ssh_session session, const std::shared_ptr<Owner>& keep_alive, Handler on_ready) {
    if (!fd_.is_open()) {
      return;
    }
    wait(boost::asio::posix::stream_descriptor::wait_read, reading_, keep_alive, on_ready);
    if ((ssh_get_poll_flags(session) & SSH_WRITE_PENDING) != 0) {
      wait(boost::asio::posix::stream_descriptor::wait_write, writing_, keep_alive, on_ready);
    }
  }

 private:
  // One outstanding wait per direction: `pending` says whether it is armed.
  template <class Owner, class Handler>
  void wait(boost::asio::posix::stream_descriptor::wait_type type, bool& pending,
            const std::shared_ptr<Owner>& keep_alive, Handler on_ready) {
    if (pending) {
      return;
    }
    pending = true;
    fd_.async_wait(type, [&pending, keep_alive, on_ready](const boost::system::error_code& ec) {
      pending = false;
      if (!ec) {
        on_ready();
      }
    });
  }

  boost::asio::posix::stream_descriptor fd_;
  bool reading_ = false;
  bool writing_ = false;
};

}  // namespace bastion::proxy
