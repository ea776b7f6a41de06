// bench/echo: the keystroke echo round trip that a user typing at a prompt feels. `ssh -tt -J`
// runs `stty raw -echo; exec cat` on the target in a terminal, so that each byte typed comes back
// once, through bastiond (recording, as in production), through a second bastiond that records
// nothing, and through an OpenSSH sshd used as the jump host, in alternating rounds of the same
// client, target and terminal. Each keystroke waits for its echo before the next. Prints each
// path's p50, p99, p99.9 and maximum, the goal's ratios (both <= 1.0x OpenSSH's), and recording
// on against off.
// Usage: echo_bench [keystrokes per path, default 2000]
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <bastion/common/escape.hpp>

#include "jump_harness.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

// `ssh` in a terminal of its own, as a user's terminal runs it.
class terminal_ssh {
 public:
  explicit terminal_ssh(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));  // execvp takes char*; not written
    }
    args.push_back(nullptr);
    pid_ = forkpty(&master_, nullptr, nullptr, nullptr);
    if (pid_ < 0) {
      throw std::system_error(errno, std::generic_category(), "forkpty");
    }
    if (pid_ == 0) {
      execvp(args[0], args.data());
      _exit(127);
    }
  }
  ~terminal_ssh() {
    ::close(master_);  // ssh sees its terminal hang up and leaves
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  terminal_ssh(const terminal_ssh&) = delete;
  terminal_ssh& operator=(const terminal_ssh&) = delete;

  // Types `c` and waits up to `limit` for it to come back; the round trip, or nothing.
  std::optional<std::chrono::duration<double, std::micro>> type(char c,
                                                                std::chrono::milliseconds limit) {
    const auto start = clock_type::now();
    if (::write(master_, &c, 1) != 1) {
      throw std::system_error(errno, std::generic_category(), "write to the terminal");
    }
    const auto deadline = start + limit;
    while (clock_type::now() < deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (read_some(static_cast<int>(std::max<long>(1, left.count()))).find(c) !=
          std::string_view::npos) {
        return clock_type::now() - start;
      }
    }
    return std::nullopt;
  }

  // Waits until the target says READY, which it prints once its terminal is raw and cat is about
  // to start; by then ssh has put this terminal in raw mode too, so nothing echoes locally.
  void wait_ready() {
    const auto deadline = clock_type::now() + std::chrono::seconds(60);
    while (seen_.find("READY") == std::string::npos) {
      if (clock_type::now() > deadline) {
        throw std::runtime_error("the session did not start: " + bastion::escape(seen_, 400));
      }
      read_some(200);
    }
    drain();
  }

 private:
  // Waits up to `timeout_ms` for the terminal to print; what one read got (empty: nothing). The
  // last 4 KiB printed are kept for errors (a login banner may come before READY).
  std::string_view read_some(int timeout_ms) {
    pollfd p{master_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) {
      return {};
    }
    const ssize_t n = ::read(master_, buf_.data(), buf_.size());
    if (n <= 0) {
      throw std::runtime_error("ssh left: " + bastion::escape(seen_, 400));
    }
    seen_.append(buf_.data(), static_cast<std::size_t>(n));
    if (seen_.size() > 4096) {
      seen_.erase(0, seen_.size() - 4096);
    }
    return {buf_.data(), static_cast<std::size_t>(n)};
  }

  // Reads what the terminal printed until it has been quiet for 200 ms.
  void drain() {
    for (int round = 0; round < 100; ++round) {
      pollfd p{master_, POLLIN, 0};
      char buf[256];
      if (::poll(&p, 1, 200) <= 0 || ::read(master_, buf, sizeof buf) <= 0) {
        return;
      }
    }
    throw std::runtime_error("the terminal does not stop printing");
  }

  int master_ = -1;
  pid_t pid_ = -1;
  std::string seen_;
  std::array<char, 256> buf_{};
};

double percentile(std::vector<double> v, double p) {
  const auto at = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at), v.end());
  return v[at];
}

void round_of(terminal_ssh& t, int keystrokes, std::vector<double>& out) {
  for (int i = 0; i < keystrokes; ++i) {
    const char c = static_cast<char>('a' + i % 26);
    const auto rtt = t.type(c, std::chrono::seconds(5));
    if (!rtt) {
      throw std::runtime_error("a keystroke did not come back within 5 s");
    }
    out.push_back(rtt->count());
  }
}

struct path {
  const char* name;
  std::unique_ptr<terminal_ssh> terminal;
  std::vector<double> rtt;
};

int bench(long keystrokes) {
  const bastion::bench::jump_harness h({});
  // The same bastiond without recording: what the recorder adds to a keystroke's round trip.
  const bastion::bench::jump_harness off({.record = false});
  const std::string command = "stty raw -echo; echo READY; exec cat";
  std::vector<path> paths;
  paths.push_back(
      {"bastiond", std::make_unique<terminal_ssh>(h.ssh(h.via_bastion(), command, {"-tt"}))});
  paths.push_back({"bastiond, recording off",
                   std::make_unique<terminal_ssh>(off.ssh(off.via_bastion(), command, {"-tt"}))});
  paths.push_back(
      {"OpenSSH -J", std::make_unique<terminal_ssh>(h.ssh(h.via_openssh(), command, {"-tt"}))});
  for (auto& p : paths) {
    p.terminal->wait_ready();
  }
  constexpr int rounds = 10;
  const int per_round = static_cast<int>(std::max<long>(1, keystrokes / rounds));
  for (int r = 0; r < rounds; ++r) {
    for (auto& p : paths) {
      round_of(*p.terminal, per_round, p.rtt);
    }
  }
  std::printf("keystroke echo, %zu per path, in alternating rounds:\n", paths[0].rtt.size());
  for (const auto& p : paths) {
    std::printf("  %-24s p50 %5.0f us  p99 %5.0f us  p99.9 %5.0f us  max %6.0f us\n", p.name,
                percentile(p.rtt, 0.5), percentile(p.rtt, 0.99), percentile(p.rtt, 0.999),
                percentile(p.rtt, 1.0));
  }
  const auto& ours = paths[0].rtt;
  const auto& theirs = paths[2].rtt;
  const double r50 = percentile(ours, 0.5) / percentile(theirs, 0.5);
  const double r99 = percentile(ours, 0.99) / percentile(theirs, 0.99);
  const auto verdict = [](bool met) { return met ? "met" : "NOT met"; };
  std::printf(
      "  bastiond against OpenSSH -J: p50 x%.2f (goal <= 1.0: %s), p99 x%.2f (goal <= 1.0: %s)\n",
      r50, verdict(r50 <= 1.0), r99, verdict(r99 <= 1.0));
  std::printf("  recording on against off: p50 x%.2f, p99 x%.2f\n",
              percentile(ours, 0.5) / percentile(paths[1].rtt, 0.5),
              percentile(ours, 0.99) / percentile(paths[1].rtt, 0.99));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bastion::bench::bench_main(argc, argv, "echo_bench", "keystrokes per path", 2000, 100000,
                                    bench);
}
