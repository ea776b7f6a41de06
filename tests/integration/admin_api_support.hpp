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

// An ssh client with a terminal session (-tt) whose keyboard is a pipe the test types into, as a
// person at a prompt would; its output goes to `log`.
class keyboard_session {
 public:
  // `argv`: the ssh command line; `dir` holds the pipe.
  keyboard_session(const std::vector<std::string>& argv, const std::filesystem::path& dir,
                   const std::string& log);
  ~keyboard_session();
  keyboard_session(const keyboard_session&) = delete;
  keyboard_session& operator=(const keyboard_session&) = delete;

  // Sends `keys` as typed (Enter is "\r"); false if the pipe refused them.
  bool type(const std::string& keys) const;
  child_process& client() { return *client_; }

 private:
  int keys_ = -1;  // held open for writing: the client sees no end of input
  std::unique_ptr<child_process> client_;
};

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

  // The id of the newest session that matches the SQL `condition` ("ended_at IS NULL"), or "".
  std::string session_where(const std::string& condition) const {
    const std::string id = postgres_cluster::instance().psql(
        this->dbname_,
        "SELECT id FROM sessions WHERE " + condition + " ORDER BY started_at DESC LIMIT 1");
    return id.substr(0, id.find('\n'));
  }

  std::string token_;
};

using admin_api_fixture = with_admin_api<bastiond_fixture>;

}  // namespace bastion::test
