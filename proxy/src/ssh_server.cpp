// Server-side libssh configuration, and the non-blocking key exchange of server sessions.
#include <libssh/server.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <bastion/common/escape.hpp>
#include <bastion/proxy/ssh_server.hpp>

namespace bastion::proxy {
namespace {

// Strict KEX (Terrapin) is always on in libssh 0.10.6; these lists drop what ssh-audit flags:
// NIST ECDH, and MACs that authenticate before encrypting.
constexpr const char* key_exchange =
    "curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512";
constexpr const char* macs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";

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
  if (ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_KEY_EXCHANGE, key_exchange) != SSH_OK ||
      ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_HMAC_C_S, macs) != SSH_OK ||
      ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_HMAC_S_C, macs) != SSH_OK) {
    return make_error(std::string("cannot set the SSH algorithms: ") + ssh_get_error(bind.get()));
  }
  return bind;
}

result<void> accept_fd(ssh_bind bind, ssh_session session, int fd) {
  if (ssh_bind_accept_fd(bind, session, fd) == SSH_OK) {
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
  if (rc == SSH_ERROR) {
    return key_exchange_progress::failed;
  }
  int pending = 0;
  return ioctl(ssh_get_fd(session), FIONREAD, &pending) == 0 && pending > 0
             ? key_exchange_progress::more
             : key_exchange_progress::wait;
}

std::string client_version(ssh_session session) {
  const char* banner = ssh_get_clientbanner(session);
  return escape(banner != nullptr ? banner : "", 255);
}

}  // namespace bastion::proxy
