// bench/recorder: how fast the recorder's writer path runs on one core, and how small it stores.
// Prints MB/s for terminal-like text (4 KiB events, as PTY reads deliver it) and for random bytes
// (32 KiB events, as SSH channel packets deliver a transfer) through queue + encode + zstd +
// SHA-256 + write + fdatasync, as in production, and stored/raw size ratios. Then one -J upload
// of the same random bytes through bastiond, recording: the goal is a writer at >= 5x that
// single session's relay rate, so that the writer never limits a transfer.
// Usage: recorder_bench [MiB per run, default 256] [directory, default $TMPDIR or /tmp]
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include <bastion/recorder/reader.hpp>
#include <bastion/recorder/service.hpp>

#include "jump_harness.hpp"

namespace {

using namespace bastion::recorder;

// Real terminal output: `ls -lR /usr` with CRLF line ends, as a PTY delivers it, repeated to size.
std::string terminal_text(std::size_t bytes) {
  std::string listing;
  if (FILE* p =
          popen("ls -lR /usr 2>/dev/null", "r")) {  // NOLINT(cert-env33-c): fixed command, no input
    char buf[65536];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0 && listing.size() < bytes) {
      for (std::size_t i = 0; i < n; ++i) {
        if (buf[i] == '\n') {
          listing += '\r';
        }
        listing += buf[i];
      }
    }
    pclose(p);
  }
  if (listing.empty()) {
    throw std::runtime_error("ls -lR /usr gave no output");
  }
  std::string out;
  while (out.size() < bytes) {
    out += listing;
  }
  out.resize(bytes);
  return out;
}

std::string random_bytes(std::size_t bytes) {
  std::mt19937_64 rng(7);
  std::string out(bytes, '\0');
  for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  return out;
}

struct figures {
  double mb_per_s;
  double ratio;
};

// Feeds `payload` as `piece`-byte data events through the production path:
// the bounded queue, the writer thread, 64 KiB chunks, zstd, SHA-256, write and group-commit
// fdatasync. The producer waits while the queue is over half full, as a session's backpressure
// would, so what is timed is the writer.
figures run(const std::string& payload, std::size_t piece, const std::filesystem::path& dir,
            int level) {
  recording_service service({.dir = dir, .zstd_level = level});
  file_header header;
  header.id = random_session_id();
  const auto start = std::chrono::steady_clock::now();
  auto session = service.start(header);
  for (std::size_t pos = 0; pos < payload.size(); pos += piece) {
    event ev{.type = event_type::data, .stream = stream::output};
    while (service.queued_bytes() > service.options().queue_limit_bytes / 2) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ev.offset = std::chrono::microseconds(static_cast<std::int64_t>(pos / piece));
    ev.data.assign(payload, pos, piece);
    if (!session->record(std::move(ev))) {
      throw std::runtime_error("the recording failed");
    }
  }
  std::promise<recording_summary> done;
  auto result = done.get_future();
  session->finish([&done](const recording_summary& s) { done.set_value(s); });
  const recording_summary summary = result.get();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto path = dir / summary.file_name;
  auto reader = recording_reader::open(path);
  if (!summary.error.empty() || !reader || !reader->verify(summary.head, false).ok) {
    throw std::runtime_error("the written recording does not verify");
  }
  const double stored = static_cast<double>(std::filesystem::file_size(path));
  std::filesystem::remove(path);
  return {static_cast<double>(payload.size()) / 1e6 / seconds,
          stored / static_cast<double>(payload.size())};
}

// Pins the calling thread, and the threads it starts (the recorder's writer), to its first
// allowed CPU while it lives; the threads started after it (bastiond and the ssh clients) get
// every CPU again.
class pinned_to_one_core {
 public:
  pinned_to_one_core() {
    if (sched_getaffinity(0, sizeof saved_, &saved_) != 0) {
      throw std::runtime_error("sched_getaffinity failed");
    }
    int first = 0;
    while (first < CPU_SETSIZE && CPU_ISSET(first, &saved_) == 0) {
      ++first;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) {
      throw std::runtime_error("cannot pin to CPU " + std::to_string(first));
    }
    cpu_ = first;
  }
  ~pinned_to_one_core() { sched_setaffinity(0, sizeof saved_, &saved_); }
  pinned_to_one_core(const pinned_to_one_core&) = delete;
  pinned_to_one_core& operator=(const pinned_to_one_core&) = delete;
  int cpu() const { return cpu_; }

 private:
  cpu_set_t saved_{};
  int cpu_ = 0;
};

// Runs a shell line to success; its wall time in seconds.
double timed(const std::string& command) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = bastion::test::run({"sh", "-c", command}, {.timeout = std::chrono::seconds(1800)});
  if (r.exit_code != 0) {
    throw std::runtime_error("`" + command + "` failed: " + r.err);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The rate of one `ssh -J` upload of `file` through bastiond, recording, in MB/s: the time of
// the upload less that of a session that moves nothing (the handshakes and the logins).
double relay_rate(const std::string& file, std::size_t bytes) {
  const bastion::bench::jump_harness h({});
  const std::string ssh = "ssh -F " + h.ssh_config() + " " + h.via_bastion();
  const double setup = timed(ssh + " true");
  const double total = timed(ssh + " 'cat > /dev/null' < " + file);
  return static_cast<double>(bytes) / 1e6 / std::max(0.001, total - setup);
}

int bench(const std::filesystem::path& dir, std::size_t bytes) {
  const std::string text = terminal_text(bytes);
  const std::string random = random_bytes(bytes);
  double writer_random = 0;
  {
    const pinned_to_one_core pin;
    std::printf(
        "recorder_bench: %zu MiB per run, 64 KiB chunks, group-commit fdatasync, in %s; the "
        "producer and the writer share CPU %d (the kernel's writeback runs where it may)\n",
        bytes >> 20, dir.c_str(), pin.cpu());
    for (const int level : {3, 1, -1}) {
      const auto t = run(text, 4096, dir, level);
      const auto r = run(random, 32768, dir, level);
      std::printf(
          "zstd %2d  terminal text: %7.1f MB/s stored/raw %.3f (goal <= 0.2)   random: %7.1f "
          "MB/s stored/raw %.3f (goal <= 1.01)\n",
          level, t.mb_per_s, t.ratio, r.mb_per_s, r.ratio);
      std::fflush(stdout);
      if (level == 3) {
        writer_random = r.mb_per_s;  // bastiond's default level
      }
    }
  }
  const bastion::test::temp_dir data("bastion-bench-data");
  const std::string file = (data / "random.bin").string();
  bastion::bench::write_random_file(file, bytes);
  const double relay = relay_rate(file, bytes);
  std::printf(
      "writer   random bytes at zstd 3 on one core: %.1f MB/s = x%.2f the relay rate of one ssh -J "
      "upload through bastiond (%.1f MB/s, recording, handshakes excluded; the client and the "
      "target share this machine's cores) (goal >= 5: %s)\n",
      writer_random, writer_random / relay, relay, writer_random >= 5 * relay ? "met" : "NOT met");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* tmp = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe): single-threaded
  const std::filesystem::path dir = argc > 2 ? argv[2] : (tmp != nullptr ? tmp : "/tmp");
  return bastion::bench::bench_main(
      argc > 2 ? 2 : argc, argv, "recorder_bench", "MiB per run", 256, 16384,
      [&dir](long mib) { return bench(dir, static_cast<std::size_t>(mib) << 20); });
}
