// authorized_keys parsing: options, type, blob checks, fingerprint.
#include <cstdint>

#include <bastion/common/base64.hpp>
#include <bastion/common/escape.hpp>
#include <bastion/common/ssh.hpp>
#include <bastion/policy/authorized_key.hpp>
#include <bastion/policy/key_options.hpp>

namespace bastion::policy {
namespace {

struct key_type_info {
  std::string_view name;
  int fixed_bits;  // 0: read from the blob (RSA)
};

constexpr key_type_info supported_types[] = {
    {"ssh-ed25519", 256},
    {"ecdsa-sha2-nistp256", 256},
    {"ecdsa-sha2-nistp384", 384},
    {"ecdsa-sha2-nistp521", 521},
    {"sk-ssh-ed25519@openssh.com", 256},
    {"sk-ecdsa-sha2-nistp256@openssh.com", 256},
    {"ssh-rsa", 0},
};

const key_type_info* find_type(std::string_view name) {
  for (const auto& t : supported_types) {
    if (t.name == name) {
      return &t;
    }
  }
  return nullptr;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// Splits off the first field. Options may hold quoted strings with spaces and \" inside, so the
// field ends at the first blank outside quotes.
std::string_view next_field(std::string_view& s, bool quoted_ok) {
  s = trim(s);
  bool in_quotes = false;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted_ok && c == '\\' && in_quotes && i + 1 < s.size()) {
      ++i;
    } else if (quoted_ok && c == '"') {
      in_quotes = !in_quotes;
    } else if (!in_quotes && is_space(c)) {
      break;
    }
  }
  const std::string_view field = s.substr(0, i);
  s.remove_prefix(i);
  return field;
}

// SSH wire format: uint32 length then bytes.
std::optional<std::string_view> read_string(std::string_view& blob) {
  if (blob.size() < 4) {
    return std::nullopt;
  }
  const auto b = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<std::uint8_t>(blob[i]));
  };
  const std::uint32_t len = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
  if (len > blob.size() - 4) {
    return std::nullopt;
  }
  const std::string_view out = blob.substr(4, len);
  blob.remove_prefix(4 + len);
  return out;
}

// Bits of an RSA modulus: the blob is string "ssh-rsa", mpint e, mpint n.
int rsa_bits(std::string_view blob) {
  read_string(blob);
  if (!read_string(blob)) {
    return 0;
  }
  auto n = read_string(blob);
  if (!n) {
    return 0;
  }
  while (!n->empty() && n->front() == '\0') {
    n->remove_prefix(1);
  }
  if (n->empty()) {
    return 0;
  }
  int bits = static_cast<int>(n->size()) * 8;
  for (auto top = static_cast<std::uint8_t>(n->front()); (top & 0x80) == 0; top <<= 1) {
    --bits;
  }
  return bits;
}

result<void> check_not_a_key_file(std::string_view line) {
  if (line.find("PRIVATE KEY") != std::string_view::npos) {
    return make_error(
        "this is a private key; never share it. Give its public half instead: the .pub file, "
        "or the output of ssh-keygen -y -f KEYFILE");
  }
  if (line.starts_with("---- BEGIN SSH2 PUBLIC KEY")) {
    return make_error(
        "this is an RFC 4716 (SSH2) public key; convert it with ssh-keygen -i -f FILE");
  }
  return {};
}

result<public_key> describe_type(std::string_view type) {
  if (type == "ssh-dss") {
    return make_error(
        "DSA keys are refused (OpenSSH disabled them); use an ed25519 key: ssh-keygen -t ed25519");
  }
  if (type.find("-cert-v01@openssh.com") != std::string_view::npos) {
    return make_error(
        "certificates are not accepted here; add the plain public key the certificate was issued "
        "for");
  }
  return make_error(
      "unknown key type \"" + escape(type, 64) +
      "\"; supported: ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (2048 bits or more), "
      "sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com");
}

}  // namespace

result<public_key> parse_public_key(std::string_view line, bool allow_options) {
  if (line.size() > max_key_line_bytes) {
    return make_error("the key line is " + std::to_string(line.size()) + " bytes; the limit is " +
                      std::to_string(max_key_line_bytes));
  }
  if (auto r = check_not_a_key_file(line); !r) {
    return r.error();
  }
  public_key key;
  std::string_view rest = line;
  std::string_view field = next_field(rest, false);
  // As sshd does: a first field that is not a key type may be options ("no-pty",
  // from="...",command="a b"), if what follows it reads as a key type.
  if (find_type(field) == nullptr && allow_options && !field.empty()) {
    std::string_view after = line;
    const std::string_view options = next_field(after, true);
    std::string_view probe = after;
    const std::string_view type_field = next_field(probe, false);
    if (find_type(type_field) != nullptr || type_field.starts_with("ssh-") ||
        type_field.starts_with("ecdsa-") || type_field.starts_with("sk-")) {
      key.options = options;
      rest = after;
      field = next_field(rest, false);
    }
  }
  const key_type_info* type = find_type(field);
  if (type == nullptr) {
    if (field.empty()) {
      return make_error(
          "no key found; expected \"TYPE BASE64 [comment]\", e.g. the contents of "
          "~/.ssh/id_ed25519.pub");
    }
    return describe_type(field);
  }
  key.type = field;
  key.base64 = next_field(rest, false);
  const auto blob = base64_decode(key.base64);
  if (!blob) {
    return make_error("the key data after \"" + key.type +
                      "\" is not valid base64; copy the whole line from the .pub file");
  }
  std::string_view blob_view = *blob;
  const auto inner_type = read_string(blob_view);
  if (!inner_type || *inner_type != key.type) {
    return make_error("the key data is not a " + key.type + " key (its type field says \"" +
                      escape(inner_type.value_or("?"), 64) +
                      "\"); copy the whole line from the .pub file");
  }
  ssh_key raw = nullptr;
  if (ssh_pki_import_pubkey_base64(key.base64.c_str(), ssh_key_type_from_name(key.type.c_str()),
                                   &raw) != SSH_OK) {
    return make_error("the " + key.type +
                      " key data is malformed; copy the whole line from the .pub file");
  }
  const ssh_key_ptr parsed(raw);
  key.bits = type->fixed_bits != 0 ? type->fixed_bits : rsa_bits(*blob);
  if (key.type == "ssh-rsa" && key.bits < min_rsa_bits) {
    return make_error("this RSA key has " + std::to_string(key.bits) + " bits; at least " +
                      std::to_string(min_rsa_bits) + " are required. Use ssh-keygen -t ed25519");
  }
  key.fingerprint = sha256_fingerprint(parsed.get());
  key.comment = trim(rest);
  if (!is_valid_utf8(key.comment) || key.comment.size() > max_comment_bytes) {
    return make_error("the key comment must be valid UTF-8 of at most " +
                      std::to_string(max_comment_bytes) + " bytes; edit or remove it");
  }
  if (!is_valid_utf8(key.options)) {
    return make_error("the key options are not valid UTF-8; edit or remove them");
  }
  if (auto options = parse_key_options(key.options); !options) {
    return make_error("key options: " + options.error().text);
  }
  return key;
}

result<std::vector<public_key>> parse_authorized_keys(std::string_view text) {
  if (auto r = check_not_a_key_file(text); !r) {
    return r.error();
  }
  std::vector<public_key> keys;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    auto key = parse_public_key(line);
    if (!key) {
      return make_error("line " + std::to_string(line_no) + ": " + key.error().text);
    }
    keys.push_back(std::move(*key));
  }
  if (keys.empty()) {
    return make_error(
        "no key found; expected \"TYPE BASE64 [comment]\", e.g. the contents of "
        "~/.ssh/id_ed25519.pub");
  }
  return keys;
}

}  // namespace bastion::policy
