// Host key scan over libssh (blocking: bastionctl is a CLI, not an io thread).
#include "scan.hpp"

#include <bastion/common/escape.hpp>
#include <bastion/common/ssh.hpp>

namespace bastion::admin {

result<policy::host_key> scan_host_key(const std::string& host, int port, duration timeout) {
  ssh_session_ptr session(ssh_new());
  if (!session) {
    return make_error("cannot create an SSH session");
  }
  ssh_session s = session.get();
  const long timeout_s = std::max<long>(
      1, static_cast<long>(std::chrono::ceil<std::chrono::seconds>(timeout).count()));
  const int process_config = 0;
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process_config);
  ssh_options_set(s, SSH_OPTIONS_HOST, host.c_str());
  ssh_options_set(s, SSH_OPTIONS_PORT, &port);
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout_s);
  ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
  ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  const std::string where = escape(host, 100) + ":" + std::to_string(port);
  if (ssh_connect(s) != SSH_OK) {
    return make_error(
        "cannot fetch the host key of " + where + ": " + escape(ssh_get_error(s), 200) +
        "; check the host and port, or pass --host-key 'TYPE BASE64' from the target's "
        "/etc/ssh/ssh_host_ed25519_key.pub");
  }
  ssh_key raw = nullptr;
  const int rc = ssh_get_server_publickey(s, &raw);
  const ssh_key_ptr key(raw);
  ssh_disconnect(s);
  if (rc != SSH_OK) {
    return make_error("the server at " + where + " sent no usable host key");
  }
  const std::string line = public_key_line(key.get());
  const auto space = line.find(' ');
  return policy::host_key{line.substr(0, space), line.substr(space + 1),
                          sha256_fingerprint(key.get())};
}

}  // namespace bastion::admin
