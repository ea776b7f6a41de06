// bastionctl migrate, known-hosts and upstream-key: the schema, and the keys users and targets
// trust.
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

void print_known_hosts(cli_context& ctx, const known_hosts_opts& o) {
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

  auto* up_cmd = app.add_subcommand("upstream-key",
                                    "Print the public key that targets authorise for the bastion");
  up_cmd->callback([&ctx] {
    ctx.out << public_line_of(ctx.cfg().upstream_key, "upstream_key") << " bastion-upstream@"
            << ctx.cfg().node_name << "\n";
  });
}

}  // namespace bastion::admin
