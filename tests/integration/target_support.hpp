// A running bastiond with one target, t1: a real OpenSSH sshd that authorises the bastion's
// upstream key, registered with its host key, and granted to alice as the current login.
#pragma once

#include "proxy_support.hpp"

namespace bastion::test {

class proxy_session : public bastiond_fixture {
 protected:
  void SetUp() override {
    bastiond_fixture::SetUp();
    sshd_ = std::make_unique<sshd_server>(sshd_config());
    const std::string upstream = read_file((dir() / "upstream.pub").string());
    sshd_->authorize(upstream.substr(0, upstream.find('\n')));
    change_policy([&] {
      ok({"target", "add", "t1", "--host", "127.0.0.1", "--port", std::to_string(sshd_->port()),
          "--host-key", sshd_->host_key()});
      ok({"grant", "alice", "t1", "--login", login()});
    });
  }

  static std::string login() { return current_login(); }
  // More sshd_config lines for the target.
  virtual std::string sshd_config() const { return {}; }

  run_result exec(const std::string& destination, const std::string& command,
                  const std::string& stdin_data = "") {
    return ssh(destination, {alice_key_}, {"-q"}, command, stdin_data);
  }

  std::unique_ptr<sshd_server> sshd_;
};

// The same, reached with `ssh -F jump_config_ LOGIN@t1`: through the bastion by ProxyJump.
class jump_session : public proxy_session {
 protected:
  // Many sessions at once on two loaded cores: the handshakes may take longer than the
  // production defaults expect of an idle target; these tests check integrity, not latency. And
  // fifty logins at once from one address are more than sshd-like pre-auth limits admit: the
  // limits are raised as for a CI runner that opens many sessions through one address.
  std::string limits() const override {
    return "login_grace_time: 60s, max_auth_tries: 6, connect_timeout: 60s, "
           "max_startups: \"200\", per_source_max_startups: 200";
  }

  void SetUp() override {
    proxy_session::SetUp();
    jump_config_ = jump_config(alice_key_, alice_key_);
  }

  // The ssh command line for `command` on t1 with `extra` options: through the bastion by -J
  // (ProxyJump in jump_config_), or by the username form.
  std::vector<std::string> client_argv(bool by_jump, const std::vector<std::string>& extra,
                                       const std::string& command) const {
    if (!by_jump) {
      return ssh_argv(login() + "@t1", {alice_key_}, extra, command);
    }
    std::vector<std::string> argv{"ssh", "-F", jump_config_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {login() + "@t1", command});
    return argv;
  }

  std::string jump_config_;
};

}  // namespace bastion::test
