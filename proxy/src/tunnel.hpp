// The bytes of one `ssh -J` hop: the client's direct-tcpip channel on the outer session on one
// side, and the bastion's end of a socketpair on the other, whose far end the inner SSH session
// reads and writes. Bounded: at most one read in flight per direction, and nothing is read from a
// side while the other cannot take it. Internal to proxy/.
#pragma once

#include <libssh/callbacks.h>

#include <functional>
#include <string>

#include <bastion/common/ssh.hpp>

namespace bastion::proxy {

class tunnel {
 public:
  // Takes `channel`, the accepted direct-tcpip channel, and `fd`, a non-blocking socket.
  tunnel(ssh_channel channel, int fd);
  // A tunnel that only sends `bytes` to the client, then ends (a refusal).
  tunnel(ssh_channel channel, std::string bytes);
  ~tunnel();
  tunnel(const tunnel&) = delete;
  tunnel& operator=(const tunnel&) = delete;

  // Moves what it can in both directions; true if anything moved.
  bool pump();
  // The socket has bytes waiting to be written to it.
  bool wants_write() const { return !to_socket_.empty(); }
  // pump() would read the socket now: the client's window has room and nothing is carried.
  bool wants_read() const;
  int fd() const { return fd_; }
  // The channel is closed (by the client, or by close()).
  bool finished() const;
  // Everything from the socket reached the client, followed by an EOF.
  bool drained() const { return eof_sent_; }
  // Ends the channel toward the client (EOF, then close) and closes the socket.
  void close();
  // Called with what each direction delivered (`to_socket`: from the channel), as it is taken.
  void observe(std::function<void(bool to_socket, const char* data, std::size_t n)> observer) {
    observer_ = std::move(observer);
  }

 private:
  void install_callbacks();
  bool pump_to_socket();
  bool pump_to_channel();
  bool discard_input();

  static int on_data(ssh_session, ssh_channel, void*, uint32_t, int, void* self);
  static void on_eof(ssh_session, ssh_channel, void* self);
  static void on_close(ssh_session, ssh_channel, void* self);

  ssh_channel_ptr channel_;
  ssh_channel_callbacks_struct callbacks_{};
  std::function<void(bool, const char*, std::size_t)> observer_;
  int fd_ = -1;
  std::string to_socket_;         // read from the channel, not yet taken by the socket
  std::string to_channel_;        // read from the socket, not yet taken by the channel window
  bool channel_waiting_ = false;  // data may wait in libssh's buffer of the channel
  bool channel_eof_ = false;      // the client will send no more
  bool channel_closed_ = false;   // the client closed the channel
  bool socket_eof_ = false;       // the inner session will send no more
  bool socket_shut_ = false;      // we told the inner session that the client sends no more
  bool socket_gone_ = false;      // the inner session closed its end: client bytes are dropped
  bool eof_sent_ = false;         // the client was told that nothing more comes
  bool closed_ = false;
};

}  // namespace bastion::proxy
