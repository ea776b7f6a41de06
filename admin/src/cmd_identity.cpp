// bastionctl user ... and key ...: people and their keys.
#include <fstream>
#include <iterator>
#include <ostream>

#include <bastion/common/escape.hpp>

#include "cli.hpp"
#include "table.hpp"

namespace bastion::admin {
namespace {

constexpr std::size_t max_key_file_bytes = std::size_t{1024} * 1024;

std::string read_key_input(cli_context& ctx, const std::string& source) {
  std::string text;
  if (source == "-") {
    text.assign(std::istreambuf_iterator<char>(ctx.in), {});
  } else {
    std::ifstream file(source, std::ios::binary);
    if (!file) {
      throw command_error(
          "cannot read " + escape(source, 200) +
          "; give the path of a public key (.pub) file, or - to read standard input");
    }
    text.assign(std::istreambuf_iterator<char>(file), {});
  }
  if (text.size() > max_key_file_bytes) {
    throw command_error(
        "the key input is over 1 MiB; give an authorized_keys file or one .pub file");
  }
  return text;
}

std::vector<policy::public_key> read_keys(cli_context& ctx, const std::string& source) {
  auto keys = policy::parse_authorized_keys(read_key_input(ctx, source));
  if (!keys) {
    throw command_error(keys.error().text);
  }
  return std::move(*keys);
}

void print_added_keys(cli_context& ctx, const std::string& user,
                      const std::vector<policy::public_key>& keys) {
  for (const auto& k : keys) {
    ctx.out << "added key " << k.fingerprint << " (" << k.type << ", " << k.bits << " bits) for "
            << escape(user, 64) << "\n";
  }
}

void add_user_commands(CLI::App& app, cli_context& ctx) {
  auto* user = app.add_subcommand("user", "Add, list and disable bastion users");
  user->require_subcommand(1);

  struct add_opts {
    std::string name;
    bool admin = false;
    std::string key_source;
  };
  auto add = std::make_shared<add_opts>();
  auto* add_cmd =
      user->add_subcommand("add", "Add a user (they log in with keys added by `key add`)");
  add_cmd->add_option("NAME", add->name, "User name")->required();
  add_cmd->add_flag("--admin", add->admin, "The user may administer the bastion");
  add_cmd->add_option("--key", add->key_source,
                      "Also add the keys of this .pub or authorized_keys file (- for stdin)");
  add_cmd->callback([&ctx, add] {
    const auto keys = add->key_source.empty() ? std::vector<policy::public_key>{}
                                              : read_keys(ctx, add->key_source);
    ctx.store().add_user(add->name, add->admin, keys);
    ctx.out << "added user " << add->name << (add->admin ? " (admin)" : "") << "\n";
    print_added_keys(ctx, add->name, keys);
  });

  auto json = std::make_shared<bool>(false);
  auto* list_cmd = user->add_subcommand("list", "List users");
  add_json_flag(list_cmd, *json);
  list_cmd->callback([&ctx, json] {
    const auto users = ctx.store().list_users();
    if (*json) {
      auto doc = nlohmann::json::array();
      for (const auto& u : users) {
        doc.push_back({{"name", u.name},
                       {"admin", u.is_admin},
                       {"disabled", u.disabled},
                       {"keys", u.key_count},
                       {"created_at", u.created_at}});
      }
      return print_json(ctx.out, doc);
    }
    table t({"NAME", "ADMIN", "STATUS", "KEYS", "CREATED"});
    for (const auto& u : users) {
      t.add_row({u.name, u.is_admin ? "yes" : "no", u.disabled ? "disabled" : "active",
                 std::to_string(u.key_count), u.created_at});
    }
    t.print(ctx.out, "no users yet; add one with: bastionctl user add NAME");
  });

  auto disable_name = std::make_shared<std::string>();
  auto* disable_cmd = user->add_subcommand("disable", "Disable a user: their logins are refused");
  disable_cmd->add_option("NAME", *disable_name, "User name")->required();
  disable_cmd->callback([&ctx, disable_name] {
    ctx.store().disable_user(*disable_name);
    ctx.out << "disabled user " << escape(*disable_name, 64) << "\n";
  });
}

void add_key_commands(CLI::App& app, cli_context& ctx) {
  auto* key = app.add_subcommand("key", "Add, list and remove users' public keys");
  key->require_subcommand(1);

  struct add_opts {
    std::string user;
    std::string source;
  };
  auto add = std::make_shared<add_opts>();
  auto* add_cmd = key->add_subcommand("add", "Add public keys (authorized_keys lines) to a user");
  add_cmd->add_option("USER", add->user, "User name")->required();
  add_cmd
      ->add_option("FILE", add->source, "A .pub or authorized_keys file, or - for standard input")
      ->required();
  add_cmd->callback([&ctx, add] {
    const auto keys = read_keys(ctx, add->source);
    ctx.store().add_keys(add->user, keys);
    print_added_keys(ctx, add->user, keys);
  });

  struct list_opts {
    std::string user;
    bool json = false;
  };
  auto list = std::make_shared<list_opts>();
  auto* list_cmd = key->add_subcommand("list", "List keys, of one user or of all");
  list_cmd->add_option("USER", list->user, "Only this user's keys");
  add_json_flag(list_cmd, list->json);
  list_cmd->callback([&ctx, list] {
    const auto keys =
        ctx.store().list_keys(list->user.empty() ? std::nullopt : std::optional(list->user));
    if (list->json) {
      auto doc = nlohmann::json::array();
      for (const auto& k : keys) {
        doc.push_back({{"fingerprint", k.fingerprint},
                       {"user", k.user},
                       {"type", k.type},
                       {"bits", k.bits},
                       {"comment", k.comment},
                       {"options", k.options},
                       {"created_at", k.created_at}});
      }
      return print_json(ctx.out, doc);
    }
    table t({"FINGERPRINT", "USER", "TYPE", "BITS", "COMMENT", "ADDED"});
    for (const auto& k : keys) {
      t.add_row({k.fingerprint, k.user, k.type, std::to_string(k.bits), k.comment, k.created_at});
    }
    t.print(ctx.out, "no keys; add one with: bastionctl key add USER FILE.pub");
  });

  auto fingerprint = std::make_shared<std::string>();
  auto* remove_cmd = key->add_subcommand("remove", "Remove a key by its fingerprint");
  remove_cmd->add_option("FINGERPRINT", *fingerprint, "SHA256:... as `key list` shows it")
      ->required();
  remove_cmd->callback([&ctx, fingerprint] {
    ctx.store().remove_key(*fingerprint);
    ctx.out << "removed key " << escape(*fingerprint, 100) << "\n";
  });
}

}  // namespace

void add_identity_commands(CLI::App& app, cli_context& ctx) {
  add_user_commands(app, ctx);
  add_key_commands(app, ctx);
}

}  // namespace bastion::admin
