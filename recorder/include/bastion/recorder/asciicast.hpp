// A session's recording opened as its database row names it, and read out as asciicast v2 piece
// by piece: what `bastionctl export` writes to a file and the admin API streams to a browser,
// never holding more than one chunk's events.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <bastion/recorder/reader.hpp>
#include <bastion/recorder/sanitizer.hpp>

namespace bastion::recorder {

struct opened_recording {
  recording_reader reader;
  verify_report report;
};

// The recording of session `id` in `dir`. `file_from_row` is the file name its database row
// gives: it must be the one derived from the id (a row altered to point elsewhere,
// "../../etc/shadow", is refused before any file is opened). `head_hex`, the row's final hash
// ("" while live), must end the chain when given. `decode` also decompresses every chunk.
result<opened_recording> open_session_recording(const std::filesystem::path& dir,
                                                std::string_view id, std::string_view file_from_row,
                                                std::string_view head_hex, bool decode = true);

// The header line of an asciicast v2 cast (with its newline).
std::string asciicast_header(int cols, int rows, const std::string& term,
                             std::int64_t unix_seconds);

// Events as asciicast v2 lines: "o" (output, sanitized per channel), "i" (input, where asked) and
// "r" (resize) of the terminal channels, timed from `zero`.
class asciicast_encoder {
 public:
  struct options {
    std::set<std::uint32_t> terminals;
    std::chrono::microseconds zero{0};  // events before it are left out
    bool with_input = true;
    bool adopt_ptys = false;  // a channel that asks for a PTY becomes a terminal (live: a shell
                              // opened after the watcher joined)
  };
  explicit asciicast_encoder(options o) : o_(std::move(o)) {}
  // Appends the lines of `ev` (none for most events) to `out`, each ending in a newline.
  void encode(const event& ev, std::string& out);

 private:
  options o_;
  std::map<std::uint32_t, terminal_sanitizer> sanitizers_;
  std::string clean_;
};

// asciicast v2: "o" (output, sanitized), "i" (input) and "r" (resize) events of the PTY channels
// (or of every session channel if none had a PTY), from `from` on with times shifted to start
// there, after a header line that takes the terminal's size and type from the first PTY request.
class asciicast_stream {
 public:
  // Reads the chunks once to find the terminal channels (reports that are not ok are read up to
  // their first bad chunk).
  asciicast_stream(opened_recording recording,
                   std::chrono::microseconds from = std::chrono::microseconds(0));

  // The next lines of the cast, about `max_bytes` at most (one event's lines may pass it); ""
  // once everything is out. An error when a chunk changed since it was verified.
  result<std::string> next(std::size_t max_bytes);

  // Stored bytes of the chunks done, and of them all: for progress.
  std::uint64_t done_bytes() const { return done_bytes_; }
  std::uint64_t total_bytes() const { return total_bytes_; }

 private:
  opened_recording rec_;
  std::optional<asciicast_encoder> encoder_;
  std::string header_;  // sent first, then cleared
  std::size_t next_chunk_ = 0;
  std::vector<event> events_;  // the chunk being encoded
  std::size_t next_event_ = 0;
  std::uint64_t done_bytes_ = 0;
  std::uint64_t total_bytes_ = 0;
};

}  // namespace bastion::recorder
