// bastionctl target ...: the SSH targets, their trusted host keys and their labels.
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
  std::string expect;               // with --scan: the fingerprint the admin checked
  bool yes = false;                 // refused: it stored a second scan that nobody saw
  std::vector<std::string> labels;  // KEY=VALUE
};

policy::target_labels labels_from_args(const std::vector<std::string>& args) {
  policy::target_labels labels;
  for (const auto& arg : args) {
    const auto eq = arg.find('=');
    if (eq == std::string::npos) {
      throw command_error("--label \"" + escape(arg, 64) + "\": give KEY=VALUE, e.g. env=prod");
    }
    const std::string key = arg.substr(0, eq);
    if (auto ok = policy::check_label(key, arg.substr(eq + 1)); !ok) {
      throw command_error("--label: " + ok.error().text);
    }
    if (!labels.emplace(key, arg.substr(eq + 1)).second) {
      throw command_error("--label " + escape(key, 64) + " is given twice");
    }
  }
  return labels;
}

std::string labels_text(const policy::target_labels& labels) {
  std::string out;
  for (const auto& [key, value] : labels) {
    out += out.empty() ? "" : ",";
    out += key;
    out += '=';
    out += value;
  }
  return out;
}

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
  policy::target_info target{o.name, o.host, o.port, {}, {}, labels_from_args(o.labels)};
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
                     {"labels", t.labels},
                     {"created_at", t.created_at}});
    }
    return print_json(ctx.out, doc);
  }
  table tab({"NAME", "HOST", "PORT", "LABELS", "HOST KEY", "ADDED"});
  for (const auto& t : targets) {
    std::string keys;
    for (const auto& k : t.host_keys) {
      keys += (keys.empty() ? "" : " ") + k.fingerprint;
    }
    tab.add_row(
        {t.name, t.host, std::to_string(t.port), labels_text(t.labels), keys, t.created_at});
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
  add_cmd->add_option("--label", add->labels,
                      "A label KEY=VALUE (repeatable), which grants can name as label:KEY=VALUE");
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

}  // namespace

void add_target_commands(CLI::App& app, cli_context& ctx) {
  add_target_subcommands(app, ctx);
}

}  // namespace bastion::admin
