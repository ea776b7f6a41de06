// Move-only owners of libssh objects, and the key operations every component shares. A raw
// libssh handle never outlives its owner; declare a session before its channels so they die first.
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <bastion/common/result.hpp>

namespace bastion {

namespace detail {
struct ssh_deleter {
  void operator()(ssh_key k) const noexcept { ssh_key_free(k); }
  void operator()(ssh_session s) const noexcept { ssh_free(s); }
  void operator()(ssh_channel c) const noexcept { ssh_channel_free(c); }
  void operator()(ssh_event e) const noexcept { ssh_event_free(e); }
  void operator()(ssh_bind b) const noexcept { ssh_bind_free(b); }
  void operator()(ssh_string s) const noexcept { ssh_string_free(s); }
};
}  // namespace detail

using ssh_key_ptr = std::unique_ptr<ssh_key_struct, detail::ssh_deleter>;
using ssh_session_ptr = std::unique_ptr<ssh_session_struct, detail::ssh_deleter>;
using ssh_channel_ptr = std::unique_ptr<ssh_channel_struct, detail::ssh_deleter>;
using ssh_event_ptr = std::unique_ptr<ssh_event_struct, detail::ssh_deleter>;
using ssh_bind_ptr = std::unique_ptr<ssh_bind_struct, detail::ssh_deleter>;
using ssh_string_ptr = std::unique_ptr<ssh_string_struct, detail::ssh_deleter>;

// "SHA256:..." exactly as `ssh-keygen -lf` prints it.
std::string sha256_fingerprint(ssh_key key);
// The same for a public key in its wire form (the SHA-256 of the blob, as OpenSSH defines it).
std::string sha256_fingerprint_of_blob(std::string_view blob);

// "TYPE BASE64" (no comment): the public half of `key` in authorized_keys form.
std::string public_key_line(ssh_key key);

// Reads an unencrypted private key file (OpenSSH or PEM). The error names the problem, never the
// key material.
result<ssh_key_ptr> load_private_key(const std::filesystem::path& path);

// Writes a new ed25519 private key to `path` (mode 0600) and its public line to `path`.pub.
result<ssh_key_ptr> generate_ed25519_key(const std::filesystem::path& path);

}  // namespace bastion
