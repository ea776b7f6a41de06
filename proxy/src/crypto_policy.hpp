// The algorithms the bastion offers on every leg: as the server of the outer and inner sessions,
// and as the client of the upstream one. One list per kind, so that no leg drifts from the others
// (the upstream leg alone also orders its ciphers, below). Strict
// KEX (Terrapin) is always on in libssh 0.10.6; these lists drop what ssh-audit flags: NIST ECDH,
// MACs that authenticate before encrypting, and compression (zlib is on in libssh by default; a
// server session needs "none" set on the session itself, there is no bind option for it).
// Internal to proxy/.
#pragma once

namespace bastion::proxy::crypto_policy {

inline constexpr const char* key_exchange =
    "curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512";
inline constexpr const char* macs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";
inline constexpr const char* compression = "none";
// The upstream leg's ciphers, where the bastion is the client and so its order decides: AES-GCM
// first. libssh 0.10.6's chacha20-poly1305 makes two passes over each packet (the cipher, then
// poly1305 set up afresh per packet); AES-GCM is one AES-NI pass in libcrypto. A target without
// GCM gets chacha20-poly1305 or CTR, as libssh's own defaults would give it. The client's legs
// keep the client's order: there the client decides, and OpenSSH prefers chacha20-poly1305.
inline constexpr const char* upstream_ciphers =
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"
    "aes256-ctr,aes192-ctr,aes128-ctr";

}  // namespace bastion::proxy::crypto_policy
