// bastiond: loads the config, applies migrations, and serves until SIGTERM.
#include <libssh/libssh.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>

#include <bastion/admin/api_server.hpp>
#include <bastion/admin/metrics_endpoint.hpp>
#include <bastion/common/config.hpp>
#include <bastion/common/log.hpp>
#include <bastion/policy/journal.hpp>
#include <bastion/policy/migrate.hpp>
#include <bastion/policy/store.hpp>
#include <bastion/proxy/recovery.hpp>
#include <bastion/proxy/server.hpp>

namespace {

std::string default_config_path() {
  const char* env = std::getenv("BASTION_CONFIG");  // NOLINT(concurrency-mt-unsafe): before threads
  return env != nullptr && *env != '\0' ? env : "var/bastion.yaml";
}

// Each -J session holds four descriptors (client socket, both ends of the inner socketpair, the
// target's socket): the usual soft limit of 1024 would cap a node near 250 sessions. Raise it to
// the hard limit, as sshd's users get from systemd's LimitNOFILE.
void raise_open_files_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      spdlog::warn("cannot raise the open files limit; sessions are capped near {}",
                   limit.rlim_cur / 4);
    }
  }
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    spdlog::debug("open files limit {}", limit.rlim_cur);
  }
}

int serve(const bastion::config& cfg) {
  bastion::init_logging(cfg.log_level,
                        cfg.log_json ? bastion::log_format::json : bastion::log_format::text,
                        static_cast<std::size_t>(cfg.log_queue_lines));
  // A peer that closes its socket must be an error return on that connection, never a signal
  // that ends the process.
  std::signal(SIGPIPE, SIG_IGN);
  // libssh falls back to $SSH_AUTH_SOCK where a session has no agent: the bastion only ever uses
  // a user's agent that it was lent for that user's login, never one of its own environment.
  ::unsetenv("SSH_AUTH_SOCK");  // NOLINT(concurrency-mt-unsafe): no thread runs yet
  const auto migrated = bastion::policy::migrate(cfg.database);
  for (const auto& name : migrated.applied) {
    spdlog::info("applied migration {}", name);
  }
  spdlog::info("node={} schema_version={}", bastion::log_value(cfg.node_name), migrated.to_version);
  // What a crash during a database outage left in the spool goes in first: crash recovery must
  // see the sessions it holds.
  bastion::policy::replay_journal_spool(cfg.database, cfg.node_name, cfg.journal_spool);
  bastion::policy::store store(cfg.database, "bastiond", cfg.node_name);
  if (const int n = bastion::proxy::recover_crashed_sessions(cfg, store); n > 0) {
    spdlog::warn("finalised {} session(s) left open by a crash", n);
  }
  raise_open_files_limit();
  bastion::proxy::server srv(cfg);
  std::optional<bastion::admin::metrics_endpoint> metrics;
  if (cfg.metrics_enabled) {
    metrics.emplace(cfg);
  }
  std::optional<bastion::admin::api_server> api;
  if (cfg.admin_enabled) {
    api.emplace(cfg, srv.journal(), srv.recorder());
  }
  return srv.run();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bastiond: the recording SSH bastion", "bastiond"};
  std::string config_path = default_config_path();
  bool check_only = false;
  app.add_option("--config", config_path,
                 "Config file (default: $BASTION_CONFIG, then var/bastion.yaml)");
  app.add_flag("--check-config", check_only, "Validate the config and its key files, then exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    const auto cfg = bastion::load_config(config_path);
    bastion::check_key_files(cfg);
    if (check_only) {
      std::cout << config_path << ": ok\n";
      return 0;
    }
    ssh_init();
    int rc = 1;
    try {
      rc = serve(cfg);
    } catch (...) {
      bastion::shutdown_logging();  // the lines that wait, before the error that ends the process
      throw;
    }
    bastion::shutdown_logging();
    ssh_finalize();
    return rc;
  } catch (const bastion::config_error& e) {
    std::cerr << "bastiond: " << e.what() << "\n";
  } catch (const bastion::policy::store_error& e) {
    std::cerr << "bastiond: " << e.what() << "\n";
  } catch (const std::runtime_error& e) {
    std::cerr << "bastiond: " << e.what() << "\n";
  }
  return 1;
}
