// Replay is hostile input: recorded output may carry sequences that retitle the admin's terminal,
// write its clipboard (OSC 52), or make it answer (DA, DSR, DECRQSS) as if the admin had typed.
// This filter keeps what draws a screen (text, SGR colours, cursor movement, erasing, scrolling,
// screen modes) and drops the rest. It streams: a sequence may be split across feed() calls.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bastion::recorder {

class terminal_sanitizer {
 public:
  // Appends the safe part of `in` to `out`.
  void feed(std::string_view in, std::string& out);
  // Drops an unfinished sequence at the end of the stream.
  void finish() { reset(); }

  // One-shot form for whole buffers.
  static std::string clean(std::string_view in);

 private:
  enum class state : std::uint8_t {
    ground,
    escape,
    escape_intermediate,
    csi,
    string,
    string_escape,
    utf8
  };

  void reset();
  void on_ground(char c, std::string& out);
  void on_escape(char c, std::string& out);
  void on_csi(char c, std::string& out);
  void on_string(char c);
  void on_utf8(char c, std::string& out);
  void emit_csi(std::string& out);

  state state_ = state::ground;
  std::string seq_;  // the sequence being collected (CSI or UTF-8)
  std::size_t utf8_left_ = 0;
  bool string_ends_on_bel_ = false;
};

}  // namespace bastion::recorder
