// bench/recorder: how fast the recorder's writer path runs on one core, and how small it stores.
// Prints MB/s for terminal-like text and for random bytes (queue + encode + zstd + SHA-256 +
// write + fdatasync, as in production) and stored/raw size ratios.
// Usage: recorder_bench [MiB per run, default 256] [directory, default $TMPDIR or /tmp]
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

// Feeds `payload` as 4 KiB data events (what a PTY read delivers) through the production path:
// the bounded queue, the writer thread, 64 KiB chunks, zstd, SHA-256, write and group-commit
// fdatasync. The producer waits while the queue is over half full, as a session's backpressure
// would, so what is timed is the writer.
figures run(const std::string& payload, const std::filesystem::path& dir, int level) {
  recording_service service({.dir = dir, .zstd_level = level});
  file_header header;
  header.id = random_session_id();
  const auto start = std::chrono::steady_clock::now();
  auto session = service.start(header);
  constexpr std::size_t piece = 4096;
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

}  // namespace

int main(int argc, char** argv) try {
  const std::size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 256;
  const char* tmp = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe): single-threaded
  const std::filesystem::path dir = argc > 2 ? argv[2] : (tmp != nullptr ? tmp : "/tmp");
  const std::size_t bytes = mib * 1024 * 1024;
  std::printf(
      "recorder_bench: %zu MiB per run, 4 KiB events, 64 KiB chunks, group-commit fdatasync, in "
      "%s\n",
      mib, dir.c_str());
  const std::string text = terminal_text(bytes);
  const std::string random = random_bytes(bytes);
  for (const int level : {3, 1, -1}) {
    const auto t = run(text, dir, level);
    const auto r = run(random, dir, level);
    std::printf(
        "zstd %2d  terminal text: %7.1f MB/s stored/raw %.3f (goal <= 0.2)   random: %7.1f MB/s "
        "stored/raw %.3f (goal <= 1.01)\n",
        level, t.mb_per_s, t.ratio, r.mb_per_s, r.ratio);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "recorder_bench: %s\n", e.what());
  return 1;
}
