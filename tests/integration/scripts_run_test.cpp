// scripts/run, the README's first command, run as a user runs it (as root in CI, where it starts
// PostgreSQL and bastiond as the service user): it serves, and a SIGTERM or SIGINT drains
// bastiond, stops its private PostgreSQL and exits 0.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>

#include "build_paths.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace bastion::test {
namespace {

class scripts_run : public ::testing::Test {
 protected:
  // A state directory with a config of its own (scripts/run keeps a bastion.yaml it finds), so
  // that the run takes a free port and leaves the checkout's var/ alone.
  void SetUp() override {
    port_ = free_port();
    const std::string v = var_.path().string();
    var_.write(
        "bastion.yaml",
        "listen: [\"127.0.0.1:" + std::to_string(port_) + "\"]\nhost_keys: [\"" + v +
            "/keys/ssh_host_ed25519_key\"]\ninner_host_key: \"" + v +
            "/keys/inner_host_ed25519_key\"\nupstream_key: \"" + v +
            "/keys/upstream_ed25519_key\"\ndatabase: \"host=" + v +
            "/run dbname=bastion user=bastion\"\nrecording: { dir: \"" + v +
            "/recordings\" }\nmetrics: { listen: \"127.0.0.1:" + std::to_string(free_port()) +
            "\" }\nadmin: { listen: \"127.0.0.1:" + std::to_string(free_port()) +
            "\" }\nlimits: { drain_timeout: 5s }\n");
    log_ = (dir_ / "run.log").string();
    script_ = std::make_unique<child_process>(
        // The binaries of the build under test; scripts/test has installed and built already.
        std::vector<std::string>{
            "env", "BASTION_VAR=" + v,
            "BASTION_PREBUILT=" +
                std::filesystem::path(bastion::test::bastiond_path()).parent_path().string(),
            "bash", bastion::test::repo_root() + "/scripts/run"},
        log_);
    ASSERT_TRUE(eventually(
        [&] {
          return read_file(log_).find("listening on 127.0.0.1:" + std::to_string(port_)) !=
                 std::string::npos;
        },
        std::chrono::seconds(300)))
        << read_file(log_);
  }

  void stopped_cleanly(int signo) {
    EXPECT_EQ(script_->stop(signo, std::chrono::seconds(60)), 0) << read_file(log_);
    EXPECT_CONTAINS(read_file(log_), "no longer accepting");
    EXPECT_FALSE(std::filesystem::exists(var_ / "pg" / "postmaster.pid"))
        << "the private PostgreSQL must be stopped";
    EXPECT_FALSE(wait_for_port(port_, std::chrono::milliseconds(200)));
  }

  temp_dir dir_{"bastion-run"};
  temp_dir var_{"bastion-var"};
  int port_ = 0;
  std::string log_;
  std::unique_ptr<child_process> script_;
};

TEST_F(scripts_run, sigterm_drains_bastiond_stops_postgresql_and_exits_0) {
  stopped_cleanly(SIGTERM);
}

TEST_F(scripts_run, sigint_does_the_same) {
  stopped_cleanly(SIGINT);
}

}  // namespace
}  // namespace bastion::test
