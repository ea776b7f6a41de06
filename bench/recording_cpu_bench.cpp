// bench/recording_cpu: what recording costs the bastion. The same `ssh -J` upload runs through two
// bastiond processes, one recording (as in production) and one with recording.enabled false,
// alternating rounds; prints each one's CPU seconds per GiB (every thread: io and writer) and the
// ratio (goal <= 1.2), the throughputs, and the recording's stored size.
// Usage: recording_cpu_bench [MiB per transfer, default 1024]
#include <cstdio>
#include <vector>

#include "jump_harness.hpp"

namespace {

using bastion::bench::jump_harness;
using bastion::bench::median;
using bastion::bench::transfer_figures;

int bench(std::size_t bytes) {
  const jump_harness on({});
  const jump_harness off({.record = false});
  // Random bytes: the worst case for the recorder (zstd cannot shrink them).
  const std::string file = off.random_file(bytes);
  std::vector<double> cpu_on;
  std::vector<double> cpu_off;
  std::vector<double> mbs_on;
  std::vector<double> mbs_off;
  for (int round = 0; round < 3; ++round) {
    const transfer_figures a =
        on.bastion_transfer(on.upload_command(on.via_bastion(), file), bytes);
    const transfer_figures b =
        off.bastion_transfer(off.upload_command(off.via_bastion(), file), bytes);
    std::printf(
        "round %d   recording %5.2f CPU s/GiB %7.1f MB/s | off %5.2f CPU s/GiB %7.1f MB/s\n",
        round + 1, a.cpu_per_gib, a.mb_per_s, b.cpu_per_gib, b.mb_per_s);
    std::fflush(stdout);
    cpu_on.push_back(a.cpu_per_gib);
    cpu_off.push_back(b.cpu_per_gib);
    mbs_on.push_back(a.mb_per_s);
    mbs_off.push_back(b.mb_per_s);
  }
  const double stored = static_cast<double>(on.recorded_bytes());
  const double raw = 3.0 * static_cast<double>(bytes);
  std::printf(
      "median    recording %5.2f CPU s/GiB %7.1f MB/s | off %5.2f CPU s/GiB %7.1f MB/s | CPU "
      "x%.3f (goal <= 1.2: %s), throughput x%.3f\n",
      median(cpu_on), median(mbs_on), median(cpu_off), median(mbs_off),
      median(cpu_on) / median(cpu_off), median(cpu_on) <= 1.2 * median(cpu_off) ? "met" : "NOT met",
      median(mbs_on) / median(mbs_off));
  std::printf("stored    %.0f MiB for %.0f MiB of random upload (ratio %.4f)\n", stored / 1048576,
              raw / 1048576, stored / raw);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bastion::bench::transfer_bench_main(argc, argv, "recording_cpu_bench", bench);
}
