// Faults before authentication, against a real bastiond with sshd-like pre-auth limits: floods of
// stalled connections (slowloris before the banner and during the key exchange), thousands of
// them while a session moves data, brute force from one address, and running out of
// descriptors. Each test prints what it measured.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <regex>

#include <bastion/common/metrics.hpp>

#include "build_paths.hpp"
#include "target_support.hpp"

namespace bastion::test {
namespace {

using namespace std::chrono_literals;

double metric(const std::string& scrape, const std::string& series) {
  return metrics::value_of(scrape, series).value_or(-1);
}

std::string rejects(const char* reason) {
  return std::string("bastion_preauth_rejects_total{reason=\"") + reason + "\"}";
}

// Stalled clients: each connection from `sources` (127.0.0.x, `per_source` each) sends `hello`
// and then nothing; the descriptors stay open until the flood is destroyed.
class flood {
 public:
  flood(int port, int first_source, int sources, int per_source, const std::string& hello = "") {
    for (int s = 0; s < sources; ++s) {
      const std::string from = "127.0.0." + std::to_string(first_source + s);
      for (int i = 0; i < per_source; ++i) {
        const int fd = connect_loopback(port, from.c_str());
        if (fd < 0) {
          ++failed_;
          continue;
        }
        if (!hello.empty() && write(fd, hello.data(), hello.size()) < 0) {
          ++failed_;
        }
        fds_.push_back(fd);
      }
    }
  }
  ~flood() {
    for (const int fd : fds_) {
      close(fd);
    }
  }
  flood(const flood&) = delete;
  flood& operator=(const flood&) = delete;
  std::size_t size() const { return fds_.size(); }
  int failed() const { return failed_; }

 private:
  std::vector<int> fds_;
  int failed_ = 0;
};

// A version line, then the first 5 bytes of a packet whose rest never comes: stalled in KEX.
const std::string stalled_kex = std::string("SSH-2.0-slow\r\n") + std::string("\0\0\x01\0\x05", 5);

// The test opens thousands of descriptors at once.
void raise_open_files() {
  rlimit l{};
  getrlimit(RLIMIT_NOFILE, &l);
  l.rlim_cur = std::min<rlim_t>(l.rlim_max, 16384);
  setrlimit(RLIMIT_NOFILE, &l);
}

// The defaults of sshd (MaxStartups 10:30:100, PerSourceMaxStartups 10, PerSourcePenalties),
// with a grace time long enough to outlast each flood.
class preauth_fault : public jump_session {
 protected:
  std::string limits() const override {
    return "login_grace_time: 60s, max_auth_tries: 6, connect_timeout: 60s";
  }
  void SetUp() override {
    raise_open_files();
    jump_session::SetUp();
  }

  // Logs in from `source` with alice's key, retrying a connection dropped early (sshd's
  // MaxStartups drops it at random past `start`, as here): the attempts it took, 0 if none.
  int login_from(const std::string& source, int tries = 10) {
    for (int i = 1; i <= tries; ++i) {
      const auto r = ssh("alice", {alice_key_}, {"-o", "BindAddress=" + source});
      if (r.err.find("Authenticated to 127.0.0.1") != std::string::npos) {
        return i;
      }
      last_refusal_ = r.err;
      std::this_thread::sleep_for(100ms);
    }
    return 0;
  }
  std::string last_refusal_;
};

TEST_F(preauth_fault, slowloris_from_one_address_holds_only_its_share) {
  const pid_t pid = daemon_->pid();
  EXPECT_EQ(login_from("127.0.0.1"), 1);  // what a first session opens for good
  const std::size_t fds_before = open_fds(pid);
  const std::string fds_listed = fd_targets(pid);
  const long rss_before = rss_kib(pid);
  const auto started = std::chrono::steady_clock::now();
  {
    const flood silent(port_, 2, 1, 150);
    const flood in_kex(port_, 2, 1, 150, stalled_kex);
    ASSERT_EQ(silent.failed() + in_kex.failed(), 0);
    // Ten of the 300 are admitted (limits.per_source_max_startups), the rest told why and closed.
    ASSERT_TRUE(eventually([&] { return metric(scrape(), rejects("per_source")) >= 290; }, 20s))
        << scrape();
    const std::size_t fds_during = open_fds(pid);
    const int attempts = login_from("127.0.0.1");
    std::printf(
        "slowloris: 300 stalled connections from 127.0.0.2 (150 before the banner, 150 "
        "in KEX): %.0f refused per source in %.2fs; bastiond fds %zu -> %zu; a login "
        "from 127.0.0.1 took %d attempt(s)\n",
        metric(scrape(), rejects("per_source")),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
        fds_before, fds_during, attempts);
    EXPECT_GE(attempts, 1) << last_refusal_;
    // Ten held connections, refusals still lingering (at most 64), and the login's own.
    EXPECT_LE(fds_during, fds_before + 10 + 64 + 10) << fds_during;
  }
  EXPECT_LOGGED("connections from 127.0.0.2 are authenticating (limits.per_source_max_startups)");
  // Closed by their clients: everything they held is given back.
  EXPECT_TRUE(eventually([&] { return open_fds(pid) <= fds_before; }, 20s))
      << open_fds(pid) << " fds, " << fds_before << " before:\n"
      << fds_listed << "now:\n"
      << fd_targets(pid);
  std::printf("slowloris: after: fds %zu (before %zu), rss %ld KiB (before %ld KiB)\n",
              open_fds(pid), fds_before, rss_kib(pid), rss_before);
}

// Thousands of stalled connections from 200 addresses while an authenticated session moves data:
// at most limits.max_startups' `full` are held, the session goes on, and memory and descriptors
// come back once the flood ends.
TEST_F(preauth_fault, two_thousand_stalled_connections_leave_a_live_session_moving) {
  const pid_t pid = daemon_->pid();
  constexpr long bytes = 512L << 20;
  const std::vector<std::string> download{"sh", "-c",
                                          "ssh -F " + jump_config_ + " " + login() +
                                              "@t1 'head -c " + std::to_string(bytes) +
                                              " /dev/zero' | wc -c"};
  const auto timed = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = run(download, {.timeout = 120s});
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(std::strtol(r.out.c_str(), nullptr, 10), bytes) << r.out << r.err;
    return static_cast<double>(bytes) / 1048576.0 / s;
  };
  const double alone = timed();
  const std::size_t fds_before = open_fds(pid);
  const std::string fds_listed = fd_targets(pid);
  const long rss_before = rss_kib(pid);
  // The flood starts once the session's inner hop has authenticated, and holds until it ends.
  const int authenticated = count_in_log("inner session authenticated as");
  std::unique_ptr<flood> stalled;
  std::size_t fds_during = 0;
  std::thread flooder([&] {
    eventually([&] { return count_in_log("inner session authenticated as") > authenticated; }, 30s);
    stalled = std::make_unique<flood>(port_, 10, 200, 10);
    eventually(
        [&] { return metric(scrape(), "bastion_connections_total{result=\"refused\"}") >= 1900; },
        20s);
    fds_during = open_fds(pid);
  });
  const double loaded = timed();
  flooder.join();
  ASSERT_TRUE(stalled);
  EXPECT_EQ(stalled->failed(), 0);
  const std::string during = scrape();
  std::printf(
      "flood: %zu stalled connections from 200 addresses; refused: %.0f (max_startups "
      "%.0f, per_source %.0f); bastiond fds %zu -> %zu during\n",
      stalled->size(), metric(during, "bastion_connections_total{result=\"refused\"}"),
      metric(during, rejects("max_startups")), metric(during, rejects("per_source")), fds_before,
      fds_during);
  std::printf(
      "flood: a 512 MiB -J download moved %.0f MiB/s alone, %.0f MiB/s during the flood "
      "(%.2fx)\n",
      alone, loaded, loaded / alone);
  // limits.max_startups "10:30:100": never more than 100 held (plus refusals lingering, 64).
  EXPECT_GE(metric(during, rejects("max_startups")), 1800);
  EXPECT_LE(fds_during, fds_before + 100 + 64 + 10);
  stalled.reset();
  EXPECT_TRUE(eventually([&] { return open_fds(pid) <= fds_before; }, 30s))
      << open_fds(pid) << " fds, " << fds_before << " before:\n"
      << fds_listed << "now:\n"
      << fd_targets(pid);
  std::printf("flood: after: fds %zu (before %zu), rss %ld KiB (before %ld KiB)\n", open_fds(pid),
              fds_before, rss_kib(pid), rss_before);
  EXPECT_EQ(login_from("127.0.0.1"), 1) << last_refusal_;
}

// A flood of 2,000 connections, admitted up to limits.max_startups and held for a while, leaves
// bastiond's memory within 20% of its level before it once it ends.
TEST_F(preauth_fault, memory_comes_back_after_a_flood) {
  const pid_t pid = daemon_->pid();
  EXPECT_EQ(login_from("127.0.0.1"), 1);
  const long rss_before = rss_kib(pid);
  const std::size_t fds_before = open_fds(pid);
  long rss_peak = 0;
  for (int round = 0; round < 3; ++round) {
    const flood stalled(port_, 10, 200, 10, stalled_kex);
    std::this_thread::sleep_for(2s);
    rss_peak = std::max(rss_peak, rss_kib(pid));
  }
  EXPECT_TRUE(eventually([&] { return open_fds(pid) <= fds_before; }, 30s))
      << open_fds(pid) << " fds, " << fds_before << " before";
  // bastiond gives freed memory back within 5 s of the connections falling (server::arm_trim).
  EXPECT_TRUE(eventually([&] { return rss_kib(pid) <= rss_before * 12 / 10; }, 20s))
      << rss_kib(pid) << " KiB, " << rss_before << " KiB before";
  std::printf(
      "memory: 3 floods of 2000 connections in KEX: rss %ld KiB before, %ld KiB at the "
      "peak, %ld KiB after (%.2fx)\n",
      rss_before, rss_peak, rss_kib(pid),
      static_cast<double>(rss_kib(pid)) / static_cast<double>(rss_before));
}

// Short penalties, so that the test sees one expire: a source is refused once more than 3 s of
// penalty are ahead of it, each failed connection adding 2 s (so two or three, as fast as they
// come on a loaded machine).
class preauth_penalty : public preauth_fault {
 protected:
  std::string limits() const override {
    return "login_grace_time: 60s, max_auth_tries: 6, connect_timeout: 60s, "
           "penalties: { authfail: 2s, min: 3s, max: 5s }";
  }
};

TEST_F(preauth_penalty, brute_force_is_penalised_then_let_in_after_the_penalty) {
  const std::string stranger = make_ssh_key(dir(), "stranger", "ed25519");
  const auto t0 = std::chrono::steady_clock::now();
  int admitted = 0;
  run_result refused;
  for (int i = 0; i < 20 && refused.err.empty(); ++i) {
    const auto r = ssh("alice", {stranger}, {"-o", "BindAddress=127.0.0.5"});
    EXPECT_EQ(r.exit_code, 255);
    if (r.err.find("try again in") != std::string::npos) {
      refused = r;
    } else {
      EXPECT_CONTAINS(r.err, "Permission denied (publickey)");
      ++admitted;
    }
  }
  ASSERT_FALSE(refused.err.empty()) << "never penalised";
  EXPECT_LE(admitted, 4);
  EXPECT_CONTAINS(refused.err, "too many failed or abandoned logins from your address");
  EXPECT_LOGGED("src=127.0.0.5:");
  EXPECT_LOGGED("127.0.0.5 is penalised for");
  // The penalty is the address's: alice's own key from there is refused too, from elsewhere not.
  EXPECT_CONTAINS(ssh("alice", {alice_key_}, {"-o", "BindAddress=127.0.0.5"}).err, "try again in");
  EXPECT_EQ(login_from("127.0.0.6"), 1) << last_refusal_;
  // Once it has run out, the address is let in.
  int attempts = 0;
  const bool let_in = eventually(
      [&] {
        ++attempts;
        return ssh("alice", {alice_key_}, {"-o", "BindAddress=127.0.0.5"})
                   .err.find("Authenticated to 127.0.0.1") != std::string::npos;
      },
      10s);
  std::printf(
      "brute force: %d failed connections from 127.0.0.5, then refused with \"%s\"; let "
      "in %.1fs after the first, %d tries after\n",
      admitted,
      std::regex_replace(refused.err.substr(refused.err.find("too many")), std::regex("\\s+$"), "")
          .c_str(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), attempts);
  EXPECT_TRUE(let_in);
  EXPECT_GE(metric(scrape(), rejects("penalty")), 2);
}

// bastiond with few descriptors (64): a flood past them is closed at accept once the last 16 are
// reached (kept for the sessions already in), with no busy loop; bastiond says so and serves
// again once the flood ends. The pre-auth limits are raised
// so that the descriptors run out first.
class preauth_emfile : public preauth_fault {
 protected:
  std::string limits() const override {
    return "login_grace_time: 60s, max_auth_tries: 6, max_startups: \"1000\", "
           "per_source_max_startups: 0";
  }
};

TEST_F(preauth_emfile, out_of_descriptors_backs_off_and_recovers) {
  ASSERT_EQ(daemon_->stop(SIGTERM), 0);
  log_ = (dir() / "emfile.log").string();
  daemon_ = std::make_unique<child_process>(
      std::vector<std::string>{"prlimit", "--nofile=64:64", bastion::test::bastiond_path(),
                               "--config", config_},
      log_, unprivileged_uid());
  ASSERT_TRUE(eventually([&] { return count_in_log("listening on") > 0; }, 30s)) << read_file(log_);
  const pid_t pid = daemon_->pid();
  {
    const flood stalled(port_, 20, 9, 10, "SSH-2.0-slow\r\n");  // 90, past the 64 descriptors
    ASSERT_TRUE(
        eventually([&] { return count_in_log("open-files limit is almost reached") > 0; }, 20s))
        << read_file(log_);
    const double cpu0 = cpu_seconds(pid);
    std::this_thread::sleep_for(3s);
    const double busy = cpu_seconds(pid) - cpu0;
    std::printf(
        "emfile: %zu connections against 64 descriptors: bastiond used %.2f CPU s in 3 s "
        "at the descriptor reserve; fds %zu\n",
        stalled.size(), busy, open_fds(pid));
    EXPECT_LT(busy, 0.5) << "accept must back off, not spin";
  }
  EXPECT_LOGGED("raise the open-files limit");
  // The flood's connections end (their clients closed them); logins work again.
  EXPECT_GE(login_from("127.0.0.1", 30), 1) << last_refusal_ << read_file(log_);
  EXPECT_GE(metric(scrape(), rejects("out_of_descriptors")), 1);
  EXPECT_EQ(count_in_log("Too many open files"), 0) << read_file(log_);
}

}  // namespace
}  // namespace bastion::test
