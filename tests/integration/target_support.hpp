// A running bastiond with one target, t1: a real OpenSSH sshd that authorises the bastion's
// upstream key, registered with its host key, and granted to alice as the current login.
#pragma once

#include "proxy_support.hpp"

namespace bastion::test {

class proxy_session : public bastiond_fixture {
 protected:
  void SetUp() override {
    bastiond_fixture::SetUp();
    sshd_ = std::make_unique<sshd_server>();
    const std::string upstream = read_file((dir() / "upstream.pub").string());
    sshd_->authorize(upstream.substr(0, upstream.find('\n')));
    change_policy([&] {
      ok({"target", "add", "t1", "--host", "127.0.0.1", "--port", std::to_string(sshd_->port()),
          "--host-key", sshd_->host_key()});
      ok({"grant", "alice", "t1", "--login", login()});
    });
  }

  static std::string login() { return current_login(); }

  run_result exec(const std::string& destination, const std::string& command,
                  const std::string& stdin_data = "") {
    return ssh(destination, {alice_key_}, {"-q"}, command, stdin_data);
  }

  std::unique_ptr<sshd_server> sshd_;
};

}  // namespace bastion::test
