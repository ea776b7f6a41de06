// scp (SFTP protocol and the legacy one), sftp and rsync through the bastion, 20 MiB each way,
// compared byte for byte, in both access forms: `ssh -J bastion LOGIN@t1` and
// `ssh LOGIN@t1@bastion`.
#include <random>

#include "target_support.hpp"

namespace bastion::test {
namespace {

enum class form { username, jump };

class proxy_transfer : public proxy_session, public ::testing::WithParamInterface<form> {
 protected:
  void SetUp() override {
    proxy_session::SetUp();
    std::mt19937_64 rng(20);
    std::string data(std::size_t{20} * 1024 * 1024, '\0');
    for (auto& c : data) {
      c = static_cast<char>(rng());
    }
    local_ = dir().write("local.bin", data).string();
    remote_dir_ = std::make_unique<temp_dir>("bastion-remote");
    config_file_ = jump_config(alice_key_, alice_key_);
  }

  // Client options; `port_flag` is how the tool names the port ("-p" for ssh, "-P" for scp).
  std::vector<std::string> client_options(const std::string& port_flag) const {
    if (GetParam() == form::jump) {
      return {"-F", config_file_};  // the config sends t1 through the bastion (ProxyJump)
    }
    return {port_flag, std::to_string(port_),
            "-F",      "/dev/null",
            "-o",      "BatchMode=yes",
            "-o",      "StrictHostKeyChecking=yes",
            "-o",      "UserKnownHostsFile=" + known_hosts_,
            "-o",      "IdentitiesOnly=yes",
            "-o",      "IdentityAgent=none",
            "-i",      alice_key_};
  }

  std::string host() const {
    return GetParam() == form::jump ? login() + "@t1" : login() + "@t1@127.0.0.1";
  }

  std::string remote(const std::string& name) const {
    return host() + ":" + (*remote_dir_ / name).string();
  }

  void expect_same(const std::string& a, const std::string& b) const {
    const std::string x = read_file(a);
    const std::string y = read_file(b);
    EXPECT_EQ(x.size(), y.size());
    EXPECT_TRUE(x == y) << a << " and " << b << " differ";
  }

  std::string local_;
  std::unique_ptr<temp_dir> remote_dir_;
  std::string config_file_;
};

TEST_P(proxy_transfer, scp_both_protocols_both_ways) {
  for (const bool legacy : {false, true}) {
    std::vector<std::string> argv{"scp", "-q"};
    if (legacy) {
      argv.emplace_back("-O");
    }
    const auto opts = client_options("-P");
    argv.insert(argv.end(), opts.begin(), opts.end());
    auto up = argv;
    up.insert(up.end(), {local_, remote("up.bin")});
    const auto r1 = run(up, {.timeout = std::chrono::seconds(120)});
    ASSERT_EQ(r1.exit_code, 0) << r1.err;
    expect_same(local_, (*remote_dir_ / "up.bin").string());
    auto down = argv;
    const std::string back = (dir() / "down.bin").string();
    down.insert(down.end(), {remote("up.bin"), back});
    const auto r2 = run(down, {.timeout = std::chrono::seconds(120)});
    ASSERT_EQ(r2.exit_code, 0) << r2.err;
    expect_same(local_, back);
    std::filesystem::remove(back);
  }
}

TEST_P(proxy_transfer, sftp_both_ways) {
  std::vector<std::string> argv{"sftp", "-q"};
  const auto opts = client_options("-P");
  argv.insert(argv.end(), opts.begin(), opts.end());
  argv.insert(argv.end(), {"-b", "-", host()});
  const std::string back = (dir() / "sftp-down.bin").string();
  const std::string batch = "put " + local_ + " " + (*remote_dir_ / "sftp.bin").string() +
                            "\nget " + (*remote_dir_ / "sftp.bin").string() + " " + back + "\n";
  // The batch comes on standard input, as scripts feed sftp.
  const auto r = run(argv, {.stdin_data = batch, .timeout = std::chrono::seconds(120)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same(local_, (*remote_dir_ / "sftp.bin").string());
  expect_same(local_, back);
}

TEST_P(proxy_transfer, rsync_both_ways) {
  std::string rsh = "ssh";
  for (const auto& o : client_options("-p")) {
    rsh += " " + o;
  }
  const auto r1 = run({"rsync", "-a", "-e", rsh, local_, remote("rsync.bin")},
                      {.timeout = std::chrono::seconds(120)});
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  expect_same(local_, (*remote_dir_ / "rsync.bin").string());
  const std::string back = (dir() / "rsync-down.bin").string();
  const auto r2 = run({"rsync", "-a", "-e", rsh, remote("rsync.bin"), back},
                      {.timeout = std::chrono::seconds(120)});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  expect_same(local_, back);
}

INSTANTIATE_TEST_SUITE_P(forms, proxy_transfer, ::testing::Values(form::username, form::jump),
                         [](const ::testing::TestParamInfo<form>& param_info) {
                           return param_info.param == form::jump ? std::string("jump")
                                                                 : std::string("username_form");
                         });

}  // namespace
}  // namespace bastion::test
