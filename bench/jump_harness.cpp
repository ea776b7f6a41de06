// Starting the benchmark's parts, and reading process CPU times.
#include "jump_harness.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "build_paths.hpp"

namespace bastion::bench {

std::string env_or(const char* name, const std::string& fallback) {
  const char* env = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): no thread sets it
  return env != nullptr && *env != '\0' ? env : fallback;
}

std::string jump_harness::env_recording() {
  return env_or("BASTION_BENCH_RECORDING", "");
}

std::string jump_harness::env_bastiond() {
  return env_or("BASTION_BENCH_BASTIOND", test::bastiond_path());
}

jump_harness::jump_harness(const options& opts)
    : dir_("bastion-bench"), login_(test::current_login()), record_(opts.record) {
  conninfo_ = test::postgres_cluster::instance().fresh_database();
  key_ = test::make_ssh_key(dir_, "alice", "ed25519");
  const std::string alice_pub = test::read_file(key_ + ".pub");
  target_ = std::make_unique<test::sshd_server>(opts.target);
  jump_ = std::make_unique<test::sshd_server>();
  // The target trusts alice (the OpenSSH path authenticates end to end) and the bastion's key.
  target_->authorize(alice_pub.substr(0, alice_pub.find('\n')));
  jump_->authorize(alice_pub.substr(0, alice_pub.find('\n')));
  start_bastiond(opts);
  const std::string upstream = test::read_file((dir_ / "upstream.pub").string());
  target_->authorize(upstream.substr(0, upstream.find('\n')));
  bastionctl({"user", "add", "alice", "--key", key_ + ".pub"});
  bastionctl({"target", "add", "t1", "--host", "127.0.0.1", "--port",
              std::to_string(target_->port()), "--host-key", target_->host_key()});
  bastionctl({"grant", "alice", "t1", "--login", login_});
  write_client_config(opts.client);
}

jump_harness::~jump_harness() {
  if (bastiond_) {
    bastiond_->stop(SIGTERM);
  }
}

std::string jump_harness::bastionctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{bastion::test::bastionctl_path(), "--config", bastion_config_};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = test::run(argv);
  if (r.exit_code != 0) {
    throw std::runtime_error("bastionctl " + args.front() + ": " + r.err);
  }
  return r.out;
}

void jump_harness::start_bastiond(const options& opts) {
  const std::string outer = test::make_ssh_key(dir_, "outer", "ed25519");
  const std::string inner = test::make_ssh_key(dir_, "inner", "ed25519");
  const std::string upstream = test::make_ssh_key(dir_, "upstream", "ed25519");
  port_ = test::free_port();
  bastion_config_ =
      dir_.write(
              "bastion.yaml",
              "listen: [\"127.0.0.1:" + std::to_string(port_) + "\"]\nhost_keys: [\"" + outer +
                  "\"]\ninner_host_key: \"" + inner + "\"\nupstream_key: \"" + upstream +
                  "\"\ndatabase: \"" + conninfo_ + "\"\nnode_name: bench\nlog_level: warn\n" +
                  "metrics: { listen: \"127.0.0.1:" + std::to_string(metrics_port_) + "\" }\n" +
                  "admin: { listen: \"127.0.0.1:" + std::to_string(test::free_port()) + "\" }\n" +
                  "recording: { enabled: " + (opts.record ? "true" : "false") + ", dir: \"" +
                  (dir_ / "rec").string() + "\"" +
                  (opts.recording.empty() ? "" : ", " + opts.recording) + " }\n" +
                  "policy: { journal_spool: \"" + (dir_ / "journal").string() + "\" }\n" +
                  (opts.bastion_limits.empty() ? "" : "limits: { " + opts.bastion_limits + " }\n"))
          .string();
  bastiond_ = std::make_unique<test::child_process>(
      std::vector<std::string>{opts.bastiond, "--config", bastion_config_},
      (dir_ / "bastiond.log").string());
  if (!test::wait_for_port(port_, std::chrono::seconds(30))) {
    throw std::runtime_error("bastiond did not start: " +
                             test::read_file((dir_ / "bastiond.log").string()));
  }
}

void jump_harness::write_client_config(const std::string& client_options) {
  const std::string known = bastionctl({"known-hosts"}) +
                            "[127.0.0.1]:" + std::to_string(jump_->port()) + " " +
                            jump_->host_key() + "\n[127.0.0.1]:" + std::to_string(target_->port()) +
                            " " + target_->host_key() + "\n";
  const std::string known_path = dir_.write("known_hosts", known).string();
  ssh_config_ =
      dir_.write("ssh_config",
                 "Host *\n  IdentityFile " + key_ +
                     "\n  IdentitiesOnly yes\n  IdentityAgent none\n  BatchMode yes\n"
                     "  StrictHostKeyChecking yes\n  UserKnownHostsFile " +
                     known_path + "\n  ConnectTimeout 60\n" + client_options +
                     "\nHost bastion\n  HostName 127.0.0.1\n  Port " + std::to_string(port_) +
                     "\n  User alice\nHost t1\n  ProxyJump bastion\n"
                     "Host ojump\n  HostName 127.0.0.1\n  Port " +
                     std::to_string(jump_->port()) + "\nHost t1o\n  HostName 127.0.0.1\n  Port " +
                     std::to_string(target_->port()) + "\n  ProxyJump ojump\n")
          .string();
}

std::vector<std::string> jump_harness::ssh(const std::string& destination,
                                           const std::string& command,
                                           const std::vector<std::string>& extra) const {
  std::vector<std::string> argv{"ssh", "-F", ssh_config_};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {destination, command});
  return argv;
}

int bench_main(int argc, char** argv, const char* name, const char* what, long fallback, long max,
               const std::function<int(long)>& body) {
  const long n = argc > 1 ? std::strtol(argv[1], nullptr, 10) : fallback;
  if (n < 1 || n > max) {
    std::fprintf(stderr, "usage: %s [%s 1..%ld, default %ld]\n", name, what, max, fallback);
    return 2;
  }
  int rc = 1;
  try {
    rc = body(n);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
  }
  test::stop_postgres_cluster();
  return rc;
}

double cpu_seconds(pid_t pid, bool with_children) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces): state is field 3; utime, stime,
  // cutime and cstime are fields 14 to 17.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) {
    fields.push_back(f);
  }
  if (fields.size() < 15) {
    throw std::runtime_error("cannot read /proc/" + std::to_string(pid) + "/stat");
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  double total = std::stod(fields[11]) + std::stod(fields[12]);
  if (with_children) {
    total += std::stod(fields[13]) + std::stod(fields[14]);
  }
  return total / ticks;
}

namespace {

// `openssl speed -mr` prints "+F:N:NAME:BYTES_PER_SECOND" per block size; one size is asked.
double openssl_rate(const std::string& algorithm) {
  const auto r =
      test::run({"openssl", "speed", "-mr", "-evp", algorithm, "-bytes", "16384", "-seconds", "2"},
                {.timeout = std::chrono::seconds(60)});
  const auto at = r.out.find("+F:");
  if (r.exit_code != 0 || at == std::string::npos) {
    throw std::runtime_error("openssl speed " + algorithm + " failed: " + r.err);
  }
  const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  return std::stod(line.substr(line.rfind(':') + 1));
}

}  // namespace

primitive_rates primitive_rates::measure() {
  return {.chacha20_poly1305 = openssl_rate("chacha20-poly1305"),
          .aes128_gcm = openssl_rate("aes-128-gcm"),
          .sha256 = openssl_rate("sha256")};
}

double floor_cpu_per_gib(const primitive_rates& rates, double client_rate,
                         double stored_per_relayed) {
  constexpr double gib = 1024.0 * 1024 * 1024;
  return gib * (2 / client_rate + 1 / rates.aes128_gcm + stored_per_relayed / rates.sha256);
}

void write_random_file(const std::string& path, std::size_t bytes) {
  const auto made =
      test::run({"sh", "-c", "head -c " + std::to_string(bytes) + " /dev/urandom > " + path},
                {.timeout = std::chrono::seconds(600)});
  if (made.exit_code != 0) {
    throw std::runtime_error("cannot write " + path + ": " + made.err);
  }
}

std::string jump_harness::random_file(std::size_t bytes) const {
  std::string file = (dir_ / "random.bin").string();
  write_random_file(file, bytes);
  return file;
}

std::uintmax_t jump_harness::recorded_bytes() const {
  std::uintmax_t total = 0;
  if (!std::filesystem::exists(dir_ / "rec")) {
    return 0;  // recording.enabled false
  }
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir_ / "rec")) {
    if (f.is_regular_file()) {
      total += f.file_size();
    }
  }
  return total;
}

void jump_harness::wait_recording_settled() const {
  auto last = recorded_bytes();
  int unchanged = 0;
  for (int i = 0; i < 200; ++i) {  // 60 s
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto now = recorded_bytes();
    unchanged = now == last ? unchanged + 1 : 0;
    if (unchanged == 2) {
      return;
    }
    last = now;
  }
  throw std::runtime_error("the recording still grows a minute after the transfer");
}

transfer_figures jump_harness::bastion_transfer(const std::string& command,
                                                std::size_t bytes) const {
  const auto before = recorded_bytes();
  transfer_figures f = measure_transfer(
      command, bytes, [this] { return cpu_seconds(bastiond_pid(), false); },
      [this] { wait_recording_settled(); });
  f.stored_per_byte = static_cast<double>(recorded_bytes() - before) / static_cast<double>(bytes);
  if (record_ && f.stored_per_byte < 1.0) {
    throw std::runtime_error("the recording holds " + std::to_string(f.stored_per_byte) +
                             " bytes per random byte moved: it lost some");
  }
  return f;
}

std::string jump_harness::upload_command(const std::string& destination,
                                         const std::string& file) const {
  return "ssh -F " + ssh_config_ + " " + destination + " 'cat > /dev/null' < " + file;
}

std::string jump_harness::download_command(const std::string& destination,
                                           const std::string& file) const {
  return "ssh -F " + ssh_config_ + " " + destination + " 'cat " + file + "' > /dev/null";
}

transfer_figures measure_transfer(const std::string& command, std::size_t bytes,
                                  const std::function<double()>& cpu,
                                  const std::function<void()>& settle) {
  const double cpu_before = cpu();
  const auto start = std::chrono::steady_clock::now();
  const auto r = test::run({"sh", "-c", command}, {.timeout = std::chrono::seconds(1800)});
  const auto end = std::chrono::steady_clock::now();
  if (r.exit_code != 0) {
    throw std::runtime_error("transfer failed: " + r.err);
  }
  settle();
  const double seconds = std::chrono::duration<double>(end - start).count();
  const double gib = static_cast<double>(bytes) / (1024.0 * 1024 * 1024);
  return {.mb_per_s = static_cast<double>(bytes) / 1e6 / seconds,
          .cpu_per_gib = (cpu() - cpu_before) / gib};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int transfer_bench_main(int argc, char** argv, const char* name,
                        const std::function<int(std::size_t bytes)>& body) {
  return bench_main(argc, argv, name, "MiB per transfer", 1024, 65536,
                    [&body](long n) { return body(static_cast<std::size_t>(n) << 20); });
}

}  // namespace bastion::bench
