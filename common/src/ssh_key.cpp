// Key helpers over libssh: fingerprints, public lines, loading and generating private keys.
#include <openssl/sha.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include <bastion/common/ssh.hpp>

namespace bastion {

std::string sha256_fingerprint(ssh_key key) {
  unsigned char* hash = nullptr;
  size_t len = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) != SSH_OK) {
    return {};
  }
  char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
  ssh_clean_pubkey_hash(&hash);
  if (text == nullptr) {
    return {};
  }
  std::string out(text);
  ssh_string_free_char(text);
  return out;
}

std::string sha256_fingerprint_of_blob(std::string_view blob) {
  unsigned char hash[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(blob.data()), blob.size(), hash);
  char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, sizeof hash);
  if (text == nullptr) {
    return {};
  }
  std::string out(text);
  ssh_string_free_char(text);
  return out;
}

std::string public_key_line(ssh_key key) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
    return {};
  }
  std::string out = std::string(ssh_key_type_to_char(ssh_key_type(key))) + " " + b64;
  ssh_string_free_char(b64);
  return out;
}

result<ssh_key_ptr> load_private_key(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return make_error(path.string() + " does not exist or is not a file");
  }
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
    return make_error(path.string() +
                      " is not a readable unencrypted private key (check its owner, mode 0600, "
                      "and that it has no passphrase)");
  }
  return ssh_key_ptr(key);
}

result<ssh_key_ptr> generate_ed25519_key(const std::filesystem::path& path) {
  ssh_key key = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) {
    return make_error("cannot generate an ed25519 key");
  }
  ssh_key_ptr owned(key);
  const mode_t old = ::umask(077);
  const int rc = ssh_pki_export_privkey_file(key, nullptr, nullptr, nullptr, path.c_str());
  ::umask(old);
  if (rc != SSH_OK) {
    return make_error("cannot write " + path.string() + ": " +
                      std::error_code(errno, std::system_category()).message());
  }
  std::ofstream pub(path.string() + ".pub");
  pub << public_key_line(key) << "\n";
  if (!pub) {
    return make_error("cannot write " + path.string() + ".pub");
  }
  return owned;
}

}  // namespace bastion
