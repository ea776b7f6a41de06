// Search text from recorded events: commands, typed lines and printed text, in documents.
#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include <bastion/common/escape.hpp>
#include <bastion/recorder/search_text.hpp>

namespace bastion::recorder {
namespace {

constexpr std::size_t max_escape = 64;  // a longer CSI is dropped whole

// File transfers run as commands too; their bytes are files, not something an admin searches.
bool is_transfer(std::string_view command) {
  return command.starts_with("scp ") || command.find("rsync --server") != std::string_view::npos ||
         command.find("sftp-server") != std::string_view::npos;
}

// Whether `seq` (from ESC) is a whole escape sequence: CSI ends at a final byte, a charset
// selection after one more byte, the rest after one byte. (Strings are skipped apart.)
bool escape_complete(std::string_view seq) {
  if (seq.size() < 2) {
    return false;
  }
  const char kind = seq[1];
  if (kind == '[') {
    const char last = seq.back();
    return seq.size() > 2 && last >= 0x40 && last <= 0x7E;
  }
  if (kind == '(' || kind == ')' || kind == '*' || kind == '+' || kind == '#' || kind == '%') {
    return seq.size() >= 3;
  }
  return true;
}

}  // namespace

std::string format_marks(const std::vector<line_mark>& marks) {
  std::string out;
  for (const auto& m : marks) {
    if (!out.empty()) {
      out += ',';
    }
    out += std::to_string(m.at) + ':' + std::to_string(m.offset.count()) + ':' +
           std::to_string(m.channel);
  }
  return out;
}

std::vector<line_mark> parse_marks(std::string_view text) {
  std::vector<line_mark> out;
  const char* p = text.data();
  const char* end = p + text.size();
  // One number of a mark, and the separator after it (`sep`, or the end for the last).
  const auto number = [&](auto& value, char sep) {
    const auto r = std::from_chars(p, end, value);
    const bool ok = r.ec == std::errc() && (r.ptr == end ? sep != ':' : *r.ptr == sep);
    p = r.ptr == end ? end : r.ptr + 1;
    return ok;
  };
  while (p < end) {
    line_mark m;
    std::int64_t us = 0;
    if (!number(m.at, ':') || !number(us, ':') || !number(m.channel, ',')) {
      return {};
    }
    m.offset = std::chrono::microseconds(us);
    out.push_back(m);
  }
  return out;
}

const line_mark* mark_at(const search_document& doc, std::size_t pos) {
  const auto it = std::upper_bound(doc.marks.begin(), doc.marks.end(), pos,
                                   [](std::size_t p, const line_mark& m) { return p < m.at; });
  return it == doc.marks.begin() ? nullptr : &*(it - 1);
}

void search_extractor::add(const event& ev) {
  if (ev.type == event_type::channel_open) {
    const auto doc = nlohmann::json::parse(ev.data, nullptr, false);
    channels_[ev.channel].session = doc.is_object() && doc.value("kind", "") == "session";
    return;
  }
  const auto it = channels_.find(ev.channel);
  if (it == channels_.end() || !it->second.session) {
    return;
  }
  auto& ch = it->second;
  if (ev.type == event_type::channel_request) {
    on_request(ch, ev);
  } else if (ev.type == event_type::data && ch.indexed) {
    if (ev.stream == stream::input) {
      on_input(ch, ev);
    } else {
      on_output(ch, ev);
    }
  } else if (ev.type == event_type::channel_close) {
    end_output_line(ch, ev.channel);
    channels_.erase(it);
  }
}

void search_extractor::on_request(channel_state& ch, const event& ev) {
  const auto doc = nlohmann::json::parse(ev.data, nullptr, false);
  if (!doc.is_object()) {
    return;
  }
  const auto request = doc.value("request", "");
  if (request == "pty-req") {
    ch.pty = true;
  } else if (request == "subsystem") {
    ch.indexed = false;
  } else if (request == "exec") {
    const auto command = doc.value("command", "");
    add_line(text_kind::input, command, ev.offset, ev.channel);
    ch.exec = true;
    ch.indexed = !is_transfer(command);
  }
}

// Keys typed at a terminal go through the line editor, and a line waits for the terminal's echo
// before it is indexed; a script fed to a shell without a terminal is read line by line. What an
// exec command reads is its data, not commands.
void search_extractor::on_input(channel_state& ch, const event& ev) {
  if ((ch.exec && !ch.pty) || full(text_kind::input)) {
    return;
  }
  std::vector<std::string> lines;
  ch.typed.feed(ev.data, lines);
  for (auto& line : lines) {
    if (!ch.pty) {
      add_line(text_kind::input, line, ev.offset, ev.channel);
      continue;
    }
    if (ch.awaiting.size() >= 16) {
      ch.awaiting.erase(ch.awaiting.begin());
    }
    ch.awaiting.push_back({std::move(line), ev.offset});
  }
}

// Printed text, as a screen would show its lines (screen_line). Output without a terminal that is
// not text (a NUL, bytes that are not UTF-8) stops the channel's indexing.
void search_extractor::on_output(channel_state& ch, const event& ev) {
  if (full(text_kind::output) && ch.awaiting.empty()) {
    return;
  }
  for (const char c : ev.data) {
    output_byte(ch, c, ev);
    if (!ch.indexed) {
      return;
    }
  }
}

void search_extractor::output_byte(channel_state& ch, char c, const event& ev) {
  ch.printed_at = ev.offset;
  if (!ch.escape.empty() || ch.in_string) {
    escape_byte(ch, c);
    return;
  }
  const auto u = static_cast<unsigned char>(c);
  if (!ch.utf8.empty() && (u & 0xC0) != 0x80) {
    utf8_done(ch, false);  // a character cut short; `c` starts afresh
  }
  if (u >= 0x80) {
    ch.utf8 += c;
    const auto lead = static_cast<unsigned char>(ch.utf8[0]);
    const std::size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (ch.utf8.size() >= want) {
      utf8_done(ch, want > 1 && ch.utf8.size() == want && is_valid_utf8(ch.utf8));
    }
    return;
  }
  switch (c) {
    case '\x1b':
      ch.escape = c;
      return;
    case '\n':
      end_output_line(ch, ev.channel);
      return;
    case '\r':
      ch.printed.carriage_return();
      return;
    case '\b':
      ch.printed.backspace();
      return;
    case '\t':
      ch.printed.put(U' ');
      return;
    case '\0':
      ch.indexed = ch.indexed && ch.pty;
      return;
    default:
      if (u >= 0x20 && u != 0x7F) {
        ch.printed.put(static_cast<char32_t>(u));
      }
  }
}

// The character in ch.utf8 is whole: onto the line if it is valid; else the channel's output is
// not text, or, on a terminal, shown as U+FFFD.
void search_extractor::utf8_done(channel_state& ch, bool valid) {
  if (valid) {
    const auto lead = static_cast<unsigned char>(ch.utf8[0]);
    char32_t cp = lead & (0xFF >> (ch.utf8.size() + 1));
    for (std::size_t i = 1; i < ch.utf8.size(); ++i) {
      cp = (cp << 6) | (static_cast<unsigned char>(ch.utf8[i]) & 0x3F);
    }
    ch.printed.put(cp);
  } else if (!ch.pty) {
    ch.indexed = false;
  } else {
    ch.printed.put(U'\uFFFD');
  }
  ch.utf8.clear();
}

// An escape sequence: CSI moves the cursor or erases within the line; an OSC, DCS, APC or PM
// string (a title, a clipboard, a link) is skipped to its BEL or ST, however long; the rest end
// at their final byte. A cursor move to another row ends the line, as full-screen programs draw.
void search_extractor::escape_byte(channel_state& ch, char c) {
  if (ch.in_string) {
    if (c == '\a' || (c == '\\' && ch.escape == "\x1b")) {
      ch.in_string = false;
      ch.escape.clear();
      return;
    }
    ch.escape = c == '\x1b' ? "\x1b" : "";
    return;
  }
  ch.escape += c;
  const char kind = ch.escape[1];
  if (ch.escape.size() == 2 &&
      (kind == ']' || kind == 'P' || kind == '_' || kind == '^' || kind == 'X')) {
    ch.in_string = true;
    ch.escape.clear();
    return;
  }
  if (!escape_complete(ch.escape)) {
    if (ch.escape.size() > max_escape) {
      ch.escape.clear();
    }
    return;
  }
  if (kind == '[') {
    const char final = ch.escape.back();
    const std::string_view params = std::string_view(ch.escape).substr(2, ch.escape.size() - 3);
    if (final == 'H' || final == 'f' || final == 'A' || final == 'B' || final == 'J') {
      end_output_line(ch, 0xFFFFFFFF);
    } else {
      ch.printed.csi(final, params);
    }
  }
  ch.escape.clear();
}

// A finished output line is indexed, and it may be the echo that a typed line waits for.
void search_extractor::end_output_line(channel_state& ch, std::uint32_t channel) {
  const std::string text = ch.printed.text();
  ch.printed.clear();
  if (channel == 0xFFFFFFFF) {
    return;  // a screen redraw: its rows are not lines of output
  }
  if (!text.empty()) {
    add_line(text_kind::output, text, ch.printed_at, channel);
  }
  while (!ch.awaiting.empty()) {
    auto& first = ch.awaiting.front();
    if (text.find(first.text) != std::string::npos) {
      add_line(text_kind::input, first.text, first.at, channel);
    } else if (--first.lines_left > 0) {
      return;
    }
    ch.awaiting.erase(ch.awaiting.begin());
  }
}

bool search_extractor::full(text_kind kind) const {
  const auto k = static_cast<std::size_t>(kind);
  return used_[k] >= (kind == text_kind::input ? limits_.input_bytes : limits_.output_bytes);
}

void search_extractor::add_line(text_kind kind, std::string_view text, std::chrono::microseconds at,
                                std::uint32_t channel) {
  const auto k = static_cast<std::size_t>(kind);
  const std::size_t budget = kind == text_kind::input ? limits_.input_bytes : limits_.output_bytes;
  text = text.substr(0, line_editor::max_line);
  if (text.find_first_not_of(' ') == std::string_view::npos ||
      used_[k] + text.size() + 1 > budget || !is_valid_utf8(text)) {
    return;
  }
  used_[k] += text.size() + 1;
  auto& p = pending_[k];
  if (p.doc.text.empty()) {
    p.doc.kind = kind;
    p.oldest = at;
  }
  p.doc.marks.push_back({static_cast<std::uint32_t>(p.doc.text.size()), at, channel});
  // A command may hold newlines and escapes (what a client sent): one line of plain text here.
  for (const char c : text) {
    p.doc.text += static_cast<unsigned char>(c) < 0x20 || c == 0x7F ? ' ' : c;
  }
  p.doc.text += '\n';
  if (p.doc.text.size() >= limits_.document_bytes || p.doc.marks.size() >= limits_.document_lines) {
    p.doc.seq = next_seq_++;
    ready_.push_back(std::move(p.doc));
    p = {};
  }
}

std::vector<search_document> search_extractor::take(std::chrono::microseconds now, bool all) {
  if (all) {
    for (auto& [channel, ch] : channels_) {
      end_output_line(ch, channel);
      ch.awaiting.clear();  // never echoed
    }
  }
  for (auto& p : pending_) {
    if (!p.doc.text.empty() && (all || now - p.oldest >= limits_.max_age)) {
      p.doc.seq = next_seq_++;
      ready_.push_back(std::move(p.doc));
      p = {};
    }
  }
  return std::exchange(ready_, {});
}

}  // namespace bastion::recorder
