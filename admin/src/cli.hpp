// What every bastionctl command shares: the global options, the lazily opened config and store,
// and the streams. Commands live in cmd_*.cpp, one file per area.
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include <bastion/common/config.hpp>
#include <bastion/policy/store.hpp>

namespace bastion::admin {

// A failure the user can fix; the message goes to stderr, and the exit code is 1 unless a
// command documents its own (verify: 3 for a recording that is intact but incomplete).
class command_error : public std::runtime_error {
 public:
  explicit command_error(const std::string& what, int exit_code = 1)
      : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// verify's exit code for a recording whose chunks are intact but which misses bytes that the
// session moved (fail_open, or a failure that ended it).
inline constexpr int exit_incomplete = 3;

class cli_context {
 public:
  cli_context(std::istream& input, std::ostream& output, std::ostream& errors)
      : in(input), out(output), err(errors) {}

  // The config from --config, BASTION_CONFIG or ./var/bastion.yaml. Throws command_error if none.
  const config& cfg();
  // --db if given, else the config's database.
  std::string conninfo();
  // Connects on first use.
  policy::store& store();

  std::string config_path;  // --config
  std::string db;           // --db
  std::istream& in;
  std::ostream& out;
  std::ostream& err;

 private:
  std::optional<config> cfg_;
  std::unique_ptr<policy::store> store_;
};

void add_identity_commands(CLI::App& app, cli_context& ctx);   // user, key
void add_target_commands(CLI::App& app, cli_context& ctx);     // target
void add_grant_commands(CLI::App& app, cli_context& ctx);      // grant, revoke, grants, group
void add_system_commands(CLI::App& app, cli_context& ctx);     // migrate, known-hosts, upstream-key
void add_recording_commands(CLI::App& app, cli_context& ctx);  // sessions, verify, replay, export
void add_session_commands(CLI::App& app, cli_context& ctx);    // kill, audit
void add_token_commands(CLI::App& app, cli_context& ctx);      // token

// One JSON document on its own line; invalid UTF-8 cannot reach here, but is replaced if it does.
void print_json(std::ostream& out, const nlohmann::json& doc);

// Adds the --json flag that every listing has.
inline CLI::Option* add_json_flag(CLI::App* cmd, bool& flag) {
  return cmd->add_flag("--json", flag, "Print one JSON array instead of a table");
}

}  // namespace bastion::admin
