// bastionctl's entry: global options, dispatch, and the mapping of failures to exit codes.
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <ostream>

#include <bastion/admin/bastionctl.hpp>
#include <bastion/common/escape.hpp>

#include "cli.hpp"
#include "views.hpp"

namespace bastion::admin {
namespace {

// Who acts, for audit_events: the person behind sudo if there is one.
std::string os_actor() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing changes the environment
  if (const char* sudo = std::getenv("SUDO_USER"); sudo != nullptr && *sudo != '\0') {
    return sudo;
  }
  passwd pw{};
  passwd* found = nullptr;
  std::string buf(4096, '\0');
  if (getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return pw.pw_name;
  }
  return "uid:" + std::to_string(geteuid());
}

constexpr const char* default_config_path = "var/bastion.yaml";

}  // namespace

const config& cli_context::cfg() {
  if (cfg_) {
    return *cfg_;
  }
  std::string path = config_path;
  if (path.empty()) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing changes the environment
    if (const char* env = std::getenv("BASTION_CONFIG"); env != nullptr && *env != '\0') {
      path = env;
    } else if (std::filesystem::exists(default_config_path)) {
      path = default_config_path;
    } else {
      throw command_error(
          "no config found: pass --config FILE, set BASTION_CONFIG, or run from the directory "
          "that holds var/bastion.yaml (scripts/run creates it)");
    }
  }
  try {
    cfg_ = load_config(path);
  } catch (const config_error& e) {
    throw command_error(e.what());
  }
  return *cfg_;
}

std::string cli_context::conninfo() {
  return db.empty() ? cfg().database : db;
}

policy::store& cli_context::store() {
  if (!store_) {
    const std::string node = db.empty() ? cfg().node_name : "bastionctl";
    store_ = std::make_unique<policy::store>(conninfo(), os_actor(), node);
  }
  return *store_;
}

void print_json(std::ostream& out, const nlohmann::json& doc) {
  out << dump_json(doc) << "\n";
}

int run_bastionctl(int argc, const char* const* argv, std::istream& in, std::ostream& out,
                   std::ostream& err) {
  cli_context ctx(in, out, err);
  CLI::App app{"bastionctl: administer the SSH bastion (users, keys, targets, grants)",
               "bastionctl"};
  app.add_option("--config", ctx.config_path,
                 "Config file (default: $BASTION_CONFIG, then ./var/bastion.yaml)");
  app.add_option("--db", ctx.db, "PostgreSQL conninfo or URI; overrides the config's database");
  app.require_subcommand(1);
  app.fallthrough();
  add_system_commands(app, ctx);
  add_identity_commands(app, ctx);
  add_target_commands(app, ctx);
  add_grant_commands(app, ctx);
  add_recording_commands(app, ctx);
  add_session_commands(app, ctx);
  add_token_commands(app, ctx);
  try {
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    err << "bastionctl: " << escape(e.what(), 400)
        << "\nRun with --help for the commands and options.\n";
    return 2;
  } catch (const command_error& e) {
    err << "bastionctl: " << e.what() << "\n";
    return e.exit_code();
  } catch (const policy::store_error& e) {
    err << "bastionctl: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace bastion::admin
