// The libssh server configuration shared by every client connection: host keys and the
// algorithm lists that pass ssh-audit (no NIST ECDH, only encrypt-then-MAC MACs).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <bastion/common/result.hpp>
#include <bastion/common/ssh.hpp>

namespace bastion::proxy {

// A bind that is never listened on: Asio accepts, and each socket is handed to
// ssh_bind_accept_fd with this bind's keys and options.
result<ssh_bind_ptr> make_server_bind(const std::vector<std::filesystem::path>& host_keys);

enum class key_exchange_progress { done, failed, more, wait };

// One pass of a non-blocking server key exchange (outer or inner session). libssh reads at most
// 4 KiB per call: `more` means bytes still wait on the socket, so call again now, because Asio's
// edge-triggered wait will not wake for them; `wait` means wait for readiness.
key_exchange_progress key_exchange_step(ssh_session session);

// The identification line the client sent ("SSH-2.0-OpenSSH_9.2p1 ..."), escaped: it is the
// client's text, kept in recordings and rows.
std::string client_version(ssh_session session);

}  // namespace bastion::proxy
