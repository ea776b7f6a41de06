// Outer authentication with a stock OpenSSH client against a real bastiond: public keys only,
// default deny, one reply for every refusal, max_auth_tries and login_grace_time enforced.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <thread>

#include "bastionctl_support.hpp"
#include "sshd.hpp"

namespace bastion::test {
namespace {

class proxy_auth : public bastionctl_test {
 protected:
  void SetUp() override {
    bastionctl_test::SetUp();
    port_ = free_port();
    config_ = write_config(port_, "login_grace_time: 2s, max_auth_tries: 6");
    alice_key_ = make_ssh_key(dir(), "alice", "ed25519");
    bob_key_ = make_ssh_key(dir(), "bob", "ed25519");
    ok({"user", "add", "alice", "--key", alice_key_ + ".pub"});
    ok({"user", "add", "bob", "--key", bob_key_ + ".pub"});
    ok({"user", "disable", "bob"});
    const std::string outer = read_file((dir() / "outer.pub").string());
    known_hosts_ =
        dir().write("known_hosts", "[127.0.0.1]:" + std::to_string(port_) + " " + outer).string();

    log_ = (dir() / "bastiond.log").string();
    daemon_ = std::make_unique<child_process>(
        std::vector<std::string>{BASTIOND_PATH, "--config", config_}, log_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (read_file(log_).find("listening on") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_NE(read_file(log_).find("listening on"), std::string::npos) << read_file(log_);
  }

  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(SIGTERM), 0) << read_file(log_);
    }
  }

  run_result ssh(const std::string& user, const std::vector<std::string>& keys,
                 const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> argv{"ssh",       "-F",
                                  "/dev/null", "-v",
                                  "-o",        "BatchMode=yes",
                                  "-o",        "StrictHostKeyChecking=yes",
                                  "-o",        "UserKnownHostsFile=" + known_hosts_,
                                  "-o",        "IdentitiesOnly=yes",
                                  "-o",        "IdentityAgent=none",
                                  "-o",        "ConnectTimeout=10",
                                  "-p",        std::to_string(port_)};
    for (const auto& k : keys) {
      argv.insert(argv.end(), {"-i", k});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {user + "@127.0.0.1", "true"});
    return run(argv, {.timeout = std::chrono::seconds(30)});
  }

  // Audit rows are written off the io threads: wait for them to land.
  std::string audit_rows(const std::string& where, int expected) const {
    std::string out;
    for (int i = 0; i < 200; ++i) {
      out = postgres_cluster::instance().psql(dbname_,
                                              "SELECT string_agg(result || ' ' || actor || ' ' || "
                                              "source_addr, ',' ORDER BY id) FROM audit_events "
                                              "WHERE " +
                                                  where);
      if (std::count(out.begin(), out.end(), ',') + (out.size() > 1 ? 1 : 0) >= expected) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return out;
  }

  int port_ = 0;
  std::string config_;
  std::string alice_key_;
  std::string bob_key_;
  std::string known_hosts_;
  std::string log_;
  std::unique_ptr<child_process> daemon_;
};

TEST_F(proxy_auth, a_registered_key_authenticates) {
  const auto r = ssh("alice", {alice_key_});
  EXPECT_CONTAINS(r.err, "Authenticated to 127.0.0.1");
  EXPECT_CONTAINS(read_file(log_), "user=\"alice\" authenticated with SHA256:");
  EXPECT_NE(audit_rows("kind = 'auth'", 1).find("ok alice 127.0.0.1:"), std::string::npos)
      << read_file(log_);
}

TEST_F(proxy_auth, the_username_form_takes_the_user_from_the_key) {
  const auto r = ssh("deploy@web1", {alice_key_});
  EXPECT_CONTAINS(r.err, "Authenticated to 127.0.0.1");
}

TEST_F(proxy_auth, every_refusal_gets_the_same_reply) {
  struct refusal {
    std::string user;
    std::string key;
    std::string logged;
  };
  for (const auto& c :
       std::vector<refusal>{{"carol", alice_key_, "belongs to another user"},
                            {"alice", bob_key_, "belongs to another user"},
                            {"bob", bob_key_, "user bob is disabled"},
                            {"root", alice_key_, "user name \\\"root\\\" is refused"},
                            {"alice", make_ssh_key(dir(), "stranger", "ed25519"), "unknown key"}}) {
    const auto r = ssh(c.user, {c.key});
    EXPECT_EQ(r.exit_code, 255) << c.user;
    EXPECT_CONTAINS(r.err, "Permission denied (publickey).");
    EXPECT_EQ(r.err.find("Authenticated to"), std::string::npos) << c.user;
    EXPECT_CONTAINS(read_file(log_), c.logged);
  }
  const std::string rows = audit_rows("kind = 'auth'", 5);
  EXPECT_EQ(std::count(rows.begin(), rows.end(), ','), 4) << rows;
  EXPECT_EQ(rows.find("ok "), std::string::npos) << rows;
  EXPECT_CONTAINS(rows, "denied carol 127.0.0.1:");
  EXPECT_CONTAINS(rows, "denied root 127.0.0.1:");
}

TEST_F(proxy_auth, passwords_are_never_offered) {
  const auto r = ssh("alice", {}, {"-o", "PreferredAuthentications=password,keyboard-interactive"});
  EXPECT_EQ(r.exit_code, 255);
  const std::string offered = "Authentications that can continue: publickey";
  const auto at = r.err.find(offered);
  ASSERT_NE(at, std::string::npos) << r.err;
  EXPECT_TRUE(r.err[at + offered.size()] == '\r' || r.err[at + offered.size()] == '\n')
      << "publickey only";
  EXPECT_CONTAINS(r.err, "Permission denied (publickey).");
}

TEST_F(proxy_auth, the_seventh_attempt_is_never_heard) {
  std::vector<std::string> keys;
  keys.reserve(8);
  for (int i = 0; i < 8; ++i) {
    keys.push_back(make_ssh_key(dir(), "k" + std::to_string(i), "ed25519"));
  }
  const auto r = ssh("alice", keys);
  EXPECT_EQ(r.exit_code, 255);
  const std::string log = read_file(log_);
  EXPECT_CONTAINS(log, "attempt=6");
  EXPECT_EQ(log.find("attempt=7"), std::string::npos) << log;
  EXPECT_CONTAINS(log, "too many authentication failures (max_auth_tries 6)");
  EXPECT_EQ(r.err.find("Offering public key: " + keys[7]), std::string::npos)
      << "the 8th key must not be reached";
}

TEST_F(proxy_auth, an_idle_connection_is_closed_after_the_login_grace_time) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const auto start = std::chrono::steady_clock::now();
  char buf[4096];
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - start < std::chrono::seconds(15)) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 500) > 0) {
      closed = read(fd, buf, sizeof buf) <= 0;  // the banner first, then EOF
    }
  }
  ::close(fd);
  EXPECT_TRUE(closed) << "the slow client must be dropped";
  EXPECT_CONTAINS(read_file(log_), "not authenticated within login_grace_time 2s");
}

}  // namespace
}  // namespace bastion::test
