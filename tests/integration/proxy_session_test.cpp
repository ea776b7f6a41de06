// Sessions relayed by the bastion in the username form (ssh LOGIN@TARGET@bastion) to a real
// OpenSSH sshd: exit codes, stdout and stderr apart, stdin in full, and every refusal with its
// reason on the client's stderr.
#include <openssl/sha.h>

#include <random>

#include "proxy_support.hpp"

namespace bastion::test {
namespace {

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

TEST_F(proxy_session, exec_relays_stdout_stderr_and_the_exit_code) {
  const auto r = exec(login() + "@t1", "echo out-line; echo err-line >&2; exit 3");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "out-line\n");
  EXPECT_CONTAINS(r.err, "err-line");
  EXPECT_EQ(r.out.find("err-line"), std::string::npos);
  EXPECT_CONTAINS(read_file(log_), "connected to \"t1\"");
}

TEST_F(proxy_session, stdin_arrives_whole) {
  std::mt19937_64 rng(3);
  std::string data(std::size_t{4} * 1024 * 1024, '\0');
  for (auto& c : data) {
    c = static_cast<char>(rng());
  }
  const auto r = exec(login() + "@t1", "sha256sum", data);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  std::string hex;
  for (const unsigned char b : digest) {
    static constexpr char digits[] = "0123456789abcdef";
    hex += digits[b >> 4];
    hex += digits[b & 0xF];
  }
  EXPECT_EQ(r.out.substr(0, 64), hex);
}

TEST_F(proxy_session, large_output_arrives_whole) {
  const auto r = exec(login() + "@t1", "head -c 8388608 /dev/zero | tr '\\0' x");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.size(), 8388608U);
  EXPECT_EQ(r.out.find_first_not_of('x'), std::string::npos);
}

TEST_F(proxy_session, refusals_say_why_on_stderr) {
  change_policy([&] {
    ok({"target", "add", "t2", "--host", "127.0.0.1", "--port", std::to_string(sshd_->port()),
        "--host-key",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIlJQbYTcnE4ZV4dlfpTy2oTBlxG2wSxiybqlsqmkuKo"});
    ok({"grant", "alice", "t2", "--login", login()});
    ok({"target", "add", "t3", "--host", "127.0.0.1", "--port", std::to_string(free_port()),
        "--host-key", sshd_->host_key()});
    ok({"grant", "alice", "t3", "--login", login()});
  });
  struct refusal {
    std::string destination;
    std::string reason;
  };
  for (const auto& c : std::vector<refusal>{
           {"nobody@t1", "bastion: user alice may not log in to t1 as nobody"},
           {login() + "@t9", "bastion: t9 is not a registered target"},
           {login() + "@t2", "bastion: the host key of t2 is " + sshd_->host_key_fingerprint()},
           {login() + "@t3", "bastion: cannot connect to t3 (127.0.0.1:"},
       }) {
    const auto r = exec(c.destination, "echo should-not-run");
    EXPECT_EQ(r.exit_code, 255) << c.destination;
    EXPECT_NE(r.err.find(c.reason), std::string::npos) << c.destination << ": " << r.err;
    EXPECT_EQ(r.out.find("should-not-run"), std::string::npos);
  }
}

TEST_F(proxy_session, only_granted_kinds_pass) {
  change_policy([&] { ok({"grant", "alice", "t1", "--login", login(), "--allow", "shell"}); });
  const auto r = exec(login() + "@t1", "echo should-not-run");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out.find("should-not-run"), std::string::npos);
}

}  // namespace
}  // namespace bastion::test
