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

// ssh_bind_accept_fd, with the descriptor closed exactly once whatever happens. libssh 0.10.6 takes
// `fd` into the session part way through (before it checks the bind's host keys, and before some
// allocations): on a failure before that point the fd is closed here; after it, the session owns
// it and ssh_free closes it. Closing it here as well would close a descriptor that another thread
// may have been given in between. The caller holds the lock that serialises use of the bind.
result<void> accept_fd(ssh_bind bind, ssh_session session, int fd);

enum class key_exchange_progress { done, failed, more, wait };

// One pass of a non-blocking server key exchange (outer or inner session). libssh reads at most
// 4 KiB per call: `more` means bytes still wait on the socket, so call again now, because Asio's
// edge-triggered wait will not wake for them; `wait` means wait for readiness.
key_exchange_progress key_exchange_step(ssh_session session);

// Whether libssh has closed `session` (a server's or the upstream's). A socket error leaves
// ssh_is_connected at 1: the status bits are what tell.
inline bool session_closed(ssh_session session) {
  return (ssh_get_status(session) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0;
}

// Why a server session failed, for logs and the audit trail: libssh's error, escaped and bounded
// (it may quote the client's bytes), or what happened when libssh leaves none or a stale one: a
// client that closed before its version line, or a packet that libssh refused without a word (a
// zero packet length makes it give up on an allocation, with no message).
std::string failure_reason(ssh_session session);

// An SSH identification line and an unencrypted SSH_MSG_DISCONNECT carrying `reason`: what a
// client refused before any key exchange receives, so that it prints the reason (RFC 4253 4.2 and
// 11.1; a disconnect may come before the key exchange).
std::string plaintext_disconnect(std::string_view reason);

// The identification line the client sent ("SSH-2.0-OpenSSH_9.2p1 ..."), escaped: it is the
// client's text, kept in recordings and rows.
std::string client_version(ssh_session session);

}  // namespace bastion::proxy
