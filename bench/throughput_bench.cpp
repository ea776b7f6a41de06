// bench/throughput: upload and download of random bytes through `ssh -J`, bastiond (recording,
// as in production) against an OpenSSH sshd used as the jump host (which records nothing), same
// client, target and file, measured in the same run: with the default ciphers and with AES-GCM
// on the client's legs. Prints MB/s and CPU seconds per GiB of each jump host, and two goals:
// throughput >= 1.0x OpenSSH's, and bastiond's CPU per GiB <= 1.5x the cipher-and-hash floor
// measured at the start (floor_cpu_per_gib). Then a checksummed upload with a rekey every
// 256 MiB through the bastion.
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
using bastion::bench::measure_transfer;
using bastion::bench::primitive_rates;
using bastion::bench::transfer_figures;

// OpenSSH's per-connection sshd processes are charged to the jump host once it reaped them.
void reaped() {
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
}

const char* verdict(bool met) {
  return met ? "met" : "NOT met";
}

// `client_rate`: the primitive rate of the client's cipher, for the floor.
void compare(const jump_harness& h, const std::string& label, const std::string& file,
             std::size_t bytes, const primitive_rates& rates, double client_rate) {
  const auto upload = [&](const std::string& dest) { return h.upload_command(dest, file); };
  const auto download = [&](const std::string& dest) { return h.download_command(dest, file); };
  const auto theirs = [&] { return cpu_seconds(h.openssh_jump_pid(), true); };
  for (const auto& [direction, make] :
       {std::pair<const char*, std::function<std::string(const std::string&)>>{"upload", upload},
        {"download", download}}) {
    const transfer_figures a = h.bastion_transfer(make(h.via_bastion()), bytes);
    const double stored = a.stored_per_byte;
    const transfer_figures b = measure_transfer(make(h.via_openssh()), bytes, theirs, reaped);
    const double floor = bastion::bench::floor_cpu_per_gib(rates, client_rate, stored);
    std::printf(
        "%-8s %-8s  bastiond %7.1f MB/s %5.2f CPU s/GiB | OpenSSH -J %7.1f MB/s %5.2f CPU s/GiB\n"
        "                   throughput x%.2f of OpenSSH (goal >= 1.0: %s) | floor %.2f CPU "
        "s/GiB (%.2f stored per byte), bastiond x%.2f of it (goal <= 1.5: %s)\n",
        label.c_str(), direction, a.mb_per_s, a.cpu_per_gib, b.mb_per_s, b.cpu_per_gib,
        a.mb_per_s / b.mb_per_s, verdict(a.mb_per_s >= b.mb_per_s), floor, stored,
        a.cpu_per_gib / floor, verdict(a.cpu_per_gib <= 1.5 * floor));
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
  const primitive_rates rates = primitive_rates::measure();
  std::printf(
      "one core, 16 KiB blocks: chacha20-poly1305 %.0f MB/s, aes-128-gcm %.0f MB/s, sha256 %.0f "
      "MB/s\n",
      rates.chacha20_poly1305 / 1e6, rates.aes128_gcm / 1e6, rates.sha256 / 1e6);
  const bastion::test::temp_dir data("bastion-bench-data");
  const std::string file = (data / "random.bin").string();
  bastion::bench::write_random_file(file, bytes);
  {
    const jump_harness h({});
    compare(h, "default", file, bytes, rates, rates.chacha20_poly1305);
  }
  {
    // AES-GCM on the client's legs (outer and inner); the bastion picks it upstream anyway.
    const jump_harness h(
        {.client = "  Ciphers aes128-gcm@openssh.com", .target = "Ciphers aes128-gcm@openssh.com"});
    compare(h, "aes-gcm", file, bytes, rates, rates.aes128_gcm);
  }
  rekey_check(bytes);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bastion::bench::transfer_bench_main(argc, argv, "throughput_bench", bench);
}
