// The metrics that bastiond serves on metrics.listen, scraped as Prometheus would: after a known
// sequence (two refused logins, one good `ssh -J` session that moves 1 MiB each way) each series
// moved by what happened, and promtool accepts the exposition.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>

#include <bastion/common/metrics.hpp>

#include "build_paths.hpp"
#include "target_support.hpp"

namespace bastion::test {
namespace {

using metrics_scrape = jump_session;

// The series' value in `text`, or -1 if absent (so that a missing series fails the comparison).
double value(const std::string& text, const std::string& series) {
  return metrics::value_of(text, series).value_or(-1);
}

TEST_F(metrics_scrape, counters_move_by_what_a_known_sequence_did) {
  const std::string before = scrape();
  ASSERT_FALSE(before.empty());
  EXPECT_EQ(value(before, "bastion_build_info{version=\"0.1.0\"}"), 1);
  EXPECT_GE(value(before, "bastion_policy_reloads_total{result=\"ok\"}"), 1);
  const auto moved = [&](const std::string& after, const std::string& series) {
    return value(after, series) - value(before, series);
  };

  const std::string stranger = make_ssh_key(dir(), "stranger", "ed25519");
  for (int i = 0; i < 2; ++i) {
    const auto r = ssh("alice", {stranger});
    EXPECT_EQ(r.exit_code, 255);
    EXPECT_CONTAINS(r.err, "Permission denied (publickey)");
  }
  const std::string mib(std::size_t{1} << 20, 'x');
  const auto r = jump(jump_config_, login() + "@t1", "cat", mib);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.out.size(), mib.size());

  std::string after;
  // Connection ends, the journal and the recording writer are counted as they settle, off the
  // client's exit: the writer thread counts a chunk when it writes it, which on a loaded machine
  // can come after the session has ended.
  ASSERT_TRUE(eventually(
      [&] {
        after = scrape();
        return moved(after, "bastion_connections_total{result=\"authenticated\"}") >= 1 &&
               value(after, "bastion_sessions_active") == 0 &&
               value(after, "bastion_journal_queue_rows") == 0 &&
               value(after, "bastion_recording_queue_bytes") == 0 &&
               moved(after, "bastion_recording_bytes_total{kind=\"raw\"}") >= 2 << 20;
      },
      std::chrono::seconds(20)))
      << after;
  EXPECT_EQ(moved(after, "bastion_auth_attempts_total{method=\"publickey\",result=\"denied\"}"), 2);
  EXPECT_EQ(moved(after, "bastion_auth_attempts_total{method=\"publickey\",result=\"ok\"}"), 1);
  EXPECT_EQ(moved(after, "bastion_connections_total{result=\"denied\"}"), 2);
  EXPECT_EQ(moved(after, "bastion_connections_total{result=\"authenticated\"}"), 1);
  EXPECT_EQ(moved(after, "bastion_bytes_total{direction=\"to_target\"}"), 1 << 20);
  EXPECT_EQ(moved(after, "bastion_bytes_total{direction=\"to_client\"}"), 1 << 20);
  EXPECT_EQ(moved(after, "bastion_upstream_connects_total{result=\"ok\"}"), 1);
  EXPECT_EQ(moved(after, "bastion_upstream_connect_seconds_count"), 1);
  EXPECT_GT(moved(after, "bastion_upstream_connect_seconds_sum"), 0);
  EXPECT_EQ(value(after, "bastion_channels_active{kind=\"exec\"}"), 0);
  // Both directions are in the recording, with their event framing; cat's output of x's
  // compresses to almost nothing.
  EXPECT_GE(moved(after, "bastion_recording_bytes_total{kind=\"raw\"}"), 2 << 20);
  EXPECT_GT(moved(after, "bastion_recording_bytes_total{kind=\"stored\"}"), 0);
  EXPECT_LT(moved(after, "bastion_recording_bytes_total{kind=\"stored\"}"), 1 << 20);
  EXPECT_EQ(moved(after, "bastion_recording_lost_bytes_total"), 0);
  EXPECT_EQ(moved(after, "bastion_db_errors_total"), 0);

  const auto check = run({"promtool", "check", "metrics"}, {.stdin_data = after});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  // BASTION_TEST_SCRAPE_OUT=FILE keeps the scrape, to show what a known sequence exports.
  if (const char* keep = std::getenv("BASTION_TEST_SCRAPE_OUT")) {  // NOLINT(concurrency-mt-unsafe)
    std::ofstream(keep) << after;
  }
}

// A live session and its channel show in the gauges while they last.
TEST_F(metrics_scrape, gauges_show_live_sessions_and_channels) {
  child_process client({"ssh", "-F", jump_config_, login() + "@t1", "sleep 30"},
                       (dir() / "client.log").string());
  std::string now;
  ASSERT_TRUE(eventually(
      [&] {
        now = scrape();
        return value(now, "bastion_channels_active{kind=\"exec\"}") == 1;
      },
      std::chrono::seconds(30)))
      << now << read_file(log_);
  EXPECT_EQ(value(now, "bastion_sessions_active"), 1);
  EXPECT_EQ(value(now, "bastion_channels_active{kind=\"shell\"}"), 0);
  client.stop(SIGTERM);
  ASSERT_TRUE(eventually(
      [&] {
        now = scrape();
        return value(now, "bastion_sessions_active") == 0 &&
               value(now, "bastion_channels_active{kind=\"exec\"}") == 0;
      },
      std::chrono::seconds(20)))
      << now;
}

// A second bastiond whose stderr nobody reads: a FIFO held open and never read, shrunk to one page,
// with a log queue of 16 lines. Sessions go on at full pace; the lines that do not fit are
// dropped and counted.
TEST_F(metrics_scrape, a_stderr_that_nobody_reads_never_holds_a_session) {
  const auto fifo = dir().path() / "stderr.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0666), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  ASSERT_GT(::fcntl(reader, F_SETPIPE_SZ, 4096), 0);
  daemon_->stop(SIGTERM);  // this fixture's bastiond gives its ports to the muted one
  daemon_.reset();
  const std::string text =
      with_log_level(read_file(config_) + "log: { queue_lines: 16 }\n", "debug");
  const auto muted = dir().write("muted.yaml", text);
  child_process daemon({"sh", "-c",
                        "exec " + bastion::test::bastiond_path() + " --config " + muted.string() +
                            " 2>" + fifo.string()},
                       (dir() / "muted.log").string());
  ASSERT_TRUE(wait_for_port(port_, std::chrono::seconds(30)));
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const auto r = jump(jump_config_, login() + "@t1", "echo session-" + std::to_string(i));
    EXPECT_EQ(r.out, "session-" + std::to_string(i) + "\n") << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  }
  EXPECT_GT(value(scrape(), "bastion_log_dropped_lines_total"), 0);
  EXPECT_EQ(daemon.stop(SIGKILL), 128 + SIGKILL);  // its last lines have nowhere to go
  ::close(reader);
}

// The metric names that `text` (a dashboard, a rules file) uses.
std::set<std::string> metric_names_in(const std::string& text) {
  std::set<std::string> names;
  const std::regex name(R"(\bbastion_[a-z0-9_]+)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator();
       ++it) {
    names.insert(it->str());
  }
  return names;
}

// What the shipped dashboard and alert rules query is what bastiond exports (a histogram's
// _bucket, _sum and _count series are its own), and promtool accepts the Prometheus files.
TEST_F(metrics_scrape, the_dashboard_and_the_alerts_use_only_exported_metrics) {
  const std::string exported = scrape();
  const std::string deploy = bastion::test::repo_root() + "/deploy";
  for (const std::string file : {"/grafana/bastion.json", "/prometheus/alerts.yml"}) {
    const auto names = metric_names_in(read_file(deploy + file));
    EXPECT_GE(names.size(), 8U) << file;
    for (const auto& used : names) {
      const std::string base = std::regex_replace(used, std::regex("_(bucket|sum|count)$"), "");
      const bool ok = exported.find("# TYPE " + used + " ") != std::string::npos ||
                      exported.find("# TYPE " + base + " histogram") != std::string::npos;
      EXPECT_TRUE(ok) << file << " uses " << used << ", which bastiond does not export";
    }
  }
  const auto config = run({"promtool", "check", "config", deploy + "/prometheus/prometheus.yml"});
  EXPECT_EQ(config.exit_code, 0) << config.out << config.err;
  const auto rules = run({"promtool", "check", "rules", deploy + "/prometheus/alerts.yml"});
  EXPECT_EQ(rules.exit_code, 0) << rules.out << rules.err;
}

}  // namespace
}  // namespace bastion::test
