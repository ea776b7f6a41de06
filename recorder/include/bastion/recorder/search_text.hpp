// What session search finds in a recording, as plain lines, each with the moment it happened:
//   - input: the commands that exec requests ran, and the lines typed at a terminal as its line
//     editor left them (backspace, ^U, ^W, cursor movement and bracketed paste applied; history
//     recall and completion cannot be known from the keystrokes and are left as typed);
//   - output: the text that terminals printed (escape sequences dropped), and the text output of
//     commands without a terminal, until they print something that is not text.
// The recorder's writer thread feeds it every event it records, never an io thread. Lines are
// gathered into documents of one kind (a row each in the search index, up to 48 KiB or 2048
// lines): text with a line per `\n`, and for each line where it starts, when, and on which
// channel.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <bastion/recorder/event.hpp>

namespace bastion::recorder {

enum class text_kind : std::uint8_t { input, output };

struct line_mark {
  std::uint32_t at = 0;  // byte offset of the line in the document's text
  std::chrono::microseconds offset{0};
  std::uint32_t channel = 0;
  bool operator==(const line_mark&) const = default;
};

struct search_document {
  text_kind kind = text_kind::input;
  std::uint32_t seq = 0;  // per session, from 0: with the session id, the row's key
  std::string text;       // lines, each ending in '\n'
  std::vector<line_mark> marks;
};

// marks as text, "at:offset_us:channel" joined by ',' (how the index row stores them), and back;
// parse_marks gives {} for text that is not such a list.
std::string format_marks(const std::vector<line_mark>& marks);
std::vector<line_mark> parse_marks(std::string_view text);

// The line of `doc` that holds byte `pos` of its text: its mark, or nullptr.
const line_mark* mark_at(const search_document& doc, std::size_t pos);

// The line being typed at a terminal, edited as readline and the usual shells edit it.
class line_editor {
 public:
  static constexpr std::size_t max_line = 4096;  // longer lines keep their first 4 KiB
  // Feeds typed bytes; each line that Enter completes is appended to `done`.
  void feed(std::string_view keys, std::vector<std::string>& done);
  const std::string& line() const { return line_; }

 private:
  enum class state : std::uint8_t { ground, escape, csi, ss3 };
  void key(char c, std::vector<std::string>& done);
  void escape_key(char c);
  void control(char c, std::vector<std::string>& done);
  void csi_final(char c);
  void insert(char c);
  void erase_before(std::size_t n);  // n bytes before the cursor
  std::size_t char_before(std::size_t pos) const;
  std::size_t word_start() const;
  std::size_t word_end() const;
  std::size_t char_after(std::size_t pos) const;

  std::string line_;
  std::size_t cursor_ = 0;  // byte offset into line_, on a character boundary
  state state_ = state::ground;
  std::string params_;
};

// One line of a terminal's output as the screen shows it: characters are written at the cursor,
// which \b, \r and cursor sequences move, so that a shell's echo of an edited line ("typx\b \bed",
// readline's redraws) reads as the line that ran, and a progress bar as its last state.
class screen_line {
 public:
  static constexpr std::size_t max_cells = 4096;  // wider lines keep their first 4096 characters
  void put(char32_t c);
  void backspace();
  void carriage_return() { cursor_ = 0; }
  // A CSI sequence's final byte and parameters: cursor left/right/column, erase and delete
  // within the line. Others do not change it.
  void csi(char final, std::string_view params);
  std::string text() const;  // UTF-8, trailing blanks cut
  bool blank() const;
  void clear();

 private:
  std::u32string cells_;
  std::size_t cursor_ = 0;
};

class search_extractor {
 public:
  struct limits {
    std::size_t output_bytes = std::size_t{16} << 20;  // per session; then output stops
    std::size_t input_bytes = std::size_t{1} << 20;    // per session; then input stops
    // A document is cut at this much text or this many lines, which keeps its text and its marks
    // within the 64 KiB that the store takes for one field (a line adds at most 4 KiB).
    std::size_t document_bytes = std::size_t{48} << 10;
    std::size_t document_lines = 2048;
    std::chrono::seconds max_age{10};  // a line waits at most this long for its document
  };
  search_extractor() : search_extractor(limits{}) {}
  explicit search_extractor(limits l) : limits_(l) {}

  void add(const event& ev);
  // The documents due: full ones, those whose oldest line is older than max_age at `now` (a
  // session offset), or, with `all`, everything gathered.
  std::vector<search_document> take(std::chrono::microseconds now, bool all);
  std::uint64_t indexed_bytes() const { return used_[0] + used_[1]; }

 private:
  // A line typed at a terminal, indexed only once the terminal echoed it: a password typed at a
  // prompt that does not echo is never indexed.
  struct awaited_echo {
    std::string text;
    std::chrono::microseconds at{0};  // when Enter was pressed
    int lines_left = 8;               // output lines that may come before its echo
  };
  struct channel_state {
    bool pty = false;
    bool session = false;  // a session channel (not a forward, agent or X11 channel)
    bool exec = false;     // runs a command (its input is the command's data)
    bool indexed = true;   // false for subsystems (sftp), transfers and after binary output
    line_editor typed;
    std::vector<awaited_echo> awaiting;       // oldest first, at most 16
    screen_line printed;                      // the unfinished output line
    std::chrono::microseconds printed_at{0};  // of the last output that changed it
    std::string escape;      // an escape sequence being read, perhaps across data events
    bool in_string = false;  // inside an OSC/DCS/APC/PM string, skipped to its BEL or ST
    std::string utf8;        // a character cut by the end of a data event
  };
  struct pending {
    search_document doc;
    std::chrono::microseconds oldest{0};
  };

  void on_request(channel_state& ch, const event& ev);
  void on_input(channel_state& ch, const event& ev);
  void on_output(channel_state& ch, const event& ev);
  void add_line(text_kind kind, std::string_view text, std::chrono::microseconds at,
                std::uint32_t channel);
  void output_byte(channel_state& ch, char c, const event& ev);
  void escape_byte(channel_state& ch, char c);
  void utf8_done(channel_state& ch, bool valid);
  void end_output_line(channel_state& ch, std::uint32_t channel);
  bool full(text_kind kind) const;

  limits limits_;
  std::map<std::uint32_t, channel_state> channels_;
  pending pending_[2];
  std::uint64_t used_[2] = {0, 0};
  std::uint32_t next_seq_ = 0;
  std::vector<search_document> ready_;
};

}  // namespace bastion::recorder
