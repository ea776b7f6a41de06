// The one loop that moves bytes between two ends of a relay (channel to channel, channel to
// socket): read only what the destination can take now, and keep the rest of a short write in
// one carry buffer that is written first next time. Memory is bounded by one read per direction.
// Internal to proxy/.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace bastion::proxy {

inline constexpr std::size_t pump_chunk = std::size_t{64} * 1024;

// `room()` says how many bytes the destination takes now; `read(buf, n)` returns the bytes read
// (<= 0: nothing now, or the end); `write(data, n)` returns the bytes taken. True if anything
// moved.
template <class Room, class Read, class Write>
bool pump_bytes(Room room, Read read, Write write, std::string& carry) {
  thread_local std::array<char, pump_chunk> buf;
  bool progress = false;
  for (int round = 0; round < 64; ++round) {
    if (!carry.empty()) {
      const std::size_t n = std::min<std::size_t>(room(), carry.size());
      const std::size_t wr = n > 0 ? write(carry.data(), n) : 0;
      carry.erase(0, wr);
      progress = progress || wr > 0;
      if (!carry.empty()) {
        break;
      }
    }
    const std::size_t space = std::min<std::size_t>(room(), buf.size());
    if (space == 0) {
      break;
    }
    const long r = read(buf.data(), space);
    if (r <= 0) {
      break;
    }
    progress = true;
    const auto got = static_cast<std::size_t>(r);
    const std::size_t n = std::min<std::size_t>(room(), got);
    const std::size_t wr = n > 0 ? write(buf.data(), n) : 0;
    if (wr < got) {
      carry.assign(buf.data() + wr, got - wr);  // bounded by one read
    }
  }
  return progress;
}

}  // namespace bastion::proxy
