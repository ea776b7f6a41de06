// bench/throughput: upload and download through `ssh -J`, bastiond against an OpenSSH sshd used as
// the jump host, same client, target and size, measured in the same run: with the default
// ciphers and with AES-GCM everywhere. Prints MB/s, the jump host's CPU seconds per GiB, and the
// ratios (goals: throughput >= 1.5x OpenSSH, CPU per GiB <= 1.5x). Then a checksummed upload of
// random bytes with a rekey every 256 MiB through the bastion.
// Usage: throughput_bench [MiB per transfer, default 1024]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <thread>

#include "jump_harness.hpp"

namespace {

using bastion::bench::cpu_seconds;
using bastion::bench::jump_harness;
using bastion::bench::transfer_figures;

// Runs `command` (a shell line) and charges the CPU that `cpu()` reports across it.
transfer_figures measure(const std::string& command, std::size_t bytes,
                         const std::function<double()>& cpu) {
  const double cpu_before = cpu();
  const auto start = std::chrono::steady_clock::now();
  const auto r = bastion::test::run({"sh", "-c", command}, {.timeout = std::chrono::seconds(1800)});
  const auto end = std::chrono::steady_clock::now();
  if (r.exit_code != 0) {
    throw std::runtime_error("transfer failed: " + r.err);
  }
  // The jump host's per-connection processes are charged to it once reaped.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double seconds = std::chrono::duration<double>(end - start).count();
  const double gib = static_cast<double>(bytes) / (1024.0 * 1024 * 1024);
  return {static_cast<double>(bytes) / 1e6 / seconds, (cpu() - cpu_before) / gib};
}

void compare(const jump_harness& h, const std::string& label, std::size_t bytes) {
  const std::string n = std::to_string(bytes);
  const std::string cfg = h.ssh_config();
  const auto upload = [&](const std::string& dest) {
    return "head -c " + n + " /dev/zero | ssh -F " + cfg + " " + dest + " 'cat > /dev/null'";
  };
  const auto download = [&](const std::string& dest) {
    return "ssh -F " + cfg + " " + dest + " 'head -c " + n + " /dev/zero' > /dev/null";
  };
  const auto ours = [&] { return cpu_seconds(h.bastiond_pid(), false); };
  const auto theirs = [&] { return cpu_seconds(h.openssh_jump_pid(), true); };
  for (const auto& [direction, make] :
       {std::pair<const char*, std::function<std::string(const std::string&)>>{"upload", upload},
        {"download", download}}) {
    const transfer_figures a = measure(make(h.via_bastion()), bytes, ours);
    const transfer_figures b = measure(make(h.via_openssh()), bytes, theirs);
    std::printf(
        "%-8s %-8s  bastiond %7.1f MB/s %5.2f CPU s/GiB | OpenSSH %7.1f MB/s %5.2f CPU "
        "s/GiB | throughput x%.2f (goal >= 1.5), CPU x%.2f (goal <= 1.5)\n",
        label.c_str(), direction, a.mb_per_s, a.cpu_per_gib, b.mb_per_s, b.cpu_per_gib,
        a.mb_per_s / b.mb_per_s, a.cpu_per_gib / b.cpu_per_gib);
    std::fflush(stdout);
  }
}

// Random bytes through the bastion with a rekey every 256 MiB on both hops of the client;
// the target's checksum must equal the local one.
void rekey_check(std::size_t bytes) {
  const jump_harness h({.client = "  RekeyLimit 256M"});
  const std::string file = h.random_file(bytes);
  const auto local = bastion::test::run({"sha256sum", file});
  const auto remote = bastion::test::run(
      {"sh", "-c", "ssh -F " + h.ssh_config() + " " + h.via_bastion() + " sha256sum < " + file},
      {.timeout = std::chrono::seconds(1800)});
  if (local.exit_code != 0 || remote.exit_code != 0) {
    throw std::runtime_error("rekey transfer failed: " + remote.err);
  }
  const bool same = local.out.substr(0, 64) == remote.out.substr(0, 64);
  std::printf("rekey    upload    %zu MiB of random bytes, RekeyLimit 256M: checksums %s\n",
              bytes >> 20, same ? "equal" : "DIFFER");
  if (!same) {
    throw std::runtime_error("the target received different bytes");
  }
}

int bench(std::size_t bytes) {
  {
    const jump_harness h({});
    compare(h, "default", bytes);
  }
  {
    // AES-GCM on every hop: the client's (outer and inner) and the target's (upstream).
    const jump_harness h(
        {.client = "  Ciphers aes128-gcm@openssh.com", .target = "Ciphers aes128-gcm@openssh.com"});
    compare(h, "aes-gcm", bytes);
  }
  rekey_check(bytes);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bastion::bench::transfer_bench_main(argc, argv, "throughput_bench", bench);
}
