// The line editor that search replays typed keys through: what readline, zsh's zle and the usual
// shells do with the keys that edit a line.
#include <bastion/recorder/search_text.hpp>

namespace bastion::recorder {
namespace {

constexpr char esc = '\x1b';
constexpr std::size_t max_params = 16;

bool continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

bool blank(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace

void line_editor::feed(std::string_view keys, std::vector<std::string>& done) {
  for (const char c : keys) {
    key(c, done);
  }
}

void line_editor::key(char c, std::vector<std::string>& done) {
  switch (state_) {
    case state::ground:
      if (c == esc) {
        state_ = state::escape;
      } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
        control(c, done);
      } else {
        insert(c);
      }
      return;
    case state::escape:
      state_ = state::ground;
      if (static_cast<unsigned char>(c) < 0x20) {
        control(c, done);  // ESC, then Enter (or ^C): the key counts, the ESC is dropped
      } else {
        escape_key(c);
      }
      return;
    case state::csi:
      if ((c >= '0' && c <= '9') || c == ';') {
        if (params_.size() < max_params) {
          params_ += c;
        }
        return;
      }
      state_ = state::ground;
      csi_final(c);
      return;
    case state::ss3:
      state_ = state::ground;
      params_.clear();
      csi_final(c);
      return;
  }
}

// The key after ESC: a CSI or SS3 sequence starts, or Alt with a letter edits by words (Alt-b and
// Alt-f move, Alt-Backspace and Alt-d delete).
void line_editor::escape_key(char c) {
  if (c == '[') {
    params_.clear();
    state_ = state::csi;
    return;
  }
  if (c == 'O') {
    state_ = state::ss3;
    return;
  }
  const bool back = c == 'b' || c == 0x7F;
  const std::size_t to = back ? word_start() : (c == 'f' || c == 'd') ? word_end() : cursor_;
  if (c == 0x7F) {
    erase_before(cursor_ - to);
  } else if (c == 'd') {
    line_.erase(cursor_, to - cursor_);
  } else {
    cursor_ = to;
  }
}

// Arrows, Home, End and Delete, as CSI or SS3 sequences. Up and Down recall history, which the
// keys do not show: the line stays as typed. Bracketed paste's markers (200~, 201~) are dropped,
// so that what is pasted counts as typed.
void line_editor::csi_final(char c) {
  const std::string_view p = params_;
  if (c == 'D') {
    cursor_ = char_before(cursor_);
  } else if (c == 'C') {
    cursor_ = char_after(cursor_);
  } else if (c == 'H' || (c == '~' && (p == "1" || p == "7"))) {
    cursor_ = 0;
  } else if (c == 'F' || (c == '~' && (p == "4" || p == "8"))) {
    cursor_ = line_.size();
  } else if (c == '~' && p == "3") {
    line_.erase(cursor_, char_after(cursor_) - cursor_);
  }
}

void line_editor::control(char c, std::vector<std::string>& done) {
  switch (c) {
    case '\r':
    case '\n':
      if (line_.find_first_not_of(" \t") != std::string::npos) {
        done.push_back(line_);
      }
      [[fallthrough]];
    case 0x03:  // ^C: the line is abandoned
      line_.clear();
      cursor_ = 0;
      return;
    case 0x7F:
    case 0x08:  // Backspace, ^H
      erase_before(cursor_ - char_before(cursor_));
      return;
    case 0x15:  // ^U: to the start of the line
      erase_before(cursor_);
      return;
    case 0x17:  // ^W: the word before the cursor
      erase_before(cursor_ - word_start());
      return;
    case 0x0B:  // ^K: to the end of the line
      line_.erase(cursor_);
      return;
    case 0x04:  // ^D: the character under the cursor
      line_.erase(cursor_, char_after(cursor_) - cursor_);
      return;
    case 0x01:  // ^A, ^E, ^B, ^F
      cursor_ = 0;
      return;
    case 0x05:
      cursor_ = line_.size();
      return;
    case 0x02:
      cursor_ = char_before(cursor_);
      return;
    case 0x06:
      cursor_ = char_after(cursor_);
      return;
    default:
      return;  // Tab completes from what the shell knows: not in the keys
  }
}

// Where the word before the cursor starts, and where the one after it ends (blanks skipped).
std::size_t line_editor::word_start() const {
  std::size_t to = cursor_;
  while (to > 0 && blank(line_[to - 1])) {
    --to;
  }
  while (to > 0 && !blank(line_[to - 1])) {
    --to;
  }
  return to;
}

std::size_t line_editor::word_end() const {
  std::size_t to = cursor_;
  while (to < line_.size() && blank(line_[to])) {
    ++to;
  }
  while (to < line_.size() && !blank(line_[to])) {
    ++to;
  }
  return to;
}

void line_editor::insert(char c) {
  if (line_.size() < max_line) {
    line_.insert(cursor_, 1, c);
    ++cursor_;
  }
}

void line_editor::erase_before(std::size_t n) {
  line_.erase(cursor_ - n, n);
  cursor_ -= n;
}

std::size_t line_editor::char_before(std::size_t pos) const {
  if (pos == 0) {
    return 0;
  }
  --pos;
  while (pos > 0 && continuation(line_[pos])) {
    --pos;
  }
  return pos;
}

std::size_t line_editor::char_after(std::size_t pos) const {
  if (pos >= line_.size()) {
    return line_.size();
  }
  ++pos;
  while (pos < line_.size() && continuation(line_[pos])) {
    ++pos;
  }
  return pos;
}

}  // namespace bastion::recorder
