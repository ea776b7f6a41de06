// bastionctl target ..., grant, revoke, grants: what users may reach, and as whom.
#include <ostream>

#include <bastion/common/escape.hpp>

#include "cli.hpp"
#include "scan.hpp"
#include "table.hpp"

namespace bastion::admin {
namespace {

struct target_add_opts {
  std::string name;
  std::string host;
  int port = 22;
  std::vector<std::string> host_keys;
  bool scan = false;
  std::string expect;  // with --scan: the fingerprint the admin checked
  bool yes = false;    // refused: it stored a second scan that nobody saw
};

std::vector<policy::host_key> host_keys_from_args(const std::vector<std::string>& args) {
  std::vector<policy::host_key> keys;
  for (const auto& arg : args) {
    auto key = policy::parse_public_key(arg, false);
    if (!key) {
      throw command_error("--host-key: " + key.error().text);
    }
    keys.push_back({key->type, key->base64, key->fingerprint});
  }
  return keys;
}

std::string host_key_file(const std::string& type) {
  return "/etc/ssh/ssh_host_" +
         std::string(type == "ssh-rsa"       ? "rsa"
                     : type == "ssh-ed25519" ? "ed25519"
                                             : "ecdsa") +
         "_key.pub";
}

// --scan fetches the key and prints its fingerprint. It stores the key only with --expect and only
// if the fingerprint is the one the admin checked: a key scanned again later, unseen, could be a
// different one (an address taken over in between).
policy::host_key scanned_key(cli_context& ctx, const target_add_opts& o) {
  if (o.yes) {
    throw command_error(
        "--yes is refused: it would store a key fetched again now, not the one you checked; run "
        "with --scan to see the fingerprint, then with --scan --expect SHA256:... to store the "
        "key only if it still has that fingerprint");
  }
  const auto timeout = ctx.db.empty() ? ctx.cfg().limits.connect_timeout : std::chrono::seconds(10);
  auto key = scan_host_key(o.host, o.port, timeout);
  if (!key) {
    throw command_error(key.error().text);
  }
  ctx.out << escape(o.host, 100) << ":" << o.port << " " << key->fingerprint << " (" << key->type
          << ")\n";
  if (o.expect.empty()) {
    throw command_error("not stored: compare this fingerprint with `ssh-keygen -lf " +
                        host_key_file(key->type) +
                        "` run on the target, then store it with: bastionctl target add " + o.name +
                        " --host " + escape(o.host, 100) + " --port " + std::to_string(o.port) +
                        " --scan --expect " + key->fingerprint);
  }
  if (key->fingerprint != o.expect) {
    throw command_error("not stored: the target now presents " + key->fingerprint +
                        ", not the expected " + escape(o.expect, 100) +
                        "; check the target's host key (ssh-keygen -lf " +
                        host_key_file(key->type) + " on it) before you trust any key");
  }
  return std::move(*key);
}

void run_target_add(cli_context& ctx, const target_add_opts& o) {
  policy::target_info target{o.name, o.host, o.port, {}, {}};
  if (o.scan) {
    target.host_keys.push_back(scanned_key(ctx, o));
  } else {
    target.host_keys = host_keys_from_args(o.host_keys);
  }
  ctx.store().add_target(target);
  ctx.out << "added target " << o.name << " (" << escape(o.host, 100) << ":" << o.port << ") with "
          << target.host_keys.size() << " host key" << (target.host_keys.size() == 1 ? "" : "s")
          << "\n";
}

void print_targets(cli_context& ctx, bool json) {
  const auto targets = ctx.store().list_targets();
  if (json) {
    auto doc = nlohmann::json::array();
    for (const auto& t : targets) {
      auto keys = nlohmann::json::array();
      for (const auto& k : t.host_keys) {
        keys.push_back({{"type", k.type}, {"key", k.base64}, {"fingerprint", k.fingerprint}});
      }
      doc.push_back({{"name", t.name},
                     {"host", t.host},
                     {"port", t.port},
                     {"host_keys", keys},
                     {"created_at", t.created_at}});
    }
    return print_json(ctx.out, doc);
  }
  table tab({"NAME", "HOST", "PORT", "HOST KEY", "ADDED"});
  for (const auto& t : targets) {
    std::string keys;
    for (const auto& k : t.host_keys) {
      keys += (keys.empty() ? "" : " ") + k.fingerprint;
    }
    tab.add_row({t.name, t.host, std::to_string(t.port), keys, t.created_at});
  }
  tab.print(ctx.out, "no targets; add one with: bastionctl target add NAME --host HOST --scan");
}

void add_target_subcommands(CLI::App& app, cli_context& ctx) {
  auto* target = app.add_subcommand("target", "Add, list and remove SSH targets");
  target->require_subcommand(1);

  auto add = std::make_shared<target_add_opts>();
  auto* add_cmd = target->add_subcommand("add", "Add a target with its trusted host key");
  add_cmd->add_option("NAME", add->name, "Target name, as users type it after login@")->required();
  add_cmd->add_option("--host", add->host, "Host name or IP address")->required();
  add_cmd->add_option("--port", add->port, "SSH port")->check(CLI::Range(1, 65535));
  auto* key_opt = add_cmd->add_option("--host-key", add->host_keys,
                                      "Trusted host key 'TYPE BASE64' (repeatable), e.g. from the "
                                      "target's /etc/ssh/ssh_host_ed25519_key.pub");
  auto* scan_opt = add_cmd->add_flag(
      "--scan", add->scan, "Fetch the host key from the target and print its fingerprint");
  auto* expect_opt = add_cmd->add_option(
      "--expect", add->expect,
      "With --scan: store the fetched key only if its fingerprint is this SHA256:... (the one "
      "--scan printed and you checked on the target)");
  expect_opt->needs(scan_opt);
  add_cmd->add_flag("--yes", add->yes, "Refused: use --expect SHA256:... instead");
  key_opt->excludes(scan_opt);
  add_cmd->callback([&ctx, add] {
    if (!add->scan && add->host_keys.empty()) {
      throw CLI::RequiredError("--host-key 'TYPE BASE64' or --scan (never trusted silently)");
    }
    run_target_add(ctx, *add);
  });

  auto json = std::make_shared<bool>(false);
  auto* list_cmd = target->add_subcommand("list", "List targets and their host keys");
  add_json_flag(list_cmd, *json);
  list_cmd->callback([&ctx, json] { print_targets(ctx, *json); });

  auto name = std::make_shared<std::string>();
  auto* remove_cmd = target->add_subcommand("remove", "Remove a target and its grants");
  remove_cmd->add_option("NAME", *name, "Target name")->required();
  remove_cmd->callback([&ctx, name] {
    ctx.store().remove_target(*name);
    ctx.out << "removed target " << escape(*name, 64) << "\n";
  });
}

struct grant_opts {
  std::string user;
  std::string target;
  std::string login;
  std::string allow = "shell,exec,sftp";
  bool json = false;
};

std::string join_kinds(const std::vector<policy::channel_kind>& kinds) {
  std::string out;
  for (const auto k : kinds) {
    out += (out.empty() ? "" : ",") + std::string(policy::to_string(k));
  }
  return out;
}

void print_grants(cli_context& ctx, const grant_opts& o) {
  const auto grants =
      ctx.store().list_grants(o.user.empty() ? std::nullopt : std::optional(o.user));
  if (o.json) {
    auto doc = nlohmann::json::array();
    for (const auto& g : grants) {
      auto kinds = nlohmann::json::array();
      for (const auto k : g.kinds) {
        kinds.push_back(policy::to_string(k));
      }
      doc.push_back({{"user", g.user},
                     {"target", g.target},
                     {"login", g.login},
                     {"kinds", kinds},
                     {"created_at", g.created_at}});
    }
    return print_json(ctx.out, doc);
  }
  table t({"USER", "TARGET", "LOGIN", "ALLOW", "GRANTED"});
  for (const auto& g : grants) {
    t.add_row({g.user, g.target, g.login, join_kinds(g.kinds), g.created_at});
  }
  t.print(ctx.out, "no grants; add one with: bastionctl grant USER TARGET --login LOGIN");
}

void add_grant_commands(CLI::App& app, cli_context& ctx) {
  auto g = std::make_shared<grant_opts>();
  auto* grant_cmd = app.add_subcommand(
      "grant", "Let a user reach a target as a login (replaces the kinds of an existing grant)");
  grant_cmd->add_option("USER", g->user, "User name")->required();
  grant_cmd->add_option("TARGET", g->target, "Target name")->required();
  grant_cmd->add_option("--login", g->login, "Login on the target")->required();
  grant_cmd
      ->add_option("--allow", g->allow,
                   "Channel kinds: shell,exec,sftp,forward,remote-forward,agent,x11")
      ->capture_default_str();
  grant_cmd->callback([&ctx, g] {
    auto kinds = policy::parse_channel_kinds(g->allow);
    if (!kinds) {
      throw command_error("--allow: " + kinds.error().text);
    }
    ctx.store().grant(g->user, g->target, g->login, *kinds);
    ctx.out << "granted " << escape(g->user, 64) << " on " << escape(g->target, 64) << " as "
            << g->login << ": " << join_kinds(*kinds) << "\n";
  });

  auto r = std::make_shared<grant_opts>();
  auto* revoke_cmd =
      app.add_subcommand("revoke", "Remove a user's grants on a target (all logins, or one)");
  revoke_cmd->add_option("USER", r->user, "User name")->required();
  revoke_cmd->add_option("TARGET", r->target, "Target name")->required();
  revoke_cmd->add_option("--login", r->login, "Only this login");
  revoke_cmd->callback([&ctx, r] {
    const int n = ctx.store().revoke(r->user, r->target,
                                     r->login.empty() ? std::nullopt : std::optional(r->login));
    ctx.out << "revoked " << n << " grant" << (n == 1 ? "" : "s") << " of " << escape(r->user, 64)
            << " on " << escape(r->target, 64) << "\n";
  });

  auto l = std::make_shared<grant_opts>();
  auto* list_cmd = app.add_subcommand("grants", "List grants");
  list_cmd->add_option("--user", l->user, "Only this user's grants");
  add_json_flag(list_cmd, l->json);
  list_cmd->callback([&ctx, l] { print_grants(ctx, *l); });
}

}  // namespace

void add_target_commands(CLI::App& app, cli_context& ctx) {
  add_target_subcommands(app, ctx);
  add_grant_commands(app, ctx);
}

}  // namespace bastion::admin
