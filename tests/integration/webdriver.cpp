// The WebDriver client: plain HTTP/1.1 to chromedriver on loopback.
#include "webdriver.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <bastion/common/base64.hpp>

namespace bastion::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

namespace {

constexpr auto element_key = "element-6066-11e4-a52e-4f735466cecf";

}  // namespace

webdriver::webdriver(const std::filesystem::path& dir) : port_(free_port()) {
  std::filesystem::create_directories(dir);
  driver_ = std::make_unique<child_process>(
      std::vector<std::string>{"chromedriver", "--port=" + std::to_string(port_),
                               "--allowed-ips=127.0.0.1",
                               "--log-path=" + (dir / "chromedriver.log").string()},
      (dir / "chromedriver.out").string());
  if (!wait_for_port(port_, 20s)) {
    throw std::runtime_error("chromedriver did not listen; see " +
                             (dir / "chromedriver.log").string());
  }
  const nlohmann::json options = {
      {"binary", "/usr/bin/chromium"},
      {"args",
       {"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-quic",
        "--window-size=1280,900", "--user-data-dir=" + (dir / "profile").string()}},
  };
  const nlohmann::json caps = {{"capabilities",
                                {{"alwaysMatch",
                                  {{"browserName", "chrome"},
                                   {"goog:chromeOptions", options},
                                   {"goog:loggingPrefs", {{"browser", "ALL"}}},
                                   {"timeouts", {{"script", 20000}, {"pageLoad", 30000}}}}}}}};
  session_ = command("POST", "/session", caps).at("sessionId").get<std::string>();
}

webdriver::~webdriver() {
  if (!session_.empty()) {
    try {
      command("DELETE", "/session/" + session_);
    } catch (const std::exception&) {
      // chromedriver ends the browser when it is stopped below
    }
  }
}

nlohmann::json webdriver::command(const std::string& method, const std::string& path,
                                  const nlohmann::json& body) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)});
  const timeval limit{60, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  http::request<http::string_body> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
  req.set(http::field::connection, "close");
  if (!body.is_null()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body.dump();
  }
  req.prepare_payload();
  http::write(socket, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  const auto doc = nlohmann::json::parse(res.body(), nullptr, false);
  if (!doc.is_object() || !doc.contains("value")) {
    throw std::runtime_error("chromedriver: " + method + " " + path + ": " + res.body());
  }
  const auto& value = doc["value"];
  if (res.result() != http::status::ok) {
    throw std::runtime_error("chromedriver: " + method + " " + path + ": " +
                             (value.is_object() ? value.value("error", "") + ": " +
                                                      value.value("message", "").substr(0, 500)
                                                : res.body()));
  }
  return value;
}

void webdriver::go(const std::string& url) {
  command("POST", "/session/" + session_ + "/url", {{"url", url}});
}

std::optional<std::string> webdriver::find(const std::string& css) {
  const auto found = command("POST", "/session/" + session_ + "/elements",
                             {{"using", "css selector"}, {"value", css}});
  if (!found.is_array() || found.empty() || !found[0].is_object()) {
    return std::nullopt;
  }
  if (!found[0].contains(element_key)) {
    throw std::runtime_error("chromedriver: an element without its W3C reference: " +
                             found[0].dump());
  }
  return found[0][element_key].get<std::string>();
}

std::optional<std::string> webdriver::wait_for(const std::string& css,
                                               const std::function<bool(const std::string&)>& pred,
                                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<std::string> last;
  do {
    try {
      if (const auto id = find(css)) {
        last =
            command("GET", "/session/" + session_ + "/element/" + *id + "/text").get<std::string>();
        if (!pred || pred(*last)) {
          return last;
        }
      }
    } catch (const std::runtime_error&) {
      // the element went away between the find and the read: look again
    }
    std::this_thread::sleep_for(100ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return std::nullopt;
}

bool webdriver::click(const std::string& css) {
  const auto id = find(css);
  if (id) {
    command("POST", "/session/" + session_ + "/element/" + *id + "/click",
            nlohmann::json::object());
  }
  return id.has_value();
}

bool webdriver::type(const std::string& css, const std::string& text) {
  const auto id = find(css);
  if (id) {
    command("POST", "/session/" + session_ + "/element/" + *id + "/clear",
            nlohmann::json::object());
    command("POST", "/session/" + session_ + "/element/" + *id + "/value", {{"text", text}});
  }
  return id.has_value();
}

nlohmann::json webdriver::script(const std::string& js, const nlohmann::json& args) {
  return command("POST", "/session/" + session_ + "/execute/sync",
                 {{"script", js}, {"args", args}});
}

void webdriver::screenshot(const std::filesystem::path& png) {
  const auto encoded = command("GET", "/session/" + session_ + "/screenshot").get<std::string>();
  const auto bytes = base64_decode(encoded);
  if (!bytes) {
    throw std::runtime_error("chromedriver: the screenshot is not base64");
  }
  std::filesystem::create_directories(png.parent_path());
  std::ofstream(png, std::ios::binary) << *bytes;
}

std::vector<std::string> webdriver::severe_log() {
  const auto entries = command("POST", "/session/" + session_ + "/se/log", {{"type", "browser"}});
  std::vector<std::string> out;
  for (const auto& e : entries) {
    if (e.value("level", "") == "SEVERE") {
      out.push_back(e.value("message", ""));
    }
  }
  return out;
}

std::string webdriver::diagnose(const std::filesystem::path& png) {
  std::string out;
  try {
    if (!png.empty()) {
      screenshot(png);
      out += "screenshot: " + png.string() + "\n";
    }
    out += "url: " + command("GET", "/session/" + session_ + "/url").get<std::string>() + "\n";
    const auto body = script("return document.body.outerHTML;").get<std::string>();
    out += "body: " + body.substr(0, 6000) + "\n";
    for (const auto& line : severe_log()) {
      out += "console: " + line + "\n";
    }
  } catch (const std::exception& e) {
    out += std::string("(the browser did not answer: ") + e.what() + ")\n";
  }
  return out;
}

}  // namespace bastion::test
