// Server-side libssh configuration, and the non-blocking key exchange of server sessions.
#include <libssh/server.h>
#include <libssh/ssh2.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <bastion/common/escape.hpp>
#include <bastion/proxy/ssh_server.hpp>

#include "crypto_policy.hpp"

namespace bastion::proxy {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out += static_cast<char>((v >> shift) & 0xffU);
  }
}

}  // namespace

result<ssh_bind_ptr> make_server_bind(const std::vector<std::filesystem::path>& host_keys) {
  ssh_bind_ptr bind(ssh_bind_new());
  if (!bind) {
    return make_error("cannot create an SSH server context");
  }
  const bool no = false;
  ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_PROCESS_CONFIG,
                       &no);  // no /etc/libssh surprises
  for (const auto& key : host_keys) {
    if (ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_HOSTKEY, key.c_str()) != SSH_OK) {
      return make_error("cannot load host key " + key.string() + ": " + ssh_get_error(bind.get()));
    }
  }
  if (ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_KEY_EXCHANGE,
                           crypto_policy::key_exchange) != SSH_OK ||
      ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_HMAC_C_S, crypto_policy::macs) != SSH_OK ||
      ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_HMAC_S_C, crypto_policy::macs) != SSH_OK) {
    return make_error(std::string("cannot set the SSH algorithms: ") + ssh_get_error(bind.get()));
  }
  return bind;
}

result<void> accept_fd(ssh_bind bind, ssh_session session, int fd) {
  if (ssh_bind_accept_fd(bind, session, fd) == SSH_OK) {
    // The bind has no compression option: the session takes it, before its key exchange.
    ssh_options_set(session, SSH_OPTIONS_COMPRESSION_C_S, crypto_policy::compression);
    ssh_options_set(session, SSH_OPTIONS_COMPRESSION_S_C, crypto_policy::compression);
    return {};
  }
  if (ssh_get_fd(session) != fd) {
    ::close(fd);
  }
  return make_error(std::string("cannot start an SSH session: ") + ssh_get_error(bind));
}

key_exchange_progress key_exchange_step(ssh_session session) {
  const int rc = ssh_handle_key_exchange(session);
  if (rc == SSH_OK) {
    return key_exchange_progress::done;
  }
  // SSH_AGAIN with the socket gone (libssh closes it on a socket error, and the session's status
  // says closed) would wait for a descriptor that never becomes ready.
  const int fd = ssh_get_fd(session);
  if (rc == SSH_ERROR || fd < 0 || session_closed(session)) {
    return key_exchange_progress::failed;
  }
  int pending = 0;
  return ioctl(fd, FIONREAD, &pending) == 0 && pending > 0 ? key_exchange_progress::more
                                                           : key_exchange_progress::wait;
}

std::string failure_reason(ssh_session session) {
  const char* error = ssh_get_error(session);
  const std::string text = error != nullptr ? error : "";
  // libssh makes socket errors from errno, which can be 0 by then ("Socket error: Success") or
  // be about the descriptor that it closed itself on the first error ("Bad file descriptor"):
  // such a text says only that the connection is gone.
  const bool gone = text == "Socket error: disconnected" || text.ends_with(": Success") ||
                    text.find("Bad file descriptor") != std::string::npos;
  if (ssh_get_clientbanner(session) == nullptr && (text.empty() || gone)) {
    return "the client closed the connection before it sent its SSH version line";
  }
  if (gone) {
    return "the client closed the connection";
  }
  if (text.empty()) {
    return "the client sent a packet that libssh refused without a reason (malformed, such as a "
           "zero length)";
  }
  return escape(text, 200);
}

std::string plaintext_disconnect(std::string_view reason) {
  const std::string text = escape(reason, 200);
  std::string payload;
  payload += static_cast<char>(SSH2_MSG_DISCONNECT);
  put_u32(payload, SSH2_DISCONNECT_BY_APPLICATION);
  put_u32(payload, static_cast<std::uint32_t>(text.size()));
  payload += text;
  put_u32(payload, 0);  // language tag
  // packet_length, padding_length, payload, padding: a multiple of 8, with 4 to 11 padding bytes.
  std::size_t padding = 8 - ((5 + payload.size()) % 8);
  if (padding < 4) {
    padding += 8;
  }
  std::string out = "SSH-2.0-bastion\r\n";
  put_u32(out, static_cast<std::uint32_t>(1 + payload.size() + padding));
  out += static_cast<char>(padding);
  out += payload;
  out.append(padding, '\0');
  return out;
}

std::string client_version(ssh_session session) {
  const char* banner = ssh_get_clientbanner(session);
  return escape(banner != nullptr ? banner : "", 255);
}

}  // namespace bastion::proxy
