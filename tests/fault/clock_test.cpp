// The wall clock jumps (an NTP step, an admin's `date -s`) while bastiond runs: every timeout
// follows the steady clock, so a jump neither cuts a connection early nor lets one outstay its
// limit, and recorded time does not jump with it. bastiond runs under libfaketime, whose offset
// file the test rewrites; CLOCK_MONOTONIC is left alone (DONT_FAKE_MONOTONIC).
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <sstream>
#include <thread>

#include "build_paths.hpp"
#include "target_support.hpp"

namespace bastion::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* libfaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

// The wall-clock times of bastiond's log lines ("2026-12-04T03:25:01.123Z info ...").
std::vector<std::time_t> log_times(const std::string& log) {
  std::vector<std::time_t> times;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    std::tm tm{};
    if (strptime(line.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) != nullptr) {
      times.push_back(timegm(&tm));
    }
  }
  return times;
}

// Seconds from `start` until the peer closes `fd` (read returns 0 or fails), or -1 after `limit`.
double seconds_until_closed(int fd, std::chrono::steady_clock::time_point start,
                            std::chrono::seconds limit) {
  char buf[4096];
  while (std::chrono::steady_clock::now() - start < limit) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) > 0 && read(fd, buf, sizeof buf) <= 0) {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  }
  return -1;
}

class clock_fault : public jump_session {
 protected:
  static constexpr double grace = 4;
  std::string limits() const override {
    return "login_grace_time: 4s, max_auth_tries: 6, connect_timeout: 60s, "
           "max_session_duration: 30s, max_startups: \"200\", per_source_max_startups: 200";
  }
  void SetUp() override {
    jump_session::SetUp();
    // The fixture's bastiond again, under libfaketime.
    offset_file_ = dir().write("faketime", "+0").string();
    const char* asan = std::getenv("ASAN_OPTIONS");  // NOLINT(concurrency-mt-unsafe)
    restart_bastiond("", {"env", std::string("LD_PRELOAD=") + libfaketime,
                          "FAKETIME_TIMESTAMP_FILE=" + offset_file_, "FAKETIME_NO_CACHE=1",
                          "DONT_FAKE_MONOTONIC=1",
                          // The sanitizer runtime would insist on coming first in the preload list.
                          std::string("ASAN_OPTIONS=") + (asan != nullptr ? asan : "") +
                              ":verify_asan_link_order=0"});
    ASSERT_TRUE(daemon_);
  }
  void jump_wall_clock(const char* offset) const { dir().write("faketime", offset); }

  // A client that sends its version line and nothing more, from `source`; the seconds from its
  // connect until bastiond closes it, with the wall clock moved by `offset` half a second in.
  double stalled_login(const char* source, const char* offset) const {
    const auto start = std::chrono::steady_clock::now();
    const int fd = connect_loopback(port_, source);
    EXPECT_GE(fd, 0);
    const std::string hello = "SSH-2.0-stalled\r\n";
    EXPECT_EQ(write(fd, hello.data(), hello.size()), static_cast<ssize_t>(hello.size()));
    std::this_thread::sleep_for(500ms);
    jump_wall_clock(offset);
    const double closed = seconds_until_closed(fd, start, 30s);
    close(fd);
    return closed;
  }
  std::string offset_file_;
};

TEST_F(clock_fault, timeouts_and_recorded_time_follow_the_steady_clock) {
  const std::time_t started = std::time(nullptr);
  const double forward = stalled_login("127.0.7.1", "+7200");
  const double backward = stalled_login("127.0.7.2", "-7200");
  std::printf(
      "clock: with the wall clock stepped 2h forward, the login grace time (4s) closed a "
      "stalled login after %.2fs; stepped 2h back, after %.2fs\n",
      forward, backward);
  EXPECT_GE(forward, grace - 0.3);
  EXPECT_LT(forward, grace + 3);
  EXPECT_GE(backward, grace - 0.3);
  EXPECT_LT(backward, grace + 3);

  // A session across two steps of 2h: max_session_duration (30s) does not end it.
  jump_wall_clock("+0");
  run_result spanning;
  std::jthread session(
      [&] { spanning = exec(login() + "@t1", "echo a; sleep 2; echo b; sleep 2; echo c"); });
  std::this_thread::sleep_for(1500ms);
  jump_wall_clock("+7200");
  std::this_thread::sleep_for(2s);
  jump_wall_clock("-7200");
  session.join();
  EXPECT_EQ(spanning.out, "a\nb\nc\n") << spanning.err << read_file(log_);

  // Its recording's times come from the steady clock: about 4 s, not hours.
  const auto sessions = json({"sessions"});
  ASSERT_FALSE(sessions.empty());
  const auto cast = run({bastion::test::bastionctl_path(), "--config", config_, "export",
                         sessions[0]["id"].get<std::string>(), "--format", "asciicast"});
  ASSERT_EQ(cast.exit_code, 0) << cast.err;
  const std::string last_line = cast.out.substr(cast.out.rfind('\n', cast.out.size() - 2) + 1);
  const double last_event = std::strtod(last_line.c_str() + 1, nullptr);
  std::printf("clock: a session across steps of +2h and -2h: its recording's last event at %.2fs\n",
              last_event);
  EXPECT_GT(last_event, 3.5) << cast.out;
  EXPECT_LT(last_event, 15) << cast.out;
  // The steps were real for bastiond: its log's wall-clock stamps moved 2h either way.
  const auto times = log_times(read_file(log_));
  EXPECT_TRUE(std::any_of(times.begin(), times.end(), [&](auto t) { return t > started + 5400; }))
      << read_file(log_);
  EXPECT_TRUE(std::any_of(times.begin(), times.end(), [&](auto t) { return t < started - 5400; }))
      << read_file(log_);
}

}  // namespace
}  // namespace bastion::test
