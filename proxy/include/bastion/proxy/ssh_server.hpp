// The libssh server configuration shared by every client connection: host keys and the
// algorithm lists that pass ssh-audit (no NIST ECDH, only encrypt-then-MAC MACs).
#pragma once

#include <filesystem>
#include <vector>

#include <bastion/common/result.hpp>
#include <bastion/common/ssh.hpp>

namespace bastion::proxy {

// A bind that is never listened on: Asio accepts, and each socket is handed to
// ssh_bind_accept_fd with this bind's keys and options.
result<ssh_bind_ptr> make_server_bind(const std::vector<std::filesystem::path>& host_keys);

}  // namespace bastion::proxy
