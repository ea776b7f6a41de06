// The web console's files: loading and lookup.
#include "console_files.hpp"

#include <fmt/format.h>

#include <array>
#include <fstream>

namespace bastion::admin {

namespace fs = std::filesystem;

namespace {

std::string_view content_type_of(const fs::path& file) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> types{{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
  }};
  const auto ext = file.extension().string();
  for (const auto& [suffix, type] : types) {
    if (ext == suffix) {
      return type;
    }
  }
  return "application/octet-stream";
}

bool plain_name(const std::string& name) {
  if (name.empty() || name.front() == '.') {
    return false;
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

// FNV-1a: an ETag needs to change with the body, not to resist forgery.
std::string etag_of(std::string_view body) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : body) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  return fmt::format("\"{:016x}\"", h);
}

}  // namespace

result<console_files> console_files::load(const fs::path& dir) {
  const auto fail = [&](const std::string& why) -> result<console_files> {
    return make_error("web console at " + dir.string() + ": " + why);
  };
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(dir / "index.html", ec))) {
    return fail(
        "no index.html; build it with `cmake --build build --target console`, or set "
        "admin.web_root to a directory that holds it");
  }
  console_files out;
  std::uintmax_t total = 0;
  fs::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const auto rel = it->path().lexically_relative(dir);
    std::string url;
    bool plain = true;
    for (const auto& part : rel) {
      plain = plain && plain_name(part.string());
      url += "/" + part.string();
    }
    const auto status = it->symlink_status(ec);
    if (ec) {
      return fail("cannot read " + rel.string() + " (" + ec.message() + ")");
    }
    if (!plain) {
      if (fs::is_directory(status)) {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (!fs::is_regular_file(status)) {
      continue;  // directories are walked; links and devices are never served
    }
    const auto size = it->file_size(ec);
    if (ec || size > max_file_bytes || (total += size) > max_total_bytes ||
        out.files_.size() >= max_files) {
      return fail(ec ? "cannot read " + rel.string() + " (" + ec.message() + ")"
                     : "over the bounds of a console (" + std::to_string(max_files) +
                           " files, 8 MiB each, 32 MiB in all) at " + rel.string() +
                           "; point admin.web_root at the console alone");
    }
    // Read as sized: a file that grew since is cut there, a shorter one is an error.
    std::ifstream in(it->path(), std::ios::binary);
    std::string body(static_cast<std::size_t>(size), '\0');
    if (!in.read(body.data(), static_cast<std::streamsize>(body.size()))) {
      return fail("cannot read " + rel.string() + " whole; is it being written?");
    }
    auto etag = etag_of(body);
    out.files_.emplace(std::move(url), console_file{std::string(content_type_of(it->path())),
                                                    std::move(body), std::move(etag)});
  }
  if (ec) {
    return fail("cannot list it (" + ec.message() + ")");
  }
  return out;
}

const console_file* console_files::find(std::string_view path) const {
  if (path == "/") {
    path = "/index.html";
  }
  const auto it = files_.find(std::string(path));
  return it == files_.end() ? nullptr : &it->second;
}

}  // namespace bastion::admin
