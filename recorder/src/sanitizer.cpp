// Terminal sanitizer: a small VT500-style parser that re-emits only allowed sequences.
#include <algorithm>

#include <bastion/recorder/sanitizer.hpp>

namespace bastion::recorder {
namespace {

constexpr char esc = '\x1b';
// A longer CSI is not something a screen needs; it is dropped whole.
constexpr std::size_t max_csi = 64;

bool is_final(char c) {
  return c >= 0x40 && c <= 0x7E;
}

// CSI finals that draw: cursor movement and position, erase, insert/delete, scroll, SGR, modes,
// scroll region, save/restore cursor, cursor style (with a space intermediate).
bool allowed_csi_final(char c) {
  static constexpr std::string_view drawing = "ABCDEFGHIJKLMPSTX@`abdefghlmrsuq";
  return drawing.find(c) != std::string_view::npos;
}

// Modes that would make the terminal send input by itself: mouse and focus reporting.
bool reports_input(std::string_view params) {
  if (params.empty() || params.front() != '?') {
    return false;
  }
  std::size_t pos = 1;
  while (pos <= params.size()) {
    const auto end = std::min(params.find(';', pos), params.size());
    const std::string_view mode = params.substr(pos, end - pos);
    if (mode == "9" || mode == "1004" || (mode.size() == 4 && mode >= "1000" && mode <= "1016")) {
      return true;
    }
    pos = end + 1;
  }
  return false;
}

}  // namespace

void terminal_sanitizer::reset() {
  state_ = state::ground;
  seq_.clear();
  utf8_left_ = 0;
}

void terminal_sanitizer::feed(std::string_view in, std::string& out) {
  for (const char c : in) {
    switch (state_) {
      case state::ground:
        on_ground(c, out);
        break;
      case state::utf8:
        on_utf8(c, out);
        break;
      case state::escape:
      case state::escape_intermediate:
        on_escape(c, out);
        break;
      case state::csi:
        on_csi(c, out);
        break;
      case state::string:
      case state::string_escape:
        on_string(c);
        break;
    }
  }
}

void terminal_sanitizer::on_ground(char c, std::string& out) {
  const auto b = static_cast<std::uint8_t>(c);
  if (c == esc) {
    state_ = state::escape;
    seq_.assign(1, c);
  } else if ((b >= 0x20 && b < 0x7F) || c == '\n' || c == '\r' || c == '\t' || c == '\b' ||
             c == '\a') {
    out += c;
  } else if (b >= 0xC2 && b <= 0xF4) {
    state_ = state::utf8;
    seq_.assign(1, c);
    utf8_left_ = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : 1;
  }
  // Everything else goes: ENQ (answerback), SO/SI, other C0, DEL, stray UTF-8 bytes, and raw
  // 8-bit C1 such as 0x9B (CSI) and 0x90 (DCS).
}

void terminal_sanitizer::on_utf8(char c, std::string& out) {
  const auto b = static_cast<std::uint8_t>(c);
  if ((b & 0xC0) != 0x80) {
    reset();
    on_ground(c, out);  // a broken sequence: drop it, then read this byte afresh
    return;
  }
  seq_ += c;
  if (--utf8_left_ > 0) {
    return;
  }
  const auto b0 = static_cast<std::uint8_t>(seq_[0]);
  const auto b1 = static_cast<std::uint8_t>(seq_[1]);
  const bool c1 = b0 == 0xC2 && b1 < 0xA0;  // U+0080..U+009F: C1 controls in UTF-8
  const bool overlong_or_surrogate = (b0 == 0xE0 && b1 < 0xA0) || (b0 == 0xED && b1 > 0x9F) ||
                                     (b0 == 0xF0 && b1 < 0x90) || (b0 == 0xF4 && b1 > 0x8F);
  if (!c1 && !overlong_or_surrogate) {
    out += seq_;
  }
  reset();
}

void terminal_sanitizer::on_escape(char c, std::string& out) {
  const auto b = static_cast<std::uint8_t>(c);
  if (state_ == state::escape) {
    switch (c) {
      case '[':
        state_ = state::csi;
        seq_ += c;
        return;
      case ']':  // OSC: titles, clipboard (52), hyperlinks (8), colours
        string_ends_on_bel_ = true;
        state_ = state::string;
        return;
      case 'P':  // DCS, including DECRQSS
      case 'X':  // SOS
      case '^':  // PM
      case '_':  // APC
        string_ends_on_bel_ = false;
        state_ = state::string;
        return;
      case 'Z':  // DECID: asks the terminal to identify itself
        reset();
        return;
      default:
        break;
    }
  }
  if (b >= 0x20 && b <= 0x2F) {  // intermediate, as in ESC ( B
    seq_ += c;
    state_ = state::escape_intermediate;
    if (seq_.size() > 4) {
      reset();
    }
    return;
  }
  if (b >= 0x30 && b <= 0x7E) {  // a complete ESC sequence: charsets, keypad modes, save/restore
    seq_ += c;
    out += seq_;
  }
  reset();  // anything else (a control byte, or ESC ESC) ends it
}

void terminal_sanitizer::on_csi(char c, std::string& out) {
  const auto b = static_cast<std::uint8_t>(c);
  if (b < 0x20 || b > 0x7E || seq_.size() >= max_csi) {
    reset();  // CAN, SUB, another ESC or a runaway: abandon the sequence
    if (c == esc) {
      on_ground(c, out);
    }
    return;
  }
  seq_ += c;
  if (is_final(c)) {
    emit_csi(out);
    reset();
  }
}

void terminal_sanitizer::emit_csi(std::string& out) {
  const char final_byte = seq_.back();
  const std::string_view params = std::string_view(seq_).substr(2, seq_.size() - 3);
  const bool has_intermediate =
      std::any_of(params.begin(), params.end(), [](char p) { return p >= 0x20 && p <= 0x2F; });
  // SP q (cursor style) is the one intermediate form kept; "$p" (DECRQM), "!p" and the like ask
  // or reset. ">" and "=" prefixed forms are queries (secondary DA and friends) or private tweaks.
  const bool cursor_style = final_byte == 'q' && params.ends_with(' ');
  if (!allowed_csi_final(final_byte) || (has_intermediate && !cursor_style) ||
      (final_byte == 'q' && !cursor_style)) {
    return;
  }
  if (!params.empty() && (params.front() == '>' || params.front() == '=')) {
    return;
  }
  if ((final_byte == 'h' || final_byte == 'l') && reports_input(params)) {
    return;
  }
  out += seq_;
}

void terminal_sanitizer::on_string(char c) {
  // Swallow everything up to ST (ESC \), or BEL for OSC; CAN and SUB abort the string.
  if (state_ == state::string_escape) {
    state_ = c == '\\' ? state::ground : state::string;
    if (state_ == state::ground) {
      reset();
    }
    return;
  }
  if (c == esc) {
    state_ = state::string_escape;
  } else if ((c == '\a' && string_ends_on_bel_) || c == '\x18' || c == '\x1a') {
    reset();
  }
}

std::string terminal_sanitizer::clean(std::string_view in) {
  terminal_sanitizer s;
  std::string out;
  s.feed(in, out);
  s.finish();
  return out;
}

}  // namespace bastion::recorder
