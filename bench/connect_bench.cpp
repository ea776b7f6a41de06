// bench/connect: how long `ssh -J bastion t1 true` takes, end to end with a stock OpenSSH client,
// against the same command through an OpenSSH sshd used as the jump host, measured alternately in
// the same run. Prints the medians and their ratio (goal: <= 1.0).
// Usage: connect_bench [runs, default 20]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "jump_harness.hpp"

namespace {

using bastion::bench::jump_harness;

double run_ms(const std::vector<std::string>& argv) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = bastion::test::run(argv, {.timeout = std::chrono::seconds(60)});
  const auto end = std::chrono::steady_clock::now();
  if (r.exit_code != 0) {
    throw std::runtime_error("ssh failed: " + r.err);
  }
  return std::chrono::duration<double, std::milli>(end - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int bench(int runs) {
  const jump_harness h({});
  const auto bastion = h.ssh(h.via_bastion(), "true");
  const auto openssh = h.ssh(h.via_openssh(), "true");
  run_ms(bastion);  // warm-up: page cache, the target's first login
  run_ms(openssh);
  std::vector<double> ours;
  std::vector<double> theirs;
  for (int i = 0; i < runs; ++i) {
    ours.push_back(run_ms(bastion));
    theirs.push_back(run_ms(openssh));
  }
  const double a = median(ours);
  const double b = median(theirs);
  std::printf("ssh -J t1 true, median of %d runs\n", runs);
  std::printf("  bastiond:                 %7.1f ms\n", a);
  std::printf("  OpenSSH sshd as jump host: %7.1f ms\n", b);
  std::printf("  ratio bastiond/OpenSSH:   %7.2f  (goal <= 1.00)\n", a / b);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bastion::bench::bench_main(argc, argv, "connect_bench", "runs", 20, 1000,
                                    [](long n) { return bench(static_cast<int>(n)); });
}
