// A terminal line as the screen shows it, for search's output text.
#include <algorithm>
#include <charconv>

#include <bastion/recorder/search_text.hpp>

namespace bastion::recorder {
namespace {

// The first parameter of a CSI sequence, or `fallback` when it has none (or 0, for counts).
std::size_t first_param(std::string_view params, std::size_t fallback) {
  std::size_t n = 0;
  const auto end = params.data() + params.size();
  const auto [ptr, ec] = std::from_chars(params.data(), end, n);
  if (ec != std::errc() || (ptr != end && *ptr != ';')) {
    return fallback;
  }
  return std::min<std::size_t>(n, screen_line::max_cells);
}

void append_utf8(std::string& out, char32_t c) {
  const auto u = static_cast<std::uint32_t>(c);
  if (u < 0x80) {
    out += static_cast<char>(u);
  } else if (u < 0x800) {
    out += static_cast<char>(0xC0 | (u >> 6));
    out += static_cast<char>(0x80 | (u & 0x3F));
  } else if (u < 0x10000) {
    out += static_cast<char>(0xE0 | (u >> 12));
    out += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (u & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (u >> 18));
    out += static_cast<char>(0x80 | ((u >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (u & 0x3F));
  }
}

}  // namespace

void screen_line::put(char32_t c) {
  if (cursor_ >= max_cells) {
    return;
  }
  if (cursor_ >= cells_.size()) {
    cells_.resize(cursor_ + 1, U' ');
  }
  cells_[cursor_++] = c;
}

void screen_line::backspace() {
  if (cursor_ > 0) {
    --cursor_;
  }
}

void screen_line::csi(char final, std::string_view params) {
  const std::size_t n = std::max<std::size_t>(first_param(params, 1), 1);
  switch (final) {
    case 'D':  // cursor left, right, to a column
      cursor_ -= std::min(n, cursor_);
      return;
    case 'C':
      cursor_ = std::min(cursor_ + n, max_cells);
      return;
    case 'G':
      cursor_ = n - 1;
      return;
    case 'K': {  // erase to the end, to the cursor, or all of the line
      const std::size_t mode = first_param(params, 0);
      if (mode == 0) {
        cells_.resize(std::min(cursor_, cells_.size()));
      } else if (mode == 1) {
        std::fill_n(cells_.begin(), std::min(cursor_ + 1, cells_.size()), U' ');
      } else {
        cells_.clear();
      }
      return;
    }
    case 'P':  // delete characters at the cursor, the rest moving left
      if (cursor_ < cells_.size()) {
        cells_.erase(cursor_, n);
      }
      return;
    case '@':  // insert blanks at the cursor
      if (cursor_ < cells_.size()) {
        cells_.insert(cursor_, std::min(n, max_cells - cells_.size()), U' ');
      }
      return;
    case 'X':  // erase characters at the cursor
      for (std::size_t i = cursor_; i < std::min(cursor_ + n, cells_.size()); ++i) {
        cells_[i] = U' ';
      }
      return;
    default:
      return;
  }
}

std::string screen_line::text() const {
  std::string out;
  const auto end = cells_.find_last_not_of(U' ');
  for (std::size_t i = 0; end != std::u32string::npos && i <= end; ++i) {
    append_utf8(out, cells_[i]);
  }
  return out;
}

bool screen_line::blank() const {
  return cells_.find_first_not_of(U' ') == std::u32string::npos;
}

void screen_line::clear() {
  cells_.clear();
  cursor_ = 0;
}

}  // namespace bastion::recorder
