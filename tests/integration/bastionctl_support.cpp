// Fixture for tests that drive bastionctl.
#include "bastionctl_support.hpp"

#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <stdexcept>

#include "build_paths.hpp"
#include "sshd.hpp"

namespace bastion::test {

void bastionctl_test::SetUp() {
  conninfo_ = postgres_cluster::instance().fresh_database();
  dbname_ = conninfo_.substr(conninfo_.find("dbname=") + 7);
  dbname_ = dbname_.substr(0, dbname_.find(' '));
  const auto r = ctl({"migrate"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

run_result bastionctl_test::ctl(const std::vector<std::string>& args,
                                const std::string& stdin_data) const {
  std::vector<std::string> argv{bastion::test::bastionctl_path(), "--db", conninfo_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {.stdin_data = stdin_data});
}

std::string bastionctl_test::ok(const std::vector<std::string>& args,
                                const std::string& stdin_data) const {
  const auto r = ctl(args, stdin_data);
  EXPECT_EQ(r.exit_code, 0) << "bastionctl " << (args.empty() ? "" : args[0]) << ": " << r.err;
  return r.out;
}

nlohmann::json bastionctl_test::json(std::vector<std::string> args) const {
  args.emplace_back("--json");
  const std::string out = ok(args);
  auto doc = nlohmann::json::parse(out, nullptr, false);
  EXPECT_TRUE(doc.is_array()) << out;
  return doc;
}

namespace {

// A key that bastiond reads as the service user.
std::string service_key(const temp_dir& dir, const std::string& name) {
  std::string path = make_ssh_key(dir, name, "ed25519");
  if (const auto uid = unprivileged_uid();
      uid && chown(path.c_str(), *uid, static_cast<gid_t>(-1)) != 0) {
    throw std::runtime_error("cannot chown " + path);
  }
  return path;
}

}  // namespace

std::unique_ptr<child_process> bastionctl_test::start_bastiond(
    const std::string& config, const std::string& log,
    const std::vector<std::string>& launcher) const {
  std::vector<std::string> argv = launcher;
  argv.insert(argv.end(), {bastion::test::bastiond_path(), "--config", config});
  auto daemon = std::make_unique<child_process>(argv, log, unprivileged_uid());
  const bool listening =
      eventually([&] { return read_file(log).find("listening on") != std::string::npos; },
                 std::chrono::seconds(30));
  EXPECT_TRUE(listening) << read_file(log);
  return listening ? std::move(daemon) : nullptr;
}

std::unique_ptr<child_process> bastionctl_test::lock_audit_table() const {
  const std::string hold =
      "BEGIN; LOCK TABLE audit_events IN SHARE MODE; SELECT pg_sleep(60); COMMIT;";
  auto holder = std::make_unique<child_process>(
      std::vector<std::string>{"psql", "-X", "-q", postgres_cluster::instance().conninfo(dbname_),
                               "-c", hold},
      (dir() / "lock.log").string());
  const bool locked = eventually([&] {
    return postgres_cluster::instance().psql(
               dbname_,
               "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE "
               "c.relname = 'audit_events' AND l.mode = 'ShareLock' AND l.granted") == "1\n";
  });
  EXPECT_TRUE(locked) << read_file((dir() / "lock.log").string());
  return holder;
}

// Ends the session that holds the lock (its backend sleeps on, whatever happens to psql).
void bastionctl_test::unlock_audit_table() const {
  postgres_cluster::instance().psql(
      dbname_,
      "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
      "WHERE c.relname = 'audit_events' AND l.mode = 'ShareLock' AND l.granted");
}

std::string bastionctl_test::with_log_level(const std::string& config, const std::string& level) {
  return std::regex_replace(config, std::regex("log_level: \\w+\n"), "") + "log_level: " + level +
         "\n";
}

std::string bastionctl_test::scrape() const {
  const std::string response = http_get(metrics_port_, "/metrics");
  const auto body = response.find("\r\n\r\n");
  EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0U) << response;
  return body == std::string::npos ? std::string() : response.substr(body + 4);
}

std::string bastionctl_test::write_config(int listen_port, const std::string& limits,
                                          const std::string& recording,
                                          const std::string& policy) const {
  const std::string outer = service_key(dir_, "outer");
  const std::string inner = service_key(dir_, "inner");
  const std::string upstream = service_key(dir_, "upstream");
  // BASTION_TEST_LOG_LEVEL=debug makes the daemons of a failing test tell more.
  const char* level = std::getenv(  // NOLINT(concurrency-mt-unsafe): no thread sets the environment
      "BASTION_TEST_LOG_LEVEL");
  const std::string log_level =
      level != nullptr ? "log_level: " + std::string(level) + "\n" : std::string();
  return dir_
      .write("bastion.yaml",
             "listen: [\"127.0.0.1:" + std::to_string(listen_port) + "\"]\nhost_keys: [\"" + outer +
                 "\"]\ninner_host_key: \"" + inner + "\"\nupstream_key: \"" + upstream +
                 "\"\ndatabase: \"" + conninfo_ + "\"\nnode_name: test-node\n" +
                 "metrics: { listen: \"127.0.0.1:" + std::to_string(metrics_port_) + "\" }\n" +
                 "admin: { listen: \"127.0.0.1:" + std::to_string(admin_port_) + "\" }\n" +
                 "limits: { drain_timeout: 5s" + (limits.empty() ? "" : ", " + limits) +
                 " }\nrecording: { dir: \"" + recording_dir().string() + "\"" +
                 (recording.empty() ? "" : ", " + recording) + " }\npolicy: { journal_spool: \"" +
                 journal_dir().string() + "\"" + (policy.empty() ? "" : ", " + policy) + " }\n" +
                 log_level)
      .string();
}

}  // namespace bastion::test
