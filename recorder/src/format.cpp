// Fixed-size headers of the recording format, little-endian.
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include <bastion/common/hex.hpp>
#include <bastion/recorder/format.hpp>

namespace bastion::recorder {
namespace {

constexpr std::string_view file_magic{"BSTNREC\0", 8};
constexpr std::string_view chunk_magic{"CHNK", 4};

template <class T>
void put(std::string& out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out += static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xFF);
  }
}

template <class T>
T get(std::string_view in, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in[at + i])) << (8 * i);
  }
  return static_cast<T>(v);
}

template <std::size_t N>
void put_bytes(std::string& out, const std::array<std::uint8_t, N>& a) {
  out.append(reinterpret_cast<const char*>(a.data()), N);
}

template <std::size_t N>
std::array<std::uint8_t, N> get_bytes(std::string_view in, std::size_t at) {
  std::array<std::uint8_t, N> a{};
  std::memcpy(a.data(), in.data() + at, N);
  return a;
}

}  // namespace

sha256 hash_of(std::string_view bytes) {
  sha256 out{};
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out.data());
  return out;
}

std::string encode_file_header(const file_header& h) {
  std::string out(file_magic);
  put<std::uint16_t>(out, h.version);
  put<std::uint16_t>(out, 0);  // flags
  put<std::uint32_t>(out, 0);  // reserved
  put_bytes(out, h.id);
  put<std::int64_t>(out, h.started_unix_us);
  return out;
}

result<file_header> decode_file_header(std::string_view bytes) {
  if (bytes.size() < file_header_size || bytes.substr(0, 8) != file_magic) {
    return make_error("not a bastion recording (bad magic)");
  }
  file_header h;
  h.version = get<std::uint16_t>(bytes, 8);
  if (h.version != format_version) {
    return make_error("recording format version " + std::to_string(h.version) +
                      " is not supported (this build reads " + std::to_string(format_version) +
                      ")");
  }
  h.id = get_bytes<16>(bytes, 16);
  h.started_unix_us = get<std::int64_t>(bytes, 32);
  return h;
}

std::string encode_chunk_header(const chunk_header& h) {
  std::string out(chunk_magic);
  put<std::uint32_t>(out, h.seq);
  put<std::int64_t>(out, h.first_offset.count());
  put<std::int64_t>(out, h.last_offset.count());
  put<std::uint32_t>(out, h.event_count);
  put<std::uint32_t>(out, h.raw_len);
  put<std::uint32_t>(out, h.stored_len);
  put_bytes(out, h.prev);
  put_bytes(out, h.hash);
  return out;
}

result<chunk_header> decode_chunk_header(std::string_view bytes) {
  if (bytes.size() < chunk_header_size || bytes.substr(0, 4) != chunk_magic) {
    return make_error("bad chunk magic");
  }
  chunk_header h;
  h.seq = get<std::uint32_t>(bytes, 4);
  h.first_offset = std::chrono::microseconds(get<std::int64_t>(bytes, 8));
  h.last_offset = std::chrono::microseconds(get<std::int64_t>(bytes, 16));
  h.event_count = get<std::uint32_t>(bytes, 24);
  h.raw_len = get<std::uint32_t>(bytes, 28);
  h.stored_len = get<std::uint32_t>(bytes, 32);
  h.prev = get_bytes<32>(bytes, 36);
  h.hash = get_bytes<32>(bytes, 68);
  if (h.raw_len > max_chunk_raw || h.stored_len > max_chunk_stored ||
      h.first_offset > h.last_offset || h.first_offset.count() < 0) {
    return make_error("chunk header fields out of bounds");
  }
  return h;
}

sha256 chunk_hash(const chunk_header& h, std::string_view stored_body) {
  const std::string head = encode_chunk_header(h);
  // Incremental, so the body is hashed where it lies instead of being copied after the header.
  const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  sha256 out{};
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), head.data(), chunk_header_size - 32) != 1 ||  // all before `hash`
      EVP_DigestUpdate(ctx.get(), stored_body.data(), stored_body.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), nullptr) != 1) {
    std::abort();  // OpenSSL cannot hash: nothing safe to do
  }
  return out;
}

std::string to_hex(const sha256& h) {
  return bastion::to_hex({reinterpret_cast<const char*>(h.data()), h.size()});
}

std::string to_string(const session_id& id) {
  std::string out = bastion::to_hex({reinterpret_cast<const char*>(id.data()), id.size()});
  for (const std::size_t dash : {8, 13, 18, 23}) {
    out.insert(dash, 1, '-');
  }
  return out;
}

result<session_id> parse_session_id(std::string_view text) {
  session_id id{};
  std::size_t n = 0;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_here != (text[i] == '-')) {
      return make_error("not a session id (expected 8-4-4-4-12 lowercase hex)");
    }
    if (dash_here) {
      continue;
    }
    const int v = nibble(text[i]);
    if (v < 0 || n >= 32) {
      return make_error("not a session id (expected 8-4-4-4-12 lowercase hex)");
    }
    id[n / 2] = static_cast<std::uint8_t>(id[n / 2] | (n % 2 == 0 ? v << 4 : v));
    ++n;
  }
  if (n != 32 || text.size() != 36) {
    return make_error("not a session id (expected 8-4-4-4-12 lowercase hex)");
  }
  return id;
}

session_id random_session_id() {
  session_id id{};
  if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) {
    std::abort();  // no entropy: nothing safe to do
  }
  id[6] = static_cast<std::uint8_t>((id[6] & 0x0F) | 0x40);  // UUID version 4
  id[8] = static_cast<std::uint8_t>((id[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return id;
}

std::string recording_file_name(const session_id& id) {
  return to_string(id) + ".brec";
}

}  // namespace bastion::recorder
