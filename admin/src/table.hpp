// Listings for people: an aligned table whose cells are escaped, so that a hostile name never
// reaches the terminal raw. Machines use --json instead.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace bastion::admin {

class table {
 public:
  explicit table(std::vector<std::string> headers);
  void add_row(std::vector<std::string> cells);
  // Prints the header and rows, columns two spaces apart, or `empty_note` when there are no rows.
  void print(std::ostream& out, const std::string& empty_note) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace bastion::admin
