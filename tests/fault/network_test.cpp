// Faults of the network between the bastion and its targets, made real in a network namespace of
// the test's own: a target that never answers a SYN (an nft DROP rule on its port).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <thread>

#include "target_support.hpp"

namespace bastion::test {
namespace {

using namespace std::chrono_literals;

// Moves the test's thread into a new network namespace with only loopback (up), so that every
// process it starts from then on (bastiond, sshd, ssh) runs there, and nft rules made in it go
// with it. PostgreSQL, on a Unix socket, stays reachable. The destructor moves the thread back.
class private_network {
 public:
  private_network() : original_(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
    if (original_ < 0 || unshare(CLONE_NEWNET) != 0) {
      error_ = "cannot make a network namespace (the fault tests run as root): " +
               std::system_category().message(errno);
      return;
    }
    entered_ = true;
    const auto up = run({"ip", "link", "set", "lo", "up"});
    if (up.exit_code != 0) {
      error_ = "ip link set lo up: " + up.err;
    }
  }
  ~private_network() {
    // Every later test of the binary would run in this namespace: failing to leave it is fatal.
    if (entered_ && setns(original_, CLONE_NEWNET) != 0) {
      std::perror("setns back to the original network namespace");
      std::abort();
    }
    if (original_ >= 0) {
      close(original_);
    }
  }
  // Empty once the thread is inside a namespace of its own with loopback up.
  const std::string& error() const { return error_; }
  private_network(const private_network&) = delete;
  private_network& operator=(const private_network&) = delete;

  // SYNs to 127.0.0.1:`port` vanish: no SYN-ACK, no RST. Only ever inside the namespace.
  void blackhole(int port) const {
    ASSERT_TRUE(entered_ && error_.empty()) << error_;
    const auto r = run({"nft",
                        "add table inet fault; "
                        "add chain inet fault input { type filter hook input priority 0; }; "
                        "add rule inet fault input tcp dport " +
                            std::to_string(port) + " drop"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

 private:
  int original_;
  bool entered_ = false;
  std::string error_;
};

// Whether anything (a SYN-ACK or an RST) answers a connection to `port` within `wait`.
bool answers_within(int port, std::chrono::milliseconds wait) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);  // NOLINT: sockaddr API
  pollfd p{fd, POLLOUT, 0};
  const int n = poll(&p, 1, static_cast<int>(wait.count()));
  close(fd);
  return n != 0;
}

class network_fault : public jump_session {
 protected:
  std::string limits() const override {
    return "login_grace_time: 60s, max_auth_tries: 6, connect_timeout: 3s, "
           "max_startups: \"200\", per_source_max_startups: 200";
  }
  void SetUp() override {
    net_ = std::make_unique<private_network>();
    // Nothing may start, nor any rule be made, outside the namespace.
    ASSERT_EQ(net_->error(), "");
    jump_session::SetUp();
  }
  std::unique_ptr<private_network> net_;
};

TEST_F(network_fault, a_blackholed_target_times_out_and_holds_no_one_else_up) {
  const int dark_port = free_port();
  net_->blackhole(dark_port);
  ASSERT_TRUE(answers_within(sshd_->port(), 1000ms));  // the check below can tell
  ASSERT_FALSE(answers_within(dark_port, 1000ms)) << "the DROP rule lets SYNs through";
  change_policy([&] {
    ok({"target", "add", "dark", "--host", "127.0.0.1", "--port", std::to_string(dark_port),
        "--host-key", sshd_->host_key()});
    ok({"grant", "alice", "dark", "--login", login()});
  });
  const pid_t pid = daemon_->pid();
  ASSERT_EQ(exec(login() + "@t1", "echo warm").out, "warm\n");
  const std::size_t fds_before = open_fds(pid);

  const auto started = std::chrono::steady_clock::now();
  run_result dark;
  std::chrono::duration<double> dark_took{};
  std::jthread waiting([&] {
    dark = exec(login() + "@dark", "echo should-not-run");
    dark_took = std::chrono::steady_clock::now() - started;
  });
  // While that dial waits on its SYN (its socket in SYN-SENT), other sessions go on.
  const std::string syn_sent = "dport = :" + std::to_string(dark_port);
  ASSERT_TRUE(eventually(
      [&] {
        return run({"ss", "-Htn", "state", "syn-sent", syn_sent}).out.find(':') !=
               std::string::npos;
      },
      10s));
  const auto other_started = std::chrono::steady_clock::now();
  const auto other = exec(login() + "@t1", "echo meanwhile");
  const std::chrono::duration<double> other_took = std::chrono::steady_clock::now() - other_started;
  waiting.join();

  std::printf(
      "blackhole: the dial to dark failed after %.2fs (connect_timeout 3s); a session to "
      "t1 meanwhile took %.2fs; bastiond fds %zu before\n",
      dark_took.count(), other_took.count(), fds_before);
  EXPECT_EQ(other.out, "meanwhile\n") << other.err;
  EXPECT_EQ(dark.exit_code, 255);
  EXPECT_CONTAINS(dark.err, "bastion: connecting to dark timed out after 3s");
  EXPECT_EQ(dark.out.find("should-not-run"), std::string::npos);
  EXPECT_GE(dark_took, 3s);
  EXPECT_LT(dark_took, 15s);
  EXPECT_LT(other_took, dark_took);
  EXPECT_TRUE(eventually([&] { return open_fds(pid) <= fds_before; }, 20s))
      << open_fds(pid) << " fds, " << fds_before << " before:\n"
      << fd_targets(pid);
}

}  // namespace
}  // namespace bastion::test
