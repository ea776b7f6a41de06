// Pumping a -J hop between its channel and its socket.
#include "tunnel.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "byte_pump.hpp"

namespace bastion::proxy {

namespace {

tunnel* self_of(void* p) {
  return static_cast<tunnel*>(p);
}

}  // namespace

// The channel may have been accepted a while before (a plain forward waits for its connection):
// what came meanwhile is in libssh's buffer and state, and no callback will tell of it again.
tunnel::tunnel(ssh_channel channel, int fd)
    : channel_(channel),
      fd_(fd),
      channel_waiting_(true),
      channel_eof_(ssh_channel_is_eof(channel) != 0) {
  install_callbacks();
}

tunnel::tunnel(ssh_channel channel, std::string bytes)
    : channel_(channel), to_channel_(std::move(bytes)), socket_eof_(true) {
  install_callbacks();
}

tunnel::~tunnel() {
  close();
}

void tunnel::install_callbacks() {
  callbacks_.userdata = this;
  callbacks_.channel_data_function = on_data;  // data stays in libssh until pump() takes it
  callbacks_.channel_eof_function = on_eof;
  callbacks_.channel_close_function = on_close;
  ssh_callbacks_init(&callbacks_);
  ssh_set_channel_callbacks(channel_.get(), &callbacks_);
}

// Data stays in libssh until pump() takes it; the flag spares pump() a read of an empty channel,
// which would poll every socket of the connection. These callbacks only set flags: nothing in
// them can throw through libssh.
int tunnel::on_data(ssh_session, ssh_channel, void*, uint32_t, int, void* self) {
  self_of(self)->channel_waiting_ = true;
  return 0;
}

void tunnel::on_eof(ssh_session, ssh_channel, void* self) {
  self_of(self)->channel_eof_ = true;
}

void tunnel::on_close(ssh_session, ssh_channel, void* self) {
  self_of(self)->channel_closed_ = true;
}

bool tunnel::pump() {
  if (closed_) {
    return false;
  }
  const bool moved = pump_to_socket();
  return pump_to_channel() || moved;
}

bool tunnel::pump_to_socket() {
  ssh_channel ch = channel_.get();
  if (fd_ < 0 || socket_gone_) {
    return discard_input();
  }
  if (socket_shut_) {
    return false;
  }
  // The flag before the buffer: a poll may read data that arrived with the EOF. An EOF that came
  // before the callbacks were set is only in the channel's state.
  const bool eof = channel_eof_ || ssh_channel_is_eof(ch) != 0;
  bool progress = false;
  if (channel_waiting_ || !to_socket_.empty()) {
    progress = pump_bytes([] { return pump_chunk; },
                          [this, ch](char* buf, std::size_t n) -> long {
                            const int r =
                                ssh_channel_read_nonblocking(ch, buf, static_cast<uint32_t>(n), 0);
                            if (r <= 0) {
                              channel_waiting_ = false;  // drained; the next packet sets it again
                            }
                            return r;
                          },
                          [this](const char* data, std::size_t n) -> std::size_t {
                            const ssize_t wr = ::send(fd_, data, n, MSG_NOSIGNAL);
                            if (wr < 0 && errno != EAGAIN && errno != EINTR) {
                              socket_gone_ = true;  // the inner session closed its end
                            }
                            if (wr > 0 && observer_) {
                              observer_(true, data, static_cast<std::size_t>(wr));
                            }
                            return wr < 0 ? 0 : static_cast<std::size_t>(wr);
                          },
                          to_socket_);
  }
  if (eof && to_socket_.empty() && ssh_channel_poll(ch, 0) <= 0) {
    ::shutdown(fd_, SHUT_WR);  // the inner session reads its end of input
    socket_shut_ = true;
    progress = true;
  }
  return progress;
}

// Once nothing reads the socket, what the client still sends is dropped, so that its window
// stays open and it can read the last bytes (a disconnect) and leave on its own.
bool tunnel::discard_input() {
  to_socket_.clear();
  std::array<char, 4096> scratch;
  bool progress = false;
  for (int round = 0; round < 64; ++round) {
    const int r = ssh_channel_read_nonblocking(channel_.get(), scratch.data(), scratch.size(), 0);
    if (r <= 0) {
      break;
    }
    progress = true;
  }
  return progress;
}

bool tunnel::pump_to_channel() {
  ssh_channel ch = channel_.get();
  if (channel_closed_ || eof_sent_ || ssh_channel_is_open(ch) == 0) {
    return false;
  }
  bool progress = pump_bytes([ch] { return ssh_channel_window_size(ch); },
                             [this](char* buf, std::size_t n) -> long {
                               if (fd_ < 0 || socket_eof_) {
                                 return 0;
                               }
                               const ssize_t r = ::read(fd_, buf, n);
                               if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                                 socket_eof_ = true;
                               }
                               return r;
                             },
                             [this, ch](const char* data, std::size_t n) -> std::size_t {
                               const int wr = ssh_channel_write(ch, data, static_cast<uint32_t>(n));
                               if (wr > 0 && observer_) {
                                 observer_(false, data, static_cast<std::size_t>(wr));
                               }
                               return wr < 0 ? 0 : static_cast<std::size_t>(wr);
                             },
                             to_channel_);
  if (socket_eof_ && to_channel_.empty()) {
    // Half-close: the client reads everything, then closes the channel itself.
    ssh_channel_send_eof(ch);
    eof_sent_ = true;
    progress = true;
  }
  return progress;
}

bool tunnel::wants_read() const {
  return fd_ >= 0 && !socket_eof_ && !eof_sent_ && !channel_closed_ && to_channel_.empty() &&
         ssh_channel_window_size(channel_.get()) > 0;
}

// A close that came before the callbacks were set (delayed until the buffer was read) is only in
// the channel's state.
bool tunnel::finished() const {
  return closed_ || channel_closed_ || (channel_ && ssh_channel_is_closed(channel_.get()) != 0);
}

void tunnel::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  ssh_channel ch = channel_.get();
  if (ssh_channel_is_open(ch) != 0) {
    if (!eof_sent_) {
      ssh_channel_send_eof(ch);
    }
    ssh_channel_close(ch);
  }
  // The channel goes now, while its session surely lives: a tunnel may be destroyed later, from a
  // timer handler that held the last reference after the client's session was freed.
  ssh_remove_channel_callbacks(ch, &callbacks_);
  channel_.reset();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

}  // namespace bastion::proxy
