// Raw HTTP/1.1 responses for the admin API tests.
#include "admin_api_support.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <system_error>

namespace bastion::test {

std::string api_response::header(const std::string& name) const {
  std::string lower = headers;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string key = "\r\n" + name + ":";
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto at = lower.find(key);
  if (at == std::string::npos) {
    return {};
  }
  const auto start = headers.find_first_not_of(' ', at + key.size());
  return headers.substr(start, headers.find("\r\n", start) - start);
}

api_response parse_http_response(const std::string& raw) {
  api_response r;
  const auto end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) {
    r.headers = raw;
    return r;
  }
  r.status = std::stoi(raw.substr(9, 3));
  r.headers = raw.substr(0, end + 2);
  std::string body = raw.substr(end + 4);
  if (r.header("Transfer-Encoding") == "chunked") {
    std::string plain;
    std::size_t at = 0;
    for (;;) {
      const auto eol = body.find("\r\n", at);
      if (eol == std::string::npos) {
        break;  // cut short: what came is kept, and the missing end shows in the test
      }
      const std::size_t size = std::stoul(body.substr(at, eol - at), nullptr, 16);
      if (size == 0) {
        break;
      }
      plain += body.substr(eol + 2, size);
      at = eol + 2 + size + 2;
    }
    body = std::move(plain);
  }
  r.body = std::move(body);
  r.doc = nlohmann::json::parse(r.body, nullptr, false);
  return r;
}

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

}  // namespace

keyboard_session::keyboard_session(const std::vector<std::string>& argv,
                                   const std::filesystem::path& dir, const std::string& log) {
  const auto pipe = dir / "keyboard";
  if (mkfifo(pipe.c_str(), 0600) != 0) {
    throw std::runtime_error("mkfifo " + pipe.string() + ": " +
                             std::generic_category().message(errno));
  }
  keys_ = open(pipe.c_str(), O_RDWR | O_CLOEXEC);
  if (keys_ < 0) {
    throw std::runtime_error("open " + pipe.string() + ": " +
                             std::generic_category().message(errno));
  }
  std::string command = "exec";
  for (const auto& arg : argv) {
    command += " " + shell_quote(arg);
  }
  client_ = std::make_unique<child_process>(
      std::vector<std::string>{"sh", "-c", command + " <" + shell_quote(pipe.string())}, log);
}

keyboard_session::~keyboard_session() {
  client_.reset();
  if (keys_ >= 0) {
    close(keys_);
  }
}

bool keyboard_session::type(const std::string& keys) const {
  return write(keys_, keys.data(), keys.size()) == static_cast<ssize_t>(keys.size());
}

}  // namespace bastion::test
