// bench/idle: N concurrent idle `ssh -J` sessions held open through bastiond (default 1000), each
// an authenticated inner session with a command waiting on the target. Prints bastiond's RSS and
// open descriptors per session (goal: <= 256 KiB per session; descriptors: 4, bounded).
// Usage: idle_bench [sessions, default 1000]
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "jump_harness.hpp"

namespace {

using bastion::bench::jump_harness;

long open_fds(pid_t pid) {
  const auto dir = std::filesystem::path("/proc") / std::to_string(pid) / "fd";
  return std::distance(std::filesystem::directory_iterator(dir),
                       std::filesystem::directory_iterator());
}

int bench(int sessions) {
  const jump_harness h({});
  // One session first: threads, allocator arenas and the policy snapshot are not per session.
  const auto warm = bastion::test::run(h.ssh(h.via_bastion(), "true"));
  if (warm.exit_code != 0) {
    throw std::runtime_error("ssh failed: " + warm.err);
  }
  const long rss0 = bastion::test::rss_kib(h.bastiond_pid());
  const long fds0 = open_fds(h.bastiond_pid());
  const std::string log = (h.dir() / "idle.log").string();
  bastion::test::child_process holder(
      {"/usr/bin/python3", IDLE_SESSIONS_SCRIPT, std::to_string(h.bastion_port()), h.known_hosts(),
       h.key(), h.login(), "t1", std::to_string(sessions)},
      log);
  const std::string ready = "ready " + std::to_string(sessions);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  while (bastion::test::read_file(log).find(ready) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline || holder.wait_exit(std::chrono::seconds(1))) {
      throw std::runtime_error("the sessions did not open: " + bastion::test::read_file(log));
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let every handshake settle
  const long rss = bastion::test::rss_kib(h.bastiond_pid());
  const long fds = open_fds(h.bastiond_pid());
  std::printf("%d idle ssh -J sessions held by bastiond\n", sessions);
  std::printf(
      "  RSS: %ld KiB before, %ld KiB with the sessions: %.1f KiB per session (goal <= "
      "256)\n",
      rss0, rss, static_cast<double>(rss - rss0) / sessions);
  std::printf("  open descriptors: %ld before, %ld with the sessions: %.2f per session\n", fds0,
              fds, static_cast<double>(fds - fds0) / sessions);
  holder.stop(SIGTERM, std::chrono::seconds(60));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bastion::bench::bench_main(argc, argv, "idle_bench", "sessions", 1000, 20000,
                                    [](long n) { return bench(static_cast<int>(n)); });
}
