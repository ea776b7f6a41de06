// bench/idle: N concurrent idle `ssh -J` sessions held open through one bastiond (default
// 10,000), each an authenticated inner session with a command waiting on the target. The target
// is bench/light_target.py, one asyncssh process, since N sshd processes would not fit the
// machine; it accepts only its login and the bastion's key, as a real target would. Prints
// bastiond's PSS, RSS and descriptors per session at checkpoints on the way (goal: <= 128 KiB of
// PSS per session at N). Where the hard open-files limit cannot hold N, it holds what fits and
// says that the goal at N is not shown.
// Usage: idle_bench [sessions, default 10000]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "build_paths.hpp"
#include "jump_harness.hpp"

namespace {

using bastion::bench::jump_harness;
using bastion::test::child_process;

long open_fds(pid_t pid) {
  const auto dir = std::filesystem::path("/proc") / std::to_string(pid) / "fd";
  return std::distance(std::filesystem::directory_iterator(dir),
                       std::filesystem::directory_iterator());
}

// A field of /proc/PID/smaps_rollup ("Pss:", "Rss:"), in KiB.
long rollup_kib(pid_t pid, const std::string& field) {
  const std::string text =
      bastion::test::read_file("/proc/" + std::to_string(pid) + "/smaps_rollup");
  const auto at = text.find("\n" + field);
  if (at == std::string::npos) {
    throw std::runtime_error("no " + field + " in /proc/" + std::to_string(pid) + "/smaps_rollup");
  }
  return std::strtol(text.c_str() + at + 1 + field.size(), nullptr, 10);
}

struct sample {
  long pss = 0;
  long rss = 0;
  long anon = 0;
  long fds = 0;
};

sample measure(pid_t pid) {
  return {rollup_kib(pid, "Pss:"), rollup_kib(pid, "Rss:"), rollup_kib(pid, "Anonymous:"),
          open_fds(pid)};
}

// Each session holds 5 descriptors in bastiond (the client's socket, both ends of the inner
// socketpair, the upstream socket, the recording file); the children inherit this limit, and
// bastiond raises its soft limit to the hard one. Raising the hard limit needs CAP_SYS_RESOURCE:
// without it, the sessions that fit are held, and the goal at `sessions` is said to be not shown.
int raise_open_files_limit(int sessions) {
  constexpr rlim_t per_session = 5;
  constexpr rlim_t spare = 1024;
  rlimit now{};
  getrlimit(RLIMIT_NOFILE, &now);
  const rlim_t need = static_cast<rlim_t>(sessions) * per_session + spare;
  rlimit want{std::max(need, now.rlim_cur), std::max(need, now.rlim_max)};
  if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
    return sessions;
  }
  const auto fit = static_cast<int>((now.rlim_max - spare) / per_session);
  want = {now.rlim_max, now.rlim_max};
  setrlimit(RLIMIT_NOFILE, &want);
  std::printf(
      "%d sessions need about %lu descriptors in bastiond, over the hard open-files limit of %lu "
      "that this process cannot raise (no CAP_SYS_RESOURCE; raise it with ulimit -Hn or "
      "LimitNOFILE=): holding %d\n",
      sessions, static_cast<unsigned long>(need), static_cast<unsigned long>(now.rlim_max), fit);
  return std::min(sessions, fit);
}

// Starts the light target on a free port, trusting the bastion's upstream key for the harness's
// login, and registers it as target "light" granted to alice.
std::unique_ptr<child_process> start_light_target(const jump_harness& h) {
  const std::string host_key = bastion::test::make_ssh_key(h.dir(), "light-host", "ed25519");
  const std::string log = (h.dir() / "light.log").string();
  const int port = bastion::test::free_port();
  auto target = std::make_unique<child_process>(
      std::vector<std::string>{
          "/usr/bin/python3", bastion::test::repo_root() + "/bench/light_target.py",
          std::to_string(port), host_key, (h.dir() / "upstream.pub").string(), h.login()},
      log);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (bastion::test::read_file(log).find("listening") == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline || target->wait_exit(std::chrono::seconds(1))) {
      throw std::runtime_error("the light target did not start: " + bastion::test::read_file(log));
    }
  }
  const std::string pub = bastion::test::read_file(host_key + ".pub");
  h.bastionctl({"target", "add", "light", "--host", "127.0.0.1", "--port", std::to_string(port),
                "--host-key", pub.substr(0, pub.find(" test-key"))});
  h.bastionctl({"grant", "alice", "light", "--login", h.login()});
  return target;
}

void wait_ready(child_process& holder, const std::string& log, int count) {
  const std::string ready = "ready " + std::to_string(count) + "\n";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(30);
  while (bastion::test::read_file(log).find(ready) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline || holder.wait_exit(std::chrono::seconds(1))) {
      throw std::runtime_error("the sessions did not open: " + bastion::test::read_file(log));
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let every handshake settle
}

// bench/idle_sessions.py holding `sessions` through the bastion, stopping at each checkpoint
// below it; the checkpoints and N are returned in `stages`.
std::vector<std::string> holder_argv(const jump_harness& h, const std::string& known,
                                     const std::string& target, int sessions,
                                     std::vector<int>& stages) {
  std::vector<std::string> argv{"/usr/bin/python3",
                                bastion::test::repo_root() + "/bench/idle_sessions.py",
                                std::to_string(h.bastion_port()),
                                known,
                                h.key(),
                                h.login(),
                                target,
                                std::to_string(sessions)};
  for (const int c : {100, 300, 1000, 3000}) {
    if (c < sessions) {
      stages.push_back(c);
      argv.push_back(std::to_string(c));
    }
  }
  stages.push_back(sessions);
  return argv;
}

int bench(int asked) {
  const int sessions = raise_open_files_limit(asked);
  const jump_harness h({.bastion_limits =
                            "max_startups: 4096, per_source_max_startups: 0, penalties: { "
                            "enabled: false }"});
  // BASTION_IDLE_TARGET=sshd holds the sessions on the harness's OpenSSH sshd (t1) instead: one
  // sshd process pair per session, so for a few hundred at most; it shows that the target does
  // not change bastiond's memory per session.
  const bool sshd = bastion::bench::env_or("BASTION_IDLE_TARGET", "") == "sshd";
  const auto target = sshd ? nullptr : start_light_target(h);
  const std::string known =
      h.dir().write("known_hosts_light", h.bastionctl({"known-hosts"})).string();
  // One session first: threads, allocator arenas and the policy snapshot are not per session.
  const auto warm = bastion::test::run(h.ssh(h.via_bastion(), "true"));
  if (warm.exit_code != 0) {
    throw std::runtime_error("ssh failed: " + warm.err);
  }
  const sample base = measure(h.bastiond_pid());
  std::vector<int> stages;
  const std::string log = (h.dir() / "idle.log").string();
  child_process holder(holder_argv(h, known, sshd ? "t1" : "light", sessions, stages), log);
  std::printf(
      "idle ssh -J sessions held by bastiond (target: %s); before them: PSS %ld "
      "KiB, RSS %ld KiB, %ld descriptors\n",
      sshd ? "OpenSSH sshd" : "light_target.py", base.pss, base.rss, base.fds);
  double pss_per_session = 0;
  for (const int n : stages) {
    wait_ready(holder, log, n);
    const sample s = measure(h.bastiond_pid());
    const auto per = [n](long now, long before) { return static_cast<double>(now - before) / n; };
    pss_per_session = per(s.pss, base.pss);
    std::printf(
        "%6d sessions: PSS %7.1f KiB per session, RSS %7.1f, anonymous %7.1f, descriptors "
        "%.2f\n",
        n, pss_per_session, per(s.rss, base.rss), per(s.anon, base.anon), per(s.fds, base.fds));
    std::fflush(stdout);
    if (n != sessions) {
      kill(holder.pid(), SIGUSR1);
    }
  }
  // The goal is judged at N only: at the first checkpoints, what is shared weighs more.
  const bool fits = pss_per_session <= 128.0;
  if (sessions == asked) {
    std::printf("goal: %d sessions at <= 128 KiB PSS each: %s\n", asked, fits ? "met" : "NOT met");
  } else {
    std::printf(
        "goal: %d sessions at <= 128 KiB PSS each: NOT shown (the open-files limit held %d; "
        "at %d, %.1f KiB each, %s)\n",
        asked, sessions, sessions, pss_per_session, fits ? "within the bound" : "over the bound");
  }
  holder.stop(SIGTERM, std::chrono::seconds(120));
  if (target) {
    target->stop(SIGTERM, std::chrono::seconds(30));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bastion::bench::bench_main(argc, argv, "idle_bench", "sessions", 10000, 20000,
                                    [](long n) { return bench(static_cast<int>(n)); });
}
