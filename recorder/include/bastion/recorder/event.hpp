// What a recording holds: the events of one session, each stamped with its monotonic offset from
// the session start. The proxy's taps produce them; the writer stores them; replay and export read
// them back.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace bastion::recorder {

enum class event_type : std::uint8_t {
  session_start = 1,  // data: JSON {user, target, login, source, client_version, access_form}
  channel_open = 2,   // data: JSON {kind, ...}; kind "session", "direct-tcpip", "auth-agent", "x11"
  channel_request = 3,  // data: JSON {request: "pty-req"|"env"|"shell"|"exec"|"subsystem", ...}
  data = 4,             // data: the bytes; stream says which way
  window_change = 5,    // cols, rows
  signal = 6,           // data: signal name ("INT")
  eof = 7,              // stream: which side sent EOF (input or output)
  exit_status = 8,      // code
  exit_signal = 9,      // data: signal name
  channel_close = 10,
  session_end = 11,  // data: the reason
};

// Which way bytes flow. input: client -> target; output and error: target -> client.
enum class stream : std::uint8_t { input = 0, output = 1, error = 2 };

struct event {
  event_type type = event_type::data;
  std::uint32_t channel = 0;
  std::chrono::microseconds offset{0};  // since the session started, on the steady clock
  recorder::stream stream = stream::output;
  std::uint32_t cols = 0;
  std::uint32_t rows = 0;
  std::int32_t code = 0;
  std::string data;

  bool operator==(const event&) const = default;
};

// Largest `data` one event may carry; the taps split larger writes. Keeps decoding bounded.
inline constexpr std::size_t max_event_data = 1024 * 1024;

}  // namespace bastion::recorder
