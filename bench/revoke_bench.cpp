// bench/revoke: how soon a live `ssh -J bastion t1 sleep 120` ends once an admin acts, with a stock
// OpenSSH client: `bastionctl revoke alice t1` (the policy reload decides every live session
// again), and `bastionctl kill ID` (the node that holds the session ends it). Each is timed from
// the moment the admin command starts to the client's exit, so it includes bastionctl's own run;
// the time after bastionctl returned is printed beside it. Prints medians and maxima over the
// runs (goal: revoke to client exit <= 1 s).
// Usage: revoke_bench [runs, default 10]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "jump_harness.hpp"

namespace {

using bastion::bench::jump_harness;
using clock_type = std::chrono::steady_clock;

struct timing {
  double total_ms = 0;  // from the admin command's start
  double after_ms = 0;  // from its return
};

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// A client whose command runs on the target: its output file holds "ready".
std::unique_ptr<bastion::test::child_process> start_sleeper(const jump_harness& h,
                                                            const std::string& log) {
  auto p = std::make_unique<bastion::test::child_process>(
      h.ssh(h.via_bastion(), "echo ready; exec sleep 120"), log);
  if (!bastion::test::eventually(
          [&] { return bastion::test::read_file(log).find("ready") != std::string::npos; },
          std::chrono::seconds(30))) {
    throw std::runtime_error("the session did not start: " + bastion::test::read_file(log));
  }
  return p;
}

template <class Act>
timing time_exit(bastion::test::child_process& client, Act act) {
  const auto t0 = clock_type::now();
  act();
  const auto t1 = clock_type::now();
  if (!client.wait_exit(std::chrono::seconds(10))) {
    throw std::runtime_error("the client did not exit within 10 s of the admin's command");
  }
  const auto t2 = clock_type::now();
  return {ms_between(t0, t2), ms_between(t1, t2)};
}

std::string live_session_id(const jump_harness& h) {
  for (int i = 0; i < 200; ++i) {
    const std::string out = h.bastionctl({"sessions", "--live", "--json"});
    const auto at = out.find("\"id\":\"");
    if (at != std::string::npos) {
      return out.substr(at + 6, 36);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("the session row did not appear");
}

void report(const char* what, std::vector<timing> runs) {
  const auto pick = [&](auto field) {
    std::vector<double> v;
    v.reserve(runs.size());
    for (const auto& t : runs) {
      v.push_back(t.*field);
    }
    std::sort(v.begin(), v.end());
    const double median =
        v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    return std::pair{median, v.back()};
  };
  const auto [total, total_max] = pick(&timing::total_ms);
  const auto [after, after_max] = pick(&timing::after_ms);
  std::printf(
      "  %-34s median %7.1f ms (max %7.1f); after bastionctl returned %6.1f ms (max %6.1f)\n", what,
      total, total_max, after, after_max);
}

int bench(int runs) {
  const jump_harness h({});
  const std::string log = (h.dir() / "client.log").string();
  std::vector<timing> revokes;
  std::vector<timing> kills;
  for (int i = 0; i < runs; ++i) {
    auto client = start_sleeper(h, log);
    revokes.push_back(time_exit(*client, [&] { h.bastionctl({"revoke", "alice", "t1"}); }));
    h.bastionctl({"grant", "alice", "t1", "--login", h.login()});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the grant reaches bastiond
    client = start_sleeper(h, log);
    const std::string id = live_session_id(h);
    kills.push_back(time_exit(*client, [&] { h.bastionctl({"kill", id}); }));
  }
  std::printf("admin command to client exit, ssh -J t1 sleep 120, %d runs each\n", runs);
  report("bastionctl revoke alice t1:", revokes);
  report("bastionctl kill ID (waits for row):", kills);
  std::printf("  goal: revoke to client exit <= 1000 ms\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bastion::bench::bench_main(argc, argv, "revoke_bench", "runs", 10, 1000,
                                    [](long n) { return bench(static_cast<int>(n)); });
}
