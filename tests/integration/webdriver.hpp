// A headless Chromium driven through chromedriver (the W3C WebDriver protocol over HTTP), as the
// console's browser test uses it. Both are the Debian packages chromium and chromium-driver; the
// browser gets a fresh profile, no network beyond loopback, and nothing of the desktop's.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../fixtures/process.hpp"

namespace bastion::test {

class webdriver {
 public:
  // Starts chromedriver on a free port and a browser with its profile and logs under `dir`.
  // Throws std::runtime_error when either does not start.
  explicit webdriver(const std::filesystem::path& dir);
  // Ends the browser, then chromedriver.
  ~webdriver();
  webdriver(const webdriver&) = delete;
  webdriver& operator=(const webdriver&) = delete;

  void go(const std::string& url);
  // The element that `css` selects (its WebDriver id), or nullopt when there is none.
  std::optional<std::string> find(const std::string& css);
  // Waits up to `timeout` for `css` to select an element whose text satisfies `pred` (any text,
  // by default); the last text seen, or nullopt on timeout.
  std::optional<std::string> wait_for(const std::string& css,
                                      const std::function<bool(const std::string&)>& pred = {},
                                      std::chrono::milliseconds timeout = std::chrono::seconds(20));
  bool click(const std::string& css);
  bool type(const std::string& css, const std::string& text);
  // Runs `js` in the page (a function body; `arguments` holds `args`) and returns its value.
  nlohmann::json script(const std::string& js,
                        const nlohmann::json& args = nlohmann::json::array());
  void screenshot(const std::filesystem::path& png);
  // The browser console's messages at SEVERE level since the last call (CSP refusals, script
  // errors, failed loads).
  std::vector<std::string> severe_log();
  // What a failed step needs: the page's URL and DOM, and the console's messages so far; with a
  // `png`, a screenshot there too.
  std::string diagnose(const std::filesystem::path& png = {});

 private:
  // One WebDriver command; the "value" of its answer. Throws on a WebDriver error.
  nlohmann::json command(const std::string& method, const std::string& path,
                         const nlohmann::json& body = nullptr);

  int port_ = 0;
  std::unique_ptr<child_process> driver_;
  std::string session_;
};

}  // namespace bastion::test
