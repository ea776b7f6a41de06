// A session's recording opened as its database row names it, and read out as asciicast v2 piece
// by piece: what `bastionctl export` writes to a file and the admin API streams to a browser,
// never holding more than one chunk's events.
#pragma once

#include <chrono>
#include <map>
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
  void encode(const event& ev, std::string& out);

  opened_recording rec_;
  std::chrono::microseconds from_;
  std::set<std::uint32_t> terminals_;
  std::map<std::uint32_t, terminal_sanitizer> sanitizers_;
  std::string header_;  // sent first, then cleared
  std::size_t next_chunk_ = 0;
  std::vector<event> events_;  // the chunk being encoded
  std::size_t next_event_ = 0;
  std::uint64_t done_bytes_ = 0;
  std::uint64_t total_bytes_ = 0;
  std::string clean_;
};

}  // namespace bastion::recorder
