// A running bastiond whose admin API the tests call over raw HTTP/1.1, with an admin (carol) and
// her token.
#pragma once

#include <nlohmann/json.hpp>

#include "proxy_support.hpp"

namespace bastion::test {

struct api_response {
  int status = 0;
  std::string headers;  // the status line and headers, as sent
  std::string body;     // de-chunked
  nlohmann::json doc;   // the body parsed, or discarded when it is no JSON
  std::string header(const std::string& name) const;
};

// A response as the server sent it, its chunked body decoded.
api_response parse_http_response(const std::string& raw);

// `Base` (a bastiond fixture) with an admin, carol, and her token, and calls to the admin API.
template <class Base>
class with_admin_api : public Base {
 protected:
  void SetUp() override {
    Base::SetUp();
    this->ok({"user", "add", "carol", "--admin"});
    token_ = new_token("carol");
  }

  // A fresh token for `user` (`bastionctl token create`).
  std::string new_token(const std::string& user, const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args{"token", "create", user};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string out = this->ok(args);
    return out.substr(0, out.find('\n'));
  }

  // METHOD `target` with the token (none if empty), and `body` as JSON if given.
  api_response call(const std::string& method, const std::string& target, const std::string& token,
                    const std::string& body = "") const {
    std::string req =
        method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (!token.empty()) {
      req += "Authorization: Bearer " + token + "\r\n";
    }
    if (!body.empty() || method == "POST") {
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    }
    return parse_http_response(http_exchange(this->admin_port_, req + "\r\n" + body));
  }
  api_response get(const std::string& target) const { return call("GET", target, token_); }

  std::string token_;
};

using admin_api_fixture = with_admin_api<bastiond_fixture>;

}  // namespace bastion::test
