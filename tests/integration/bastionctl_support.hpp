// Shared by the integration tests that drive the real bastionctl and bastiond binaries.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "postgres.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace bastion::test {

// A fresh, migrated database per test, and bastionctl pointed at it with --db.
class bastionctl_test : public ::testing::Test {
 protected:
  void SetUp() override;

  // Runs bastionctl --db CONNINFO args...
  run_result ctl(const std::vector<std::string>& args, const std::string& stdin_data = "") const;
  // Runs it and expects exit 0; returns stdout.
  std::string ok(const std::vector<std::string>& args, const std::string& stdin_data = "") const;
  // Runs a listing with --json and parses the array.
  nlohmann::json json(std::vector<std::string> args) const;
  // SELECT count(*) FROM `rows` ("audit_events WHERE kind = 'connection'"), in this database.
  int count_rows(const std::string& rows) const {
    const std::string n =
        postgres_cluster::instance().psql(dbname_, "SELECT count(*) FROM " + rows);
    return std::stoi(n.empty() ? "0" : n);
  }
  // Writes a bastion.yaml in dir() for this database, with freshly generated keys and recordings
  // in recording_dir() and the journal spool in journal_dir(). `limits`, `recording` and `policy`
  // add entries to those mappings ("login_grace_time: 2s", "failure_mode: fail_open").
  std::string write_config(int listen_port, const std::string& limits = "",
                           const std::string& recording = "", const std::string& policy = "") const;
  std::filesystem::path recording_dir() const { return dir_.path() / "rec"; }
  std::filesystem::path journal_dir() const { return dir_.path() / "journal"; }
  // `config` (write_config's text) with `log_level: LEVEL` in place of any log_level it has.
  static std::string with_log_level(const std::string& config, const std::string& level);
  // The metrics of the bastiond that runs with write_config's file: the body of GET /metrics.
  std::string scrape() const;
  // Starts bastiond with `config` as the service user (as scripts/run does: when the tests run as
  // root, an OS user whose name is none of the logins upstream), logging to `log`, and waits
  // until it listens; null (with a failed expectation) if it does not.
  // `launcher` goes before the binary ({"env", "VAR=value"}, say).
  std::unique_ptr<child_process> start_bastiond(
      const std::string& config, const std::string& log,
      const std::vector<std::string>& launcher = {}) const;

  // A database session that holds audit_events locked against writes (a database that takes no
  // audit rows; reads go on) until
  // unlock_audit_table().
  std::unique_ptr<child_process> lock_audit_table() const;
  void unlock_audit_table() const;

  const temp_dir& dir() const { return dir_; }
  std::string conninfo_;
  std::string dbname_;
  int metrics_port_ = free_port();  // write_config's metrics.listen
  int admin_port_ = free_port();    // write_config's admin.listen

 private:
  temp_dir dir_{"bastion-test", unprivileged_uid()};  // bastiond writes its recordings here
};

}  // namespace bastion::test
