// bench/ab: two bastiond builds side by side, so that a change is kept only if the benchmark shows
// it pays. The same `ssh -J` upload and download of random bytes (default ciphers, recording on,
// as in production) run through A and B in alternating rounds; prints each one's median CPU
// seconds per GiB (every thread, the writer's trailing work included) and MB/s, and B against A;
// each round also prints the recording's size per byte moved (about 1.0 for random bytes).
// A is this build's bastiond (or BASTION_BENCH_BASTIOND); B is BASTION_BENCH_BASTIOND_B, with
// BASTION_BENCH_RECORDING_B as its `recording:` entries if set (to compare settings: B may be
// the same binary).
// Usage: BASTION_BENCH_BASTIOND_B=PATH ab_bench [MiB per transfer, default 1024]
#include <array>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "jump_harness.hpp"

namespace {

using bastion::bench::env_or;
using bastion::bench::jump_harness;
using bastion::bench::median;
using bastion::bench::transfer_figures;

struct side {
  const jump_harness& h;
  std::vector<double> cpu;
  std::vector<double> mbs;
  std::vector<double> stored;  // recording bytes per byte moved: random bytes store about 1.0
};

void run(side& s, const std::string& command, std::size_t bytes) {
  const transfer_figures f = s.h.bastion_transfer(command, bytes);
  s.cpu.push_back(f.cpu_per_gib);
  s.mbs.push_back(f.mb_per_s);
  s.stored.push_back(f.stored_per_byte);
}

int bench(std::size_t bytes) {
  const std::string b_binary = env_or("BASTION_BENCH_BASTIOND_B", "");
  if (b_binary.empty()) {
    throw std::runtime_error("set BASTION_BENCH_BASTIOND_B to the bastiond to compare");
  }
  const jump_harness a_harness({});
  const jump_harness b_harness(
      {.recording = env_or("BASTION_BENCH_RECORDING_B", jump_harness::env_recording()),
       .bastiond = b_binary});
  const std::string file = a_harness.random_file(bytes);
  std::printf("random bytes, %zu MiB per transfer, 3 rounds each way\n", bytes >> 20);
  std::printf("A %s\nB %s\n", jump_harness::env_bastiond().c_str(), b_binary.c_str());
  for (const char* direction : {"upload", "download"}) {
    const bool up = direction[0] == 'u';
    side a{a_harness, {}, {}};
    side b{b_harness, {}, {}};
    for (int round = 0; round < 3; ++round) {
      // Alternating who goes first: a machine that slows down or speeds up favours neither.
      for (side* s : round % 2 == 0 ? std::array{&a, &b} : std::array{&b, &a}) {
        run(*s,
            up ? s->h.upload_command(s->h.via_bastion(), file)
               : s->h.download_command(s->h.via_bastion(), file),
            bytes);
      }
      std::printf(
          "%-8s round %d  A %5.2f CPU s/GiB %6.1f MB/s %.3f stored | B %5.2f CPU s/GiB %6.1f "
          "MB/s %.3f stored\n",
          direction, round + 1, a.cpu.back(), a.mbs.back(), a.stored.back(), b.cpu.back(),
          b.mbs.back(), b.stored.back());
      std::fflush(stdout);
    }
    std::printf(
        "%-8s median   A %5.2f CPU s/GiB %6.1f MB/s | B %5.2f CPU s/GiB %6.1f MB/s | B/A: CPU "
        "x%.3f, throughput x%.3f\n",
        direction, median(a.cpu), median(a.mbs), median(b.cpu), median(b.mbs),
        median(b.cpu) / median(a.cpu), median(b.mbs) / median(a.mbs));
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bastion::bench::transfer_bench_main(argc, argv, "ab_bench", bench);
}
