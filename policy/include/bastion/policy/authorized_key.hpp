// Public keys as admins paste them: authorized_keys lines ("[options] TYPE BASE64 [comment]") and
// host keys ("TYPE BASE64"). Parsing rejects what OpenSSH would refuse or what is plainly a mistake
// (a private key, DSA, short RSA), with a message that names the fix.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <bastion/common/result.hpp>

namespace bastion::policy {

struct public_key {
  std::string options;      // authorized_keys options, verbatim ("" if none)
  std::string type;         // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", ...
  std::string base64;       // the key blob as written
  std::string comment;      // verbatim, valid UTF-8, at most max_comment_bytes
  std::string fingerprint;  // "SHA256:..." as ssh-keygen -lf prints it
  int bits = 0;             // key size as ssh-keygen -lf prints it
};

inline constexpr std::size_t max_comment_bytes = 1024;
inline constexpr std::size_t max_key_line_bytes = 16 * 1024;
inline constexpr int min_rsa_bits = 2048;

// One authorized_keys line. Options are allowed when `allow_options` (user keys), not for host
// keys.
result<public_key> parse_public_key(std::string_view line, bool allow_options = true);

// Every key in an authorized_keys file: blank lines and '#' comments are skipped. The error of the
// first bad line is prefixed with "line N: ". An input with no key at all is an error.
result<std::vector<public_key>> parse_authorized_keys(std::string_view text);

}  // namespace bastion::policy
