// bastiond as a process: --check-config, startup migrations, listening, the SIGTERM drain, and
// the startup errors an operator meets first.
#include <csignal>
#include <functional>
#include <sstream>
#include <thread>

#include "bastionctl_support.hpp"
#include "build_paths.hpp"

namespace bastion::test {
namespace {

class bastiond : public bastionctl_test {
 protected:
  // Waits until the log holds `text`, or the timeout passes.
  static bool wait_for_log(const std::string& log, const std::string& text,
                           std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (read_file(log).find(text) != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Starts a bastiond on a fresh config (on `port`), then, while it runs, a second one on that
  // config as `change` rewrites it; what the second printed as it exited.
  run_result beside_a_running_bastiond(int port,
                                       const std::function<void(std::string& text)>& change) {
    const std::string config = write_config(port);
    const child_process first({bastion::test::bastiond_path(), "--config", config},
                              (dir() / "first.log").string());
    EXPECT_TRUE(wait_for_port(port, std::chrono::seconds(30)));
    std::string text = read_file(config);
    change(text);
    return run(
        {bastion::test::bastiond_path(), "--config", dir().write("second.yaml", text).string()});
  }
};

TEST_F(bastiond, check_config_accepts_a_good_config) {
  const std::string config = write_config(free_port());
  const auto r = run({bastion::test::bastiond_path(), "--check-config", "--config", config});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_CONTAINS(r.out, ": ok");
}

TEST_F(bastiond, check_config_names_the_bad_key_and_the_fix) {
  const auto bad = dir().write("bad.yaml", "database: x\nlimits:\n  login_grace_time: soon\n");
  const auto r = run({bastion::test::bastiond_path(), "--check-config", "--config", bad.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "bad.yaml:3: limits.login_grace_time: \"soon\" is not a duration");

  const auto no_keys =
      dir().write("nokeys.yaml", "database: x\nhost_keys: [\"/nonexistent/key\"]\n");
  const auto r2 =
      run({bastion::test::bastiond_path(), "--check-config", "--config", no_keys.string()});
  EXPECT_EQ(r2.exit_code, 1);
  EXPECT_CONTAINS(r2.err, "host_keys[0]: /nonexistent/key does not exist");
  EXPECT_CONTAINS(r2.err, "ssh-keygen -t ed25519");

  const auto r3 = run({bastion::test::bastiond_path(), "--config", "/nonexistent.yaml"});
  EXPECT_EQ(r3.exit_code, 1);
  EXPECT_CONTAINS(r3.err, "/nonexistent.yaml: cannot read the config file");
}

TEST_F(bastiond, listens_then_drains_on_sigterm_and_exits_0) {
  const int port = free_port();
  const std::string config = write_config(port);
  const std::string log = (dir() / "bastiond.log").string();
  child_process daemon({bastion::test::bastiond_path(), "--config", config}, log);
  ASSERT_TRUE(
      wait_for_log(log, "listening on 127.0.0.1:" + std::to_string(port), std::chrono::seconds(30)))
      << read_file(log);
  EXPECT_TRUE(wait_for_port(port, std::chrono::seconds(5)));
  EXPECT_EQ(daemon.stop(SIGTERM), 0) << read_file(log);
  EXPECT_CONTAINS(read_file(log), "received SIGTERM; no longer accepting");
  EXPECT_CONTAINS(read_file(log), "stopped");
  EXPECT_FALSE(wait_for_port(port, std::chrono::milliseconds(200)))
      << "the port must be closed after exit";
}

TEST_F(bastiond, applies_pending_migrations_at_startup) {
  const std::string fresh = postgres_cluster::instance().fresh_database();
  std::string config_text = read_file(write_config(free_port()));
  config_text.replace(config_text.find(conninfo_), conninfo_.size(), fresh);
  const auto config = dir().write("fresh.yaml", config_text);
  const std::string log = (dir() / "fresh.log").string();
  child_process daemon({bastion::test::bastiond_path(), "--config", config.string()}, log);
  ASSERT_TRUE(wait_for_log(log, "listening on", std::chrono::seconds(30))) << read_file(log);
  EXPECT_CONTAINS(read_file(log), "applied migration 0001_init");
  EXPECT_EQ(daemon.stop(SIGINT), 0);
}

TEST_F(bastiond, an_unreachable_database_is_one_line_and_exit_1) {
  std::string config_text = read_file(write_config(free_port()));
  config_text.replace(config_text.find(conninfo_), conninfo_.size(),
                      "host=/nonexistent dbname=bastion password=hunter2");
  const auto config = dir().write("down.yaml", config_text);
  const auto r = run({bastion::test::bastiond_path(), "--config", config.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "cannot reach PostgreSQL at \"");
  EXPECT_CONTAINS(r.err, "host=/nonexistent");
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.find("hunter2"), std::string::npos);
}

TEST_F(bastiond, a_port_in_use_is_named) {
  const int port = free_port();
  const auto second = beside_a_running_bastiond(port, [&](std::string& text) {
    // Its own journal spool: a directory is held by one bastiond at a time (the next test).
    const std::string spool = journal_dir().string();
    text.replace(text.find(spool), spool.size(), spool + "-second");
  });
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_CONTAINS(second.err, "cannot listen on 127.0.0.1:" + std::to_string(port));
}

TEST_F(bastiond, a_journal_spool_in_use_is_named_with_the_fix) {
  const int port = free_port();
  const auto second = beside_a_running_bastiond(port, [&](std::string& text) {
    // The same config on ports of its own.
    for (const int used : {port, metrics_port_}) {
      const std::string at = "127.0.0.1:" + std::to_string(used);
      text.replace(text.find(at), at.size(), "127.0.0.1:" + std::to_string(free_port()));
    }
  });
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_CONTAINS(second.err, "policy.journal_spool " + journal_dir().string() +
                                  ": another bastiond holds " +
                                  (journal_dir() / "journal.spool").string() +
                                  "; give each bastiond on this machine its own "
                                  "`policy: { journal_spool: DIR }`");
}

// log: { format: json } makes every line one JSON object, the untrusted parts still escaped.
TEST_F(bastiond, json_logs_are_one_object_per_line) {
  const auto config =
      dir().write("json.yaml", read_file(write_config(free_port())) + "log: { format: json }\n");
  const std::string log = (dir() / "json.log").string();
  child_process daemon({bastion::test::bastiond_path(), "--config", config.string()}, log);
  ASSERT_TRUE(wait_for_log(log, "listening on", std::chrono::seconds(30))) << read_file(log);
  EXPECT_EQ(daemon.stop(SIGTERM), 0);
  std::istringstream lines(read_file(log));
  int objects = 0;
  for (std::string line; std::getline(lines, line);) {
    const auto doc = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << line;
    EXPECT_TRUE(doc.contains("time") && doc.contains("level") && doc.contains("msg")) << line;
    ++objects;
  }
  EXPECT_GE(objects, 3);
  EXPECT_CONTAINS(read_file(log), "\"msg\":\"listening on 127.0.0.1:");
}

TEST_F(bastiond, a_metrics_port_in_use_is_named) {
  const silent_listener taken;
  std::string text = read_file(write_config(free_port()));
  const std::string mine = "127.0.0.1:" + std::to_string(metrics_port_);
  const std::string theirs = "127.0.0.1:" + std::to_string(taken.port());
  text.replace(text.find(mine), mine.size(), theirs);
  const auto config = dir().write("metrics-taken.yaml", text);
  const auto r = run({bastion::test::bastiond_path(), "--config", config.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "metrics.listen: cannot listen on " + theirs);
  EXPECT_CONTAINS(r.err, "Address already in use");
  EXPECT_CONTAINS(r.err, "free the port, or change `metrics: { listen: ... }`");
}

}  // namespace
}  // namespace bastion::test
