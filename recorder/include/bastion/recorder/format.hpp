// The recording file format, version 1 (recorder/FORMAT.md): a fixed header, then hash-chained,
// zstd-compressed chunks of events.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <bastion/common/result.hpp>

namespace bastion::recorder {

using sha256 = std::array<std::uint8_t, 32>;
using session_id = std::array<std::uint8_t, 16>;

inline constexpr std::uint16_t format_version = 1;
inline constexpr std::size_t file_header_size = 40;
inline constexpr std::size_t chunk_header_size = 100;
// Bounds checked before anything is allocated while reading.
inline constexpr std::uint32_t max_chunk_raw = 4 * 1024 * 1024;
inline constexpr std::uint32_t max_chunk_stored = max_chunk_raw + max_chunk_raw / 128 + 1024;

struct file_header {
  session_id id{};
  std::int64_t started_unix_us = 0;  // wall clock at the session start
  std::uint16_t version = format_version;
};

struct chunk_header {
  std::uint32_t seq = 0;
  std::chrono::microseconds first_offset{0};
  std::chrono::microseconds last_offset{0};
  std::uint32_t event_count = 0;
  std::uint32_t raw_len = 0;
  std::uint32_t stored_len = 0;
  sha256 prev{};  // hash of the previous chunk, or of the file header for chunk 0
  sha256 hash{};  // SHA-256 of this header's bytes before `hash`, then the stored body
};

std::string encode_file_header(const file_header& h);
result<file_header> decode_file_header(std::string_view bytes);
sha256 hash_of(std::string_view bytes);

std::string encode_chunk_header(const chunk_header& h);
result<chunk_header> decode_chunk_header(std::string_view bytes);
// The hash a chunk must carry: over its header (without the hash field) and its stored body.
sha256 chunk_hash(const chunk_header& h, std::string_view stored_body);

std::string to_hex(const sha256& h);
std::string to_string(const session_id& id);  // 8-4-4-4-12 lowercase hex
result<session_id> parse_session_id(std::string_view text);
session_id random_session_id();

// The file name of a session's recording: built only from the server-generated id.
std::string recording_file_name(const session_id& id);

}  // namespace bastion::recorder
