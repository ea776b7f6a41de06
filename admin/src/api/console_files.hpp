// The web console's static files, read once at startup into memory and served by exact path: no
// request path ever reaches the file system, so there is nothing to traverse. Internal to admin/.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>

#include <bastion/common/result.hpp>

namespace bastion::admin {

struct console_file {
  std::string content_type;
  std::string body;
  std::string etag;  // a quoted hash of the body, for If-None-Match
};

class console_files {
 public:
  // Bounds on what a web root may hold: the console is a few hundred KiB.
  static constexpr std::size_t max_files = 256;
  static constexpr std::uintmax_t max_file_bytes = 8 << 20;
  static constexpr std::uintmax_t max_total_bytes = 32 << 20;

  console_files() = default;
  // Reads every regular file under `dir` (symbolic links, dot files and names outside
  // [A-Za-z0-9._-] are left out). An error names the directory and the fix; a tree without
  // index.html is one.
  static result<console_files> load(const std::filesystem::path& dir);

  // The file served at `path` ("/" is /index.html), or nullptr.
  const console_file* find(std::string_view path) const;
  bool empty() const { return files_.empty(); }
  std::size_t size() const { return files_.size(); }

 private:
  std::unordered_map<std::string, console_file> files_;  // by "/js/main.js"
};

}  // namespace bastion::admin
