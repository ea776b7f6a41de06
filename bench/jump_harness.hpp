// What the `ssh -J` benchmarks run against, all started on loopback: a private PostgreSQL, one
// OpenSSH sshd as the target, bastiond with alice granted on it (host "t1"), and a second OpenSSH
// sshd as the reference jump host (host "t1o" reaches the same target through it). One ssh_config
// names both paths, so every measurement uses the same client, target and options.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "postgres.hpp"
#include "process.hpp"
#include "sshd.hpp"
#include "temp_dir.hpp"

namespace bastion::bench {

// What one transfer measured.
struct transfer_figures {
  double mb_per_s = 0;
  double cpu_per_gib = 0;      // of the process being measured
  double stored_per_byte = 0;  // recording bytes per byte moved (bastion_transfer)
};

// The environment's `name`, or `fallback` when it is unset or empty.
std::string env_or(const char* name, const std::string& fallback);

class jump_harness {
 public:
  struct options {
    std::string client;          // ssh_config lines for every host ("RekeyLimit 256M")
    std::string target;          // sshd_config lines of the target ("Ciphers aes128-gcm@...")
    std::string bastion_limits;  // entries of bastiond's `limits:` mapping
    bool record = true;          // bastiond's recording.enabled
    // More entries of bastiond's `recording:` mapping; by default those in the environment's
    // BASTION_BENCH_RECORDING ("max_unpersisted_kib: 1024"), to compare settings in one build.
    std::string recording = env_recording();
    // The bastiond binary: this build's, or the environment's BASTION_BENCH_BASTIOND, to
    // compare two builds (before and after a change) on the same machine.
    std::string bastiond = env_bastiond();
  };
  static std::string env_recording();
  static std::string env_bastiond();
  explicit jump_harness(const options& opts);
  ~jump_harness();
  jump_harness(const jump_harness&) = delete;
  jump_harness& operator=(const jump_harness&) = delete;

  const std::string& ssh_config() const { return ssh_config_; }
  // The login on the target, and the two destinations: through bastiond, and through OpenSSH.
  const std::string& login() const { return login_; }
  std::string via_bastion() const { return login_ + "@t1"; }
  std::string via_openssh() const { return login_ + "@t1o"; }
  // `ssh -F config [extra] destination command`, as argv.
  std::vector<std::string> ssh(const std::string& destination, const std::string& command,
                               const std::vector<std::string>& extra = {}) const;

  int bastion_port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  const std::string& config() const { return bastion_config_; }
  // Runs bastionctl with the bastion's config; its stdout (throws on failure).
  std::string bastionctl(const std::vector<std::string>& args) const;
  const std::string& key() const { return key_; }
  std::string known_hosts() const { return (dir_ / "known_hosts").string(); }
  pid_t bastiond_pid() const { return bastiond_->pid(); }
  pid_t openssh_jump_pid() const { return jump_->pid(); }
  const test::temp_dir& dir() const { return dir_; }
  // Writes `bytes` random bytes to a file in dir() and returns its path.
  std::string random_file(std::size_t bytes) const;
  // The size of every file under the recording directory.
  std::uintmax_t recorded_bytes() const;
  // The recorder writes a session's last chunks after it ends: waits until the recording has
  // stopped growing for 600 ms (throws after a minute).
  void wait_recording_settled() const;
  // Runs `command` (a shell line moving `bytes` random bytes through bastiond) and charges
  // bastiond's CPU across it and the recorder's trailing work. When recording, throws unless the
  // recording grew by at least `bytes` (zstd cannot shrink them): a bastion that drops recording
  // would look cheaper.
  transfer_figures bastion_transfer(const std::string& command, std::size_t bytes) const;
  // `ssh -J` through bastiond or OpenSSH: `cat > /dev/null` fed from `file`, or `cat file` read.
  std::string upload_command(const std::string& destination, const std::string& file) const;
  std::string download_command(const std::string& destination, const std::string& file) const;

 private:
  void start_bastiond(const options& opts);
  void write_client_config(const std::string& client_options);

  test::temp_dir dir_;
  std::string conninfo_;
  std::string login_;
  std::string key_;
  std::string bastion_config_;
  bool record_ = true;
  int port_ = 0;
  int metrics_port_ = test::free_port();
  std::unique_ptr<test::sshd_server> target_;
  std::unique_ptr<test::sshd_server> jump_;
  std::unique_ptr<test::child_process> bastiond_;
  std::string ssh_config_;
};

// The main() of a benchmark: reads its one optional count argument (`fallback` when absent, and
// within 1..`max`), runs `body` with it, prints an error on failure, and stops the shared
// PostgreSQL. `name` and `what` make the usage line: "usage: NAME [WHAT 1..MAX, default N]".
int bench_main(int argc, char** argv, const char* name, const char* what, long fallback, long max,
               const std::function<int(long)>& body);
// The same for the transfer benchmarks: "MiB per transfer" (default 1024), given to `body` in
// bytes.
int transfer_bench_main(int argc, char** argv, const char* name,
                        const std::function<int(std::size_t bytes)>& body);

// Writes `bytes` random bytes to `path`.
void write_random_file(const std::string& path, std::size_t bytes);

// CPU seconds (user + system) that process `pid` has used, and that its reaped children used.
double cpu_seconds(pid_t pid, bool with_children);

// Runs `command` (a shell line moving `bytes`) and charges the CPU that `cpu()` reports across
// it, until `settle()` returns: the jump host's work for the transfer is done.
transfer_figures measure_transfer(const std::string& command, std::size_t bytes,
                                  const std::function<double()>& cpu,
                                  const std::function<void()>& settle);

double median(std::vector<double> v);

// What the bastion cannot avoid per byte: single-core rates of the primitives, in bytes per
// second, by `openssl speed -evp` on 16 KiB blocks (OpenSSH's and libssh's packets are up to
// 32 KiB), measured when the benchmark starts.
struct primitive_rates {
  double chacha20_poly1305 = 0;
  double aes128_gcm = 0;
  double sha256 = 0;
  static primitive_rates measure();
};

// The cipher-and-hash floor of a recording bastion's CPU, in seconds per GiB relayed: each byte
// is decrypted and encrypted once for the client's two legs (outer and inner, in the client's
// cipher: `client_rate`), once for the upstream leg (AES-GCM, which the bastion picks there),
// and SHA-256 hashes every stored byte (`stored_per_relayed` of them per byte relayed).
double floor_cpu_per_gib(const primitive_rates& rates, double client_rate,
                         double stored_per_relayed);

}  // namespace bastion::bench
