// A running bastiond with users alice (active) and bob (disabled), and an OpenSSH client helper:
// the fixture of the tests that connect through the bastion.
#pragma once

#include <csignal>
#include <fstream>
#include <thread>

#include "bastionctl_support.hpp"
#include "build_paths.hpp"
#include "sshd.hpp"

namespace bastion::test {

class bastiond_fixture : public bastionctl_test {
 protected:
  void SetUp() override {
    bastionctl_test::SetUp();
    port_ = free_port();
    config_ = write_config(port_, limits(), recording(), policy());
    alice_key_ = make_ssh_key(dir(), "alice", "ed25519");
    bob_key_ = make_ssh_key(dir(), "bob", "ed25519");
    ok({"user", "add", "alice", "--key", alice_key_ + ".pub"});
    ok({"user", "add", "bob", "--key", bob_key_ + ".pub"});
    ok({"user", "disable", "bob"});
    const std::string outer = read_file((dir() / "outer.pub").string());
    known_hosts_ =
        dir().write("known_hosts", "[127.0.0.1]:" + std::to_string(port_) + " " + outer).string();

    log_ = (dir() / "bastiond.log").string();
    daemon_ = start_bastiond(config_, log_);
    ASSERT_TRUE(daemon_);
  }

  // Stops the fixture's bastiond and starts it again with `extra_config` appended to its config
  // (top-level keys, "banner: hello\n"), launched through `launcher`, logging to a
  // file of its own.
  void restart_bastiond(const std::string& extra_config,
                        const std::vector<std::string>& launcher = {}) {
    ASSERT_EQ(daemon_->stop(SIGTERM), 0) << read_file(log_);
    std::ofstream(config_, std::ios::app) << extra_config;
    log_ = (dir() / ("bastiond-" + std::to_string(++restarts_) + ".log")).string();
    daemon_ = start_bastiond(config_, log_, launcher);
    ASSERT_TRUE(daemon_);
  }

  // The `limits:` entries of the bastion's config.
  virtual std::string limits() const { return "login_grace_time: 2s, max_auth_tries: 6"; }
  // Entries added to the `recording:` mapping.
  virtual std::string recording() const { return {}; }
  // Entries added to the `policy:` mapping.
  virtual std::string policy() const { return {}; }

  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(SIGTERM), 0) << read_file(log_);
    }
  }

  // Policy changes reach bastiond through NOTIFY: run `change`, then wait until bastiond has
  // loaded a policy version at least as new as the database's after it.
  template <class Change>
  void change_policy(Change change) {
    change();
    const std::string db_version =
        postgres_cluster::instance().psql(dbname_, "SELECT version FROM policy_version");
    const long wanted = std::stol(db_version);
    const auto loaded = [&] {
      const std::string log = read_file(log_);
      long newest = -1;
      const std::string mark = ", version ";
      for (auto at = log.find(mark); at != std::string::npos; at = log.find(mark, at + 1)) {
        newest = std::max(newest, std::strtol(log.c_str() + at + mark.size(), nullptr, 10));
      }
      return newest;
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (loaded() < wanted && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_GE(loaded(), wanted) << "bastiond did not load policy version " << wanted;
  }

  // Replaces alice's key by the same key with authorized_keys `options`.
  void set_alice_key_options(const std::string& options) {
    const std::string pub = read_file(alice_key_ + ".pub");
    const std::string line = ssh_keygen_fingerprint_line(alice_key_ + ".pub");
    const std::string fp =
        line.substr(line.find(' ') + 1, line.find(' ', line.find(' ') + 1) - line.find(' ') - 1);
    change_policy([&] {
      ctl({"key", "remove", fp});
      ok({"key", "add", "alice", "-"}, options + " " + pub);
    });
  }

  // Runs `ssh [-v] ... user@127.0.0.1 command` through the bastion with only `keys`; with an
  // empty `command`, the login shell.
  run_result ssh(const std::string& user, const std::vector<std::string>& keys,
                 const std::vector<std::string>& extra = {}, const std::string& command = "true",
                 const std::string& stdin_data = "") const {
    return run(ssh_argv(user, keys, extra, command),
               {.stdin_data = stdin_data, .timeout = std::chrono::seconds(60)});
  }

  // The command line of ssh() above, to run it in the background.
  std::vector<std::string> ssh_argv(const std::string& user, const std::vector<std::string>& keys,
                                    const std::vector<std::string>& extra,
                                    const std::string& command) const {
    std::vector<std::string> argv{"ssh",       "-F",
                                  "/dev/null", "-v",
                                  "-o",        "BatchMode=yes",
                                  "-o",        "StrictHostKeyChecking=yes",
                                  "-o",        "UserKnownHostsFile=" + known_hosts_,
                                  "-o",        "IdentitiesOnly=yes",
                                  "-o",        "IdentityAgent=none",
                                  "-o",        "ConnectTimeout=10",
                                  "-p",        std::to_string(port_)};
    for (const auto& k : keys) {
      argv.insert(argv.end(), {"-i", k});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(user + "@127.0.0.1");
    if (!command.empty()) {
      argv.push_back(command);
    }
    return argv;
  }

  // An ssh_config for `ssh -J`: the bastion as host "bastion" (outer key `outer_key`), every
  // other host through it (inner key `inner_key`), trusted with the lines that `bastionctl
  // known-hosts` prints, as a user would set it up.
  std::string jump_config(const std::string& outer_key, const std::string& inner_key) const {
    const auto lines = run({bastion::test::bastionctl_path(), "--config", config_, "known-hosts"});
    EXPECT_EQ(lines.exit_code, 0) << lines.err;
    const std::string known = dir().write("jump_known_hosts", lines.out).string();
    const auto common = [&](const std::string& key) {
      return "  IdentityFile " + key +
             "\n  IdentitiesOnly yes\n  IdentityAgent none\n  BatchMode yes\n"
             "  StrictHostKeyChecking yes\n  UserKnownHostsFile " +
             known + "\n  ConnectTimeout 60\n";
    };
    return dir()
        .write("jump_config", "Host bastion\n  HostName 127.0.0.1\n  Port " +
                                  std::to_string(port_) + "\n  User alice\n" + common(outer_key) +
                                  "Host * !bastion\n  ProxyJump bastion\n" + common(inner_key))
        .string();
  }

  // Runs `ssh -F config [extra] destination command` (through the bastion by ProxyJump).
  static run_result jump(const std::string& config, const std::string& destination,
                         const std::string& command, const std::string& stdin_data = "",
                         const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{"ssh", "-F", config};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {destination, command});
    return run(argv, {.stdin_data = stdin_data, .timeout = std::chrono::seconds(60)});
  }

  // bastiond's log once it holds `text` past byte `from`, or as it is after 10 s: lines reach the
  // file from bastiond's logging thread, a moment after what they tell.
  std::string log_once(const std::string& text, std::size_t from = 0) const {
    std::string log;
    eventually([&] {
      log = read_file(log_);
      return log.find(text, from) != std::string::npos;
    });
    return log;
  }

  // How many times bastiond's log holds `text`.
  int count_in_log(const std::string& text) const {
    const std::string log = read_file(log_);
    int n = 0;
    for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) {
      ++n;
    }
    return n;
  }

  // How many of the files dir()/PREFIX0 .. PREFIX(n-1) hold `text` (the outputs of n clients).
  int outputs_containing(const std::string& prefix, int n, const std::string& text) const {
    int found = 0;
    for (int i = 0; i < n; ++i) {
      const std::string out = read_file((dir() / (prefix + std::to_string(i))).string());
      found += out.find(text) != std::string::npos ? 1 : 0;
    }
    return found;
  }

  // Audit rows are written off the io threads: wait for them to land.
  std::string audit_rows(const std::string& where, int expected) const {
    std::string out;
    for (int i = 0; i < 200; ++i) {
      out = postgres_cluster::instance().psql(dbname_,
                                              "SELECT string_agg(result || ' ' || actor || ' ' || "
                                              "source_addr, ',' ORDER BY id) FROM audit_events "
                                              "WHERE " +
                                                  where);
      if (std::count(out.begin(), out.end(), ',') + (out.size() > 1 ? 1 : 0) >= expected) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return out;
  }

  int port_ = 0;
  std::string config_;
  std::string alice_key_;
  std::string bob_key_;
  std::string known_hosts_;
  std::string log_;
  std::unique_ptr<child_process> daemon_;
  int restarts_ = 0;
};

// Fails the test unless bastiond's log comes to hold `text` (a bastiond_fixture member).
#define EXPECT_LOGGED(text) EXPECT_CONTAINS(log_once(text), text)

}  // namespace bastion::test
