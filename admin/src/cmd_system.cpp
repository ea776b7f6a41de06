// bastionctl migrate, known-hosts, client-config and upstream-key: the schema, and the keys and
// client settings that users and targets trust.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <ostream>

#include <bastion/common/escape.hpp>
#include <bastion/common/ssh.hpp>
#include <bastion/policy/migrate.hpp>

#include "cli.hpp"

namespace bastion::admin {
namespace {

std::string public_line_of(const std::filesystem::path& private_key, std::string_view key_name) {
  auto key = load_private_key(private_key);
  if (!key) {
    throw command_error(std::string(key_name) + ": " + key.error().text +
                        "; scripts/run generates it, or: ssh-keygen -t ed25519 -N '' -f " +
                        private_key.string());
  }
  return public_key_line(key->get());
}

// known_hosts names for host:port: plain for port 22, "[host]:port" otherwise.
std::string host_pattern(const std::string& host, int port) {
  return port == 22 ? host : "[" + host + "]:" + std::to_string(port);
}

struct known_hosts_opts {
  std::string target;
  std::string bastion_host;
  bool json = false;
};

// The known_hosts lines: each target's (the inner key under its names), then the bastion's own.
nlohmann::json known_hosts_entries(cli_context& ctx, const known_hosts_opts& o) {
  const config& cfg = ctx.cfg();
  nlohmann::json doc = nlohmann::json::array();
  const std::string inner = public_line_of(cfg.inner_host_key, "inner_host_key");
  bool found = o.target.empty();
  for (const auto& t : ctx.store().list_targets()) {
    if (!o.target.empty() && t.name != o.target) {
      continue;
    }
    found = true;
    std::string patterns = host_pattern(t.name, 22);
    if (t.port != 22) {
      patterns += "," + host_pattern(t.name, t.port);
    }
    if (t.host != t.name) {
      patterns += "," + host_pattern(t.host, t.port);
    }
    doc.push_back(
        {{"kind", "inner"}, {"target", t.name}, {"line", patterns.append(" ").append(inner)}});
  }
  if (!found) {
    throw command_error("no target " + escape(o.target, 64) +
                        "; `bastionctl target list` shows them");
  }
  for (const auto& listen : cfg.listen) {
    std::string host = o.bastion_host.empty() ? listen.host : o.bastion_host;
    if (host == "0.0.0.0" || host == "::") {
      host = cfg.node_name;
    }
    for (std::size_t i = 0; i < cfg.host_keys.size(); ++i) {
      const std::string line =
          host_pattern(host, listen.port) + " " +
          public_line_of(cfg.host_keys[i], "host_keys[" + std::to_string(i) + "]");
      doc.push_back({{"kind", "outer"}, {"target", nullptr}, {"line", line}});
    }
  }
  return doc;
}

void print_known_hosts(cli_context& ctx, const known_hosts_opts& o) {
  const nlohmann::json doc = known_hosts_entries(ctx, o);
  if (o.json) {
    return print_json(ctx.out, doc);
  }
  ctx.out << "# Add these lines to ~/.ssh/known_hosts. Inner sessions of `ssh -J` present the "
             "bastion's\n"
             "# inner host key under each target's name; the last lines are the bastion itself.\n";
  for (const auto& entry : doc) {
    ctx.out << entry["line"].get<std::string>() << "\n";
  }
}

struct client_config_opts {
  std::string user;
  std::string host;
  int port = 0;
  std::string alias = "bastion";
  std::string known_hosts;  // written, and named by the snippet
  std::string identity;
};

// A value that goes into ssh_config as it is: no quoting is needed, and none could be injected.
std::string config_value(const std::string& value, std::string_view option) {
  const bool plain = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("._-/~:[]@+%").find(c) != std::string_view::npos;
  });
  if (!plain) {
    throw command_error(std::string(option) + " \"" + escape(value, 100) +
                        "\" cannot go into an ssh_config as it is; use a value without spaces, "
                        "quotes or control characters");
  }
  return value;
}

// One ssh_config for the user: the bastion under `alias`, every target behind it by ProxyJump,
// and a known_hosts file of its own (the inner key under the target names, the bastion's key
// under its name), so that a host also reached directly keeps its real key in ~/.ssh/known_hosts.
void print_client_config(cli_context& ctx, const client_config_opts& o) {
  const config& cfg = ctx.cfg();
  const endpoint& first = cfg.listen.front();
  const std::string host =
      config_value(!o.host.empty()                                   ? o.host
                   : (first.host == "0.0.0.0" || first.host == "::") ? cfg.node_name
                                                                     : first.host,
                   "--host");
  const int port = o.port != 0 ? o.port : first.port;
  const std::string alias = config_value(o.alias, "--alias");
  const std::string known = config_value(
      o.known_hosts.empty() ? "~/.ssh/bastion_known_hosts" : o.known_hosts, "--known-hosts");
  std::string targets;
  std::string lines;
  for (const auto& entry : known_hosts_entries(ctx, {})) {
    if (entry["kind"] == "inner") {
      if (entry["target"] == alias) {
        throw command_error("a target is named " + alias + "; pass --alias with another name");
      }
      targets += " " + entry["target"].get<std::string>();
      lines += entry["line"].get<std::string>() + "\n";
    }
  }
  for (std::size_t i = 0; i < cfg.host_keys.size(); ++i) {
    lines += host_pattern(host, port) + " " +
             public_line_of(cfg.host_keys[i], "host_keys[" + std::to_string(i) + "]") + "\n";
  }
  if (targets.empty()) {
    throw command_error("no targets yet; add one with `bastionctl target add`");
  }
  if (!o.known_hosts.empty()) {
    std::ofstream out(o.known_hosts, std::ios::trunc);
    if (!(out << lines) || !out.flush()) {
      throw command_error("cannot write " + o.known_hosts + "; check the path");
    }
  }
  const std::string common =
      (o.identity.empty() ? ""
                          : "  IdentityFile " + config_value(o.identity, "--identity") +
                                "\n  IdentitiesOnly yes\n") +
      "  UserKnownHostsFile " + known + "\n  StrictHostKeyChecking yes\n";
  ctx.out << "# ssh_config for the targets of the bastion " << cfg.node_name
          << " (bastionctl client-config).\n"
          << "# Use it as `ssh -F THIS_FILE LOGIN@TARGET`, or put `Include THIS_FILE` at the top "
             "of ~/.ssh/config.\n"
          << (o.known_hosts.empty() ? "# Write its known_hosts file first: bastionctl known-hosts "
                                      "--bastion-host " +
                                          host + " > " + known + "\n"
                                    : "")
          << "Host " << alias << "\n  HostName " << host << "\n  Port " << port << "\n"
          << (o.user.empty() ? "" : "  User " + config_value(o.user, "--user") + "\n") << common
          << "Host" << targets << "\n  ProxyJump " << alias << "\n"
          << common;
}

}  // namespace

void add_system_commands(CLI::App& app, cli_context& ctx) {
  auto* migrate_cmd = app.add_subcommand("migrate", "Apply pending database migrations");
  migrate_cmd->callback([&ctx] {
    const auto r = policy::migrate(ctx.conninfo());
    for (const auto& name : r.applied) {
      ctx.out << "applied " << name << "\n";
    }
    ctx.out << "schema at version " << r.to_version << (r.applied.empty() ? " (up to date)" : "")
            << "\n";
  });

  auto kh = std::make_shared<known_hosts_opts>();
  auto* kh_cmd = app.add_subcommand(
      "known-hosts", "Print the known_hosts lines that clients add to trust the bastion");
  kh_cmd->add_option("TARGET", kh->target, "Only this target's line (and the bastion's own)");
  kh_cmd->add_option("--bastion-host", kh->bastion_host,
                     "The name clients use for the bastion (default: its listen address)");
  add_json_flag(kh_cmd, kh->json);
  kh_cmd->callback([&ctx, kh] { print_known_hosts(ctx, *kh); });

  auto cc = std::make_shared<client_config_opts>();
  auto* cc_cmd = app.add_subcommand(
      "client-config", "Print an ssh_config that reaches every target through the bastion");
  cc_cmd->add_option("--user", cc->user, "The bastion user the config logs in as");
  cc_cmd->add_option("--host", cc->host,
                     "The name or address clients use for the bastion (default: its listen "
                     "address)");
  cc_cmd->add_option("--port", cc->port, "The port clients use (default: the listen port)")
      ->check(CLI::Range(1, 65535));
  cc_cmd->add_option("--alias", cc->alias, "The Host name of the bastion in the config")
      ->capture_default_str();
  cc_cmd->add_option("--known-hosts", cc->known_hosts,
                     "Write the known_hosts lines to FILE and name it in the config (default: "
                     "the config names ~/.ssh/bastion_known_hosts)");
  cc_cmd->add_option("--identity", cc->identity, "The key file the config authenticates with");
  cc_cmd->callback([&ctx, cc] { print_client_config(ctx, *cc); });

  auto* up_cmd = app.add_subcommand("upstream-key",
                                    "Print the public key that targets authorise for the bastion");
  up_cmd->callback([&ctx] {
    ctx.out << public_line_of(ctx.cfg().upstream_key, "upstream_key") << " bastion-upstream@"
            << ctx.cfg().node_name << "\n";
  });
}

}  // namespace bastion::admin
