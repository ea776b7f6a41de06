// The one loop that moves bytes between two ends of a relay (channel to channel, channel to
// socket): read only what the destination can take now, and keep the rest of a short write in
// one carry buffer that is written first next time. Memory is bounded by one read per direction.
// Internal to proxy/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bastion::proxy {

inline constexpr std::size_t pump_chunk = std::size_t{64} * 1024;

// One read buffer per thread, shared by every pump. It lives on the heap: a thread_local array
// would be static TLS, which every thread of the process carries inside its stack (one per
// pump_bytes instantiation, 192 KiB in all), and threads created with a small fixed stack, such
// as the metrics exposer's civetweb workers, then fail to start (pthread_create: EINVAL).
inline char* pump_buffer() {
  thread_local std::vector<char> buf(pump_chunk);
  return buf.data();
}

// `room()` says how many bytes the destination takes now; `read(buf, n)` returns the bytes read
// (<= 0: nothing now, or the end); `write(data, n)` returns the bytes taken. True if anything
// moved.
template <class Room, class Read, class Write>
bool pump_bytes(Room room, Read read, Write write, std::string& carry) {
  char* const buf = pump_buffer();
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
    const std::size_t space = std::min<std::size_t>(room(), pump_chunk);
    if (space == 0) {
      break;
    }
    const long r = read(buf, space);
    if (r <= 0) {
      break;
    }
    progress = true;
    const auto got = static_cast<std::size_t>(r);
    const std::size_t n = std::min<std::size_t>(room(), got);
    const std::size_t wr = n > 0 ? write(buf, n) : 0;
    if (wr < got) {
      carry.assign(buf + wr, got - wr);  // bounded by one read
    }
  }
  return progress;
}

}  // namespace bastion::proxy
