// What deploy/ and docker-compose.yml ship, checked with the tools that read them: docker-compose
// validates the compose file against its schema (no daemon needed) and check_compose.py what the
// stack needs beyond it; systemd-analyze verifies the unit; the container's entrypoint writes a
// config that bastiond accepts.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "build_paths.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace bastion::test {
namespace {

const std::string root = bastion::test::repo_root();

TEST(deploy, the_compose_file_is_valid_and_has_what_the_stack_needs) {
  const auto config = run({"docker-compose", "--project-directory", root, "-f",
                           root + "/docker-compose.yml", "config"});
  ASSERT_EQ(config.exit_code, 0) << config.err;
  const auto check = run({"python3", bastion::test::clients_dir() + "/check_compose.py", root},
                         {.stdin_data = config.out});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

// The unit as installed, with ExecStart pointing at this build's bastiond (systemd-analyze checks
// that the binary exists). Unknown or misspelled settings are only warnings to systemd: any output
// fails the test.
TEST(deploy, the_systemd_unit_verifies_and_is_sandboxed) {
  const std::string unit = read_file(root + "/deploy/systemd/bastiond.service");
  for (const char* line :
       {"User=bastion", "NoNewPrivileges=yes", "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/bastion", "PrivateTmp=yes", "CapabilityBoundingSet=\n",
        "AmbientCapabilities=\n", "ExecReload=/bin/kill -HUP $MAINPID"}) {
    EXPECT_CONTAINS(unit, line);
  }
  const temp_dir dir;
  const auto copy =
      dir.write("bastiond.service", std::regex_replace(unit, std::regex("/usr/local/bin/bastiond"),
                                                       bastion::test::bastiond_path()));
  const auto r = run({"systemd-analyze", "verify", copy.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out + r.err, "");
}

// The container's first start: keys and a config that bastiond --check-config accepts; a second
// start keeps both.
TEST(deploy, the_container_entrypoint_writes_a_config_that_bastiond_accepts) {
  const temp_dir dir;
  const std::string state = dir.path().string();
  const std::string path =
      std::filesystem::path(bastion::test::bastiond_path()).parent_path().string() +
      ":/usr/bin:/bin";
  const std::vector<std::string> start{"env",
                                       "PATH=" + path,
                                       "BASTION_STATE=" + state,
                                       "BASTION_CONFIG=" + state + "/bastion.yaml",
                                       "BASTION_DATABASE=host=/nonexistent dbname=bastion",
                                       root + "/deploy/docker/entrypoint.sh",
                                       "bastiond",
                                       "--check-config"};
  const auto first = run(start);
  EXPECT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_CONTAINS(first.out, ": ok");
  const std::string config = read_file(state + "/bastion.yaml");
  EXPECT_CONTAINS(config, "metrics: { listen: \"0.0.0.0:9122\" }");
  const std::string key = read_file(state + "/keys/upstream_ed25519_key.pub");
  EXPECT_FALSE(key.empty());
  const auto second = run(start);
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(read_file(state + "/keys/upstream_ed25519_key.pub"), key);
  EXPECT_EQ(read_file(state + "/bastion.yaml"), config);
}

}  // namespace
}  // namespace bastion::test
