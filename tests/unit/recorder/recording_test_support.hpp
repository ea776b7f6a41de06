// Helpers for recorder tests: random event sequences and writing them to a real file.
#pragma once

#include <ostream>
#include <random>
#include <vector>

#include <bastion/recorder/chunk_writer.hpp>

#include "temp_dir.hpp"

namespace bastion::recorder {

// Readable failures: gtest would otherwise dump the struct's bytes.
inline void PrintTo(const event& ev, std::ostream* os) {
  *os << "{type " << static_cast<int>(ev.type) << " ch " << ev.channel << " t " << ev.offset.count()
      << "us stream " << static_cast<int>(ev.stream) << " " << ev.cols << "x" << ev.rows << " code "
      << ev.code << " " << ev.data.size() << " bytes}";
}

}  // namespace bastion::recorder

namespace bastion::recorder::test {

// A random but valid session: offsets never go backwards, all event types appear.
inline std::vector<event> random_events(std::mt19937_64& rng, std::size_t count) {
  std::vector<event> events;
  std::chrono::microseconds now{0};
  std::uniform_int_distribution<int> type_dist(1, static_cast<int>(event_type::session_end));
  std::uniform_int_distribution<int> len_dist(0, 3000);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  for (std::size_t i = 0; i < count; ++i) {
    event ev;
    ev.type = static_cast<event_type>(type_dist(rng));
    ev.channel = static_cast<std::uint32_t>(rng() % 12);
    now += std::chrono::microseconds(static_cast<std::int64_t>(rng() % 2'000'000));
    ev.offset = now;
    switch (ev.type) {
      case event_type::data:
      case event_type::eof:
        ev.stream = static_cast<stream>(rng() % 3);
        break;
      case event_type::window_change:
        ev.cols = static_cast<std::uint32_t>(rng());
        ev.rows = static_cast<std::uint32_t>(rng());
        break;
      case event_type::exit_status:
        ev.code = static_cast<std::int32_t>(rng());
        break;
      default:
        break;
    }
    ev.data.resize(static_cast<std::size_t>(len_dist(rng)));
    for (auto& c : ev.data) {
      c = static_cast<char>(byte_dist(rng));
    }
    events.push_back(std::move(ev));
  }
  return events;
}

inline file_header header_for_test() {
  file_header h;
  h.id = random_session_id();
  h.started_unix_us = 1'764'000'000'000'000;
  return h;
}

}  // namespace bastion::recorder::test
