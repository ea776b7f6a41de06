// bench/soak: `ssh -J` sessions open, move data both ways and close in a loop for MINUTES, mixed
// with refused ones (an unknown key, whose address the penalties then refuse at accept, and a
// login that no grant allows). It prints bastiond's descriptors, RSS, journal queue, recorder
// queue and lost recording bytes at the start, every minute and at the end, and checks at the
// end, once the load has stopped, that none of them grew and that every recording verifies.
// Usage: soak_bench [minutes, default 30]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <bastion/common/escape.hpp>
#include <bastion/common/metrics.hpp>

#include "build_paths.hpp"
#include "jump_harness.hpp"

namespace {

using namespace std::chrono_literals;
using bastion::bench::jump_harness;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t transfer_bytes = std::size_t{512} * 1024;
constexpr long warm_ups = 3;

struct tally {
  std::atomic<long> ok{0};
  std::atomic<long> refused{0};
  std::atomic<long> failed{0};
  std::mutex mutex;
  std::string first_failure;

  void fail(const std::string& what) {
    ++failed;
    const std::lock_guard lock(mutex);
    if (first_failure.empty()) {
      first_failure = bastion::escape(what, 2000);  // ssh's stderr, printed to a terminal
    }
  }
};

struct sample {
  std::size_t fds = 0;
  long rss_kib = 0;
  double journal_rows = 0;
  double recorder_queue = 0;
  double lost_bytes = 0;
};

sample take(const jump_harness& h) {
  const std::string scrape = bastion::test::http_get(h.metrics_port(), "/metrics");
  const auto value = [&](const char* series) {
    return bastion::metrics::value_of(scrape, series).value_or(-1);
  };
  return {bastion::test::open_fds(h.bastiond_pid()), bastion::test::rss_kib(h.bastiond_pid()),
          value("bastion_journal_queue_rows"), value("bastion_recording_queue_bytes"),
          value("bastion_recording_lost_bytes_total")};
}

void print(const char* when, double minutes, const sample& s, const tally& t) {
  std::printf(
      "%-5s %6.1f min  sessions ok %6ld refused %6ld failed %3ld  fds %4zu  rss %7ld KiB  "
      "journal %4.0f rows  recorder queue %8.0f B  lost %4.0f B\n",
      when, minutes, t.ok.load(), t.refused.load(), t.failed.load(), s.fds, s.rss_kib,
      s.journal_rows, s.recorder_queue, s.lost_bytes);
  std::fflush(stdout);
}

// Downloads and uploads transfer_bytes through the bastion, alternately.
void transfers(const jump_harness& h, const std::string& upload, const std::atomic<bool>& stop,
               tally& t) {
  for (bool down = true; !stop; down = !down) {
    const auto r = down ? bastion::test::run(
                              h.ssh(h.via_bastion(),
                                    "head -c " + std::to_string(transfer_bytes) + " /dev/urandom"),
                              {.timeout = 120s})
                        : bastion::test::run(h.ssh(h.via_bastion(), "wc -c"),
                                             {.stdin_data = upload, .timeout = 120s});
    const bool good = r.exit_code == 0 && (down ? r.out.size() == transfer_bytes
                                                : r.out == std::to_string(transfer_bytes) + "\n");
    if (good) {
      ++t.ok;
    } else {
      t.fail(std::string(down ? "download" : "upload") + ": exit " + std::to_string(r.exit_code) +
             ", " + std::to_string(r.out.size()) + " bytes: " + r.err);
    }
  }
}

// Logins that must be refused: an unknown key from 127.0.0.9, then a login no grant allows.
void refusals(const jump_harness& h, const std::string& stranger, const std::atomic<bool>& stop,
              tally& t) {
  for (bool unknown_key = true; !stop; unknown_key = !unknown_key) {
    const auto r = unknown_key ? bastion::test::run({"ssh",
                                                     "-F",
                                                     "/dev/null",
                                                     "-i",
                                                     stranger,
                                                     "-o",
                                                     "IdentitiesOnly=yes",
                                                     "-o",
                                                     "IdentityAgent=none",
                                                     "-o",
                                                     "BatchMode=yes",
                                                     "-o",
                                                     "StrictHostKeyChecking=yes",
                                                     "-o",
                                                     "UserKnownHostsFile=" + h.known_hosts(),
                                                     "-o",
                                                     "BindAddress=127.0.0.9",
                                                     "-p",
                                                     std::to_string(h.bastion_port()),
                                                     "alice@127.0.0.1",
                                                     "true"},
                                                    {.timeout = 60s})
                               : bastion::test::run(h.ssh("nobody@t1", "true"), {.timeout = 60s});
    const bool refused =
        r.exit_code == 255 && (unknown_key ? r.err.find("Permission denied") != std::string::npos ||
                                                 r.err.find("try again in") != std::string::npos
                                           : r.err.find("may not log in") != std::string::npos);
    if (refused) {
      ++t.refused;
    } else {
      t.fail(std::string(unknown_key ? "unknown key" : "no grant") + ": exit " +
             std::to_string(r.exit_code) + ": " + r.err);
    }
    std::this_thread::sleep_for(200ms);
  }
}

// What `bastionctl verify` says of every session's recording (each recording file is named by
// its session id): the number that are not intact.
long unverified(const jump_harness& h, long& checked) {
  long bad = 0;
  for (const auto& file : std::filesystem::directory_iterator(h.dir() / "rec")) {
    if (file.path().extension() != ".brec") {
      continue;
    }
    const auto r = bastion::test::run({bastion::test::bastionctl_path(), "--config", h.config(),
                                       "verify", file.path().stem().string()});
    ++checked;
    if (r.exit_code != 0) {
      ++bad;
      std::fprintf(stderr, "soak: %s", (r.out + r.err).c_str());
    }
  }
  return bad;
}

int soak(long minutes) {
  const jump_harness h({.bastion_limits = "max_startups: \"100\""});
  const std::string upload = bastion::test::read_file(h.random_file(transfer_bytes));
  const std::string stranger = bastion::test::make_ssh_key(h.dir(), "stranger", "ed25519");
  tally t;
  for (int i = 0; i < warm_ups; ++i) {  // the target's first logins, the page cache
    bastion::test::run(h.ssh(h.via_bastion(), "true"));
  }
  const sample first = take(h);
  print("start", 0, first, t);

  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  workers.emplace_back([&] { transfers(h, upload, stop, t); });
  workers.emplace_back([&] { transfers(h, upload, stop, t); });
  workers.emplace_back([&] { refusals(h, stranger, stop, t); });
  const auto started = clock_type::now();
  sample steady = first;  // after the first minute, once the allocator and caches are warm
  for (long m = 1; m <= minutes; ++m) {
    std::this_thread::sleep_until(started + std::chrono::minutes(m));
    const sample now = take(h);
    print("", static_cast<double>(m), now, t);
    if (m == 1) {
      steady = now;
    }
  }
  stop = true;
  for (auto& w : workers) {
    w.join();
  }
  // Settled: the last sessions' rows written and their descriptors closed.
  std::this_thread::sleep_for(8s);
  const sample last = take(h);
  const double elapsed = std::chrono::duration<double>(clock_type::now() - started).count() / 60;
  print("end", elapsed, last, t);

  long checked = 0;
  const long bad = unverified(h, checked);
  // Growth is judged against the first minute: at the start the process is cold.
  const double rss_ratio = static_cast<double>(last.rss_kib) / static_cast<double>(steady.rss_kib);
  std::printf(
      "soak: %ld recordings verified, %ld not intact; fds %zu -> %zu; rss %ld KiB at the "
      "start, %ld after the first minute, %ld at the end (%.2fx the first minute); lost "
      "%.0f B\n",
      checked, bad, first.fds, last.fds, first.rss_kib, steady.rss_kib, last.rss_kib, rss_ratio,
      last.lost_bytes);
  if (t.failed > 0) {
    std::printf("soak: first failure: %s\n", t.first_failure.c_str());
  }
  // Every session that worked left a recording (the warm-ups too), and each one verified.
  const bool all_recorded = checked >= t.ok + warm_ups;
  if (!all_recorded) {
    std::printf("soak: %ld recordings for %ld sessions\n", checked, t.ok + warm_ups);
  }
  const bool pass = t.failed == 0 && bad == 0 && all_recorded && last.lost_bytes == 0 &&
                    last.journal_rows == 0 && last.fds <= first.fds + 2 && rss_ratio <= 1.2 &&
                    t.ok > 0 && t.refused > 0;
  std::printf("soak: %s\n", pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return bastion::bench::bench_main(argc, argv, "soak_bench", "minutes", 30, 24L * 60, soak);
}
