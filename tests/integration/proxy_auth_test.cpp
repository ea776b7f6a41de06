// Outer authentication with a stock OpenSSH client against a real bastiond: public keys only,
// default deny, one reply for every refusal, max_auth_tries and login_grace_time enforced.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <thread>

#include "proxy_support.hpp"

namespace bastion::test {
namespace {

// These tests fail logins and reset connections from 127.0.0.1 on purpose, more than sshd-like
// pre-auth limits let one address do: they exempt it, as an operator exempts a monitoring probe.
// tests/fault/ covers those limits.
class proxy_auth : public bastiond_fixture {
 protected:
  std::string limits() const override {
    return "login_grace_time: 2s, max_auth_tries: 6, max_startups: \"1000\", "
           "penalty_exempt: [\"127.0.0.1\"]";
  }
};

TEST_F(proxy_auth, a_registered_key_authenticates) {
  const auto r = ssh("alice", {alice_key_});
  EXPECT_CONTAINS(r.err, "Authenticated to 127.0.0.1");
  EXPECT_LOGGED("user=\"alice\" authenticated with SHA256:");
  EXPECT_NE(audit_rows("kind = 'auth'", 1).find("ok alice 127.0.0.1:"), std::string::npos)
      << read_file(log_);
}

TEST_F(proxy_auth, the_username_form_takes_the_user_from_the_key) {
  const auto r = ssh("deploy@web1", {alice_key_});
  EXPECT_CONTAINS(r.err, "Authenticated to 127.0.0.1");
  EXPECT_LOGGED("user=\"alice\" authenticated with SHA256:");
  // The audit row's actor is the key's owner; what the client sent is kept beside it.
  EXPECT_CONTAINS(audit_rows("kind = 'auth' AND result = 'ok' AND detail->>'sent_user' = "
                             "'deploy@web1'",
                             1),
                  "ok alice 127.0.0.1:");
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
    const std::size_t log_before = read_file(log_).size();  // each case checks its own lines
    const auto r = ssh(c.user, {c.key});
    EXPECT_EQ(r.exit_code, 255) << c.user;
    EXPECT_CONTAINS(r.err, "Permission denied (publickey).");
    EXPECT_EQ(r.err.find("Authenticated to"), std::string::npos) << c.user;
    EXPECT_CONTAINS(log_once(c.logged, log_before).substr(log_before), c.logged);
  }
  const std::string rows = audit_rows("kind = 'auth'", 5);
  EXPECT_EQ(std::count(rows.begin(), rows.end(), ','), 4) << rows;
  EXPECT_EQ(rows.find("ok "), std::string::npos) << rows;
  EXPECT_CONTAINS(rows, "denied carol 127.0.0.1:");
  EXPECT_CONTAINS(rows, "denied root 127.0.0.1:");
}

// The name a client sends is stored bounded: a refused 300-byte name is cut in the audit row.
TEST_F(proxy_auth, a_long_user_name_is_stored_bounded) {
  const std::string name(300, 'x');
  EXPECT_EQ(ssh(name, {alice_key_}).exit_code, 255);
  const std::string rows = audit_rows("kind = 'auth'", 1);
  EXPECT_CONTAINS(rows, "denied " + std::string(100, 'x') + "...(+200 bytes)");
  EXPECT_EQ(rows.find(name), std::string::npos) << rows;
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
  const std::string log = log_once("too many authentication failures");
  EXPECT_CONTAINS(log, "attempt=6");
  EXPECT_EQ(log.find("attempt=7"), std::string::npos) << log;
  EXPECT_CONTAINS(log, "too many authentication failures (max_auth_tries 6)");
  EXPECT_EQ(r.err.find("Offering public key: " + keys[7]), std::string::npos)
      << "the 8th key must not be reached";
}

// Connections reset by their client at once (a scanner, a churn of aborted handshakes): each row
// and log line names the client's address, which accept() gave, even once the socket is gone.
TEST_F(proxy_auth, connections_reset_at_once_are_audited_with_their_address) {
  constexpr int resets = 200;
  for (int i = 0; i < resets; ++i) {
    const int fd = connect_loopback(port_);
    ASSERT_GE(fd, 0);
    const linger reset{1, 0};  // close() sends RST
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd);
  }
  const auto count = [&](const std::string& where) {
    return count_rows("audit_events WHERE kind = 'connection' AND " + where);
  };
  EXPECT_TRUE(eventually([&] { return count("true") >= resets; }, std::chrono::seconds(30)))
      << count("true") << " connection rows";
  EXPECT_EQ(count("source_addr LIKE '127.0.0.1:%'"), count("true"));
  EXPECT_EQ(read_file(log_).find("src=?"), std::string::npos);
}

// A client that sends `bytes` after reading the banner, then closes its side; returns once the
// bastion has closed too (or after 5 s).
void raw_client(int port, const std::string& bytes) {
  const int fd = connect_loopback(port);
  ASSERT_GE(fd, 0);
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  ASSERT_GT(poll(&p, 1, 5000), 0);
  ASSERT_GT(read(fd, buf, sizeof buf), 0);  // the bastion's version line
  if (!bytes.empty()) {
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  shutdown(fd, SHUT_WR);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline && poll(&p, 1, 100) >= 0) {
    if ((p.revents & POLLIN) != 0 && read(fd, buf, sizeof buf) <= 0) {
      break;
    }
  }
  ::close(fd);
}

// Each way a client can fail before the key exchange is logged and audited with its own reason,
// never a stale or an empty one.
TEST_F(proxy_auth, early_failures_say_what_the_client_did) {
  struct early {
    std::string bytes;
    std::string reason;
  };
  for (const auto& c : std::vector<early>{
           {"", "the client closed the connection before it sent its SSH version line"},
           {"SSH-2.0-probe\r\n", "key exchange failed: the client closed the connection\""},
           {"GET / HTTP/1.0\r\n\r\n", "No version of SSH protocol usable (banner: GET / HTTP/1.0)"},
           {std::string("SSH-2.0-probe\r\n") + std::string(16, '\0'),
            "the client sent a packet that libssh refused without a reason"},
           {"SSH-2.0-probe\r\n\x7f\xff\xff\xff" + std::string(12, '\0'), "Packet len too high"},
       }) {
    const std::size_t before = read_file(log_).size();
    raw_client(port_, c.bytes);
    EXPECT_TRUE(eventually([&] {
      const std::string added = read_file(log_).substr(before);
      return added.find(c.reason) != std::string::npos;
    })) << c.reason;
    const std::string added = read_file(log_).substr(before);
    EXPECT_CONTAINS(added, c.reason);
    EXPECT_EQ(added.find("closed: \"key exchange failed: \""), std::string::npos) << added;
  }
  const std::string rows = audit_rows("kind = 'connection'", 5);
  EXPECT_EQ(std::count(rows.begin(), rows.end(), ','), 4) << rows;
}

TEST_F(proxy_auth, an_idle_connection_is_closed_after_the_login_grace_time) {
  const int fd = connect_loopback(port_);
  ASSERT_GE(fd, 0);
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
  EXPECT_LOGGED("not authenticated within login_grace_time 2s");
}

}  // namespace
}  // namespace bastion::test

namespace bastion::test {
namespace {

// A database that takes no audit rows: the rows of admitted connections wait (none is dropped),
// and once limits.journal_backlog of them wait, new connections are told why and closed.
class proxy_auth_journal_behind : public bastiond_fixture {
 protected:
  std::string limits() const override {
    return "login_grace_time: 10s, max_auth_tries: 6, journal_backlog: 10, "
           "penalty_exempt: [\"127.0.0.1\"]";
  }
};

TEST_F(proxy_auth_journal_behind, new_connections_wait_for_the_audit_trail) {
  const auto lock = lock_audit_table();
  const std::string stranger = make_ssh_key(dir(), "stranger", "ed25519");
  int admitted = 0;
  run_result refused;
  for (int i = 0; i < 20 && refused.err.empty(); ++i) {
    const auto r = ssh("alice", {stranger});
    EXPECT_EQ(r.exit_code, 255);
    if (r.err.find("the bastion's audit trail is behind") != std::string::npos) {
      refused = r;
    } else {
      ++admitted;
    }
  }
  ASSERT_FALSE(refused.err.empty()) << "no connection was refused while the journal was behind";
  EXPECT_LOGGED("limits.journal_backlog 10");
  unlock_audit_table();
  // Every admitted connection's rows land: its refused attempt and its end.
  const auto count = [&](const std::string& kind) {
    return count_rows("audit_events WHERE kind = '" + kind + "'");
  };
  EXPECT_TRUE(eventually([&] { return count("connection") == admitted; }))
      << count("connection") << " connection rows for " << admitted << " admitted";
  EXPECT_EQ(count("auth"), admitted);
  // And new connections are served again.
  EXPECT_CONTAINS(ssh("alice", {alice_key_}).err, "Authenticated to 127.0.0.1");
}

}  // namespace
}  // namespace bastion::test
