// Aligned text tables.
#include "table.hpp"

#include <algorithm>
#include <ostream>

#include <bastion/common/escape.hpp>

namespace bastion::admin {
namespace {

// Display width: escape() leaves only printable ASCII and UTF-8, so count code points.
std::size_t width(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

table::table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void table::add_row(std::vector<std::string> cells) {
  for (auto& cell : cells) {
    cell = escape(cell, 120);
  }
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void table::print(std::ostream& out, const std::string& empty_note) const {
  if (rows_.empty()) {
    out << empty_note << "\n";
    return;
  }
  std::vector<std::size_t> widths(headers_.size());
  for (std::size_t c = 0; c < headers_.size(); ++c) {
    widths[c] = width(headers_[c]);
    for (const auto& row : rows_) {
      widths[c] = std::max(widths[c], width(row[c]));
    }
  }
  const auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) {
        line.append(widths[c] - width(row[c]) + 2, ' ');
      }
    }
    out << line << "\n";
  };
  print_row(headers_);
  for (const auto& row : rows_) {
    print_row(row);
  }
}

}  // namespace bastion::admin
