// bastionctl grant, revoke, grants, group ...: who may reach which targets, as whom, and when.
#include <ostream>

#include <bastion/common/duration.hpp>
#include <bastion/common/escape.hpp>

#include "cli.hpp"
#include "table.hpp"

namespace bastion::admin {
namespace {

constexpr const char* target_help =
    "A target name, a glob over target names (web-*, db-?), or label:KEY=VALUE";

struct grant_opts {
  std::vector<std::string> args;  // USER TARGET, or TARGET with --group
  std::string group;
  std::string login;
  std::string allow = "shell,exec,sftp";
  std::string valid_from;
  std::string valid_until;
  std::vector<std::string> sources;
  std::string max_session;
  std::string idle_timeout;
  bool record_forward_data = false;
  bool forward_ssh_inside = false;
  std::string upstream_auth = "bastion-key";
};

// A grant's session limit from its option ("8h", "15m"): whole seconds, at least one.
std::optional<std::int64_t> limit_seconds(const char* option, const std::string& text) {
  if (text.empty()) {
    return std::nullopt;
  }
  const auto d = parse_duration(text);
  constexpr std::int64_t most = 366LL * 24 * 3600;
  if (!d || d->count() % 1000 != 0 || d->count() < 1000 || d->count() / 1000 > most) {
    throw command_error(std::string(option) + " " + escape(text, 40) +
                        ": give whole seconds to 366d with units s, m, h, d (30s, 15m, 8h)");
  }
  return d->count() / 1000;
}

std::string limits_text(const policy::grant_info& g) {
  std::string out;
  const auto add = [&](const char* what, const std::optional<std::int64_t>& s) {
    if (s) {
      out += (out.empty() ? "" : ",") + std::string(what) + " " +
             format_duration(std::chrono::seconds(*s));
    }
  };
  add("max", g.max_session_seconds);
  add("idle", g.idle_timeout_seconds);
  for (const auto& [on, what] : {std::pair{g.record_forward_data, "record-forward-data"},
                                 std::pair{g.forward_ssh_inside, "ssh-inside"},
                                 std::pair{g.upstream_auth == "agent", "upstream-auth agent"}}) {
    if (on) {
      out += (out.empty() ? "" : ",") + std::string(what);
    }
  }
  return out.empty() ? "-" : out;
}

std::string join(const std::vector<std::string>& items, std::string_view empty) {
  std::string out;
  for (const auto& i : items) {
    out += (out.empty() ? "" : ",") + i;
  }
  return out.empty() ? std::string(empty) : out;
}

std::string join_kinds(const std::vector<policy::channel_kind>& kinds) {
  std::vector<std::string> names;
  names.reserve(kinds.size());
  for (const auto k : kinds) {
    names.emplace_back(policy::to_string(k));
  }
  return join(names, "");
}

// The grant the positionals and --group name: USER TARGET, or --group GROUP TARGET.
policy::grant_info grant_of(const grant_opts& o) {
  policy::grant_info g;
  const std::size_t wanted = o.group.empty() ? 2 : 1;
  if (o.args.size() != wanted) {
    throw command_error(o.group.empty()
                            ? "give USER TARGET, or --group GROUP TARGET"
                            : "with --group, give only TARGET (the group is the subject)",
                        2);
  }
  g.group = o.group;
  g.user = o.group.empty() ? o.args[0] : "";
  g.target = o.args.back();
  g.login = o.login;
  return g;
}

std::string subject_text(const policy::grant_info& g) {
  return g.group.empty() ? escape(g.user, 64) : "group " + escape(g.group, 64);
}

std::string window_text(const policy::grant_info& g) {
  if (!g.valid_from && !g.valid_until) {
    return "always";
  }
  return g.valid_from.value_or("") + ".." + g.valid_until.value_or("");
}

void run_grant(cli_context& ctx, const grant_opts& o) {
  auto kinds = policy::parse_channel_kinds(o.allow);
  if (!kinds) {
    throw command_error("--allow: " + kinds.error().text);
  }
  auto g = grant_of(o);
  g.kinds = *kinds;
  if (!o.valid_from.empty()) {
    g.valid_from = o.valid_from;
  }
  if (!o.valid_until.empty()) {
    g.valid_until = o.valid_until;
  }
  g.sources = o.sources;
  g.max_session_seconds = limit_seconds("--max-session-duration", o.max_session);
  g.idle_timeout_seconds = limit_seconds("--idle-timeout", o.idle_timeout);
  g.record_forward_data = o.record_forward_data;
  g.forward_ssh_inside = o.forward_ssh_inside;
  g.upstream_auth = o.upstream_auth;
  ctx.store().grant(g);
  ctx.out << "granted " << subject_text(g) << " on " << escape(g.target, 253) << " as " << g.login
          << ": " << join_kinds(g.kinds);
  if (g.valid_from || g.valid_until) {
    ctx.out << "; valid " << escape(window_text(g), 100);
  }
  if (!g.sources.empty()) {
    ctx.out << "; from " << escape(join(g.sources, ""), 300);
  }
  if (const std::string limits = limits_text(g); limits != "-") {
    ctx.out << "; " << limits;
  }
  ctx.out << "\n";
}

nlohmann::json grant_json(const policy::grant_info& g) {
  auto kinds = nlohmann::json::array();
  for (const auto k : g.kinds) {
    kinds.push_back(policy::to_string(k));
  }
  const auto or_null = [](const std::optional<std::string>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  const auto or_null_int = [](const std::optional<std::int64_t>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  return {{"id", g.id},
          {"user", g.user.empty() ? nlohmann::json(nullptr) : nlohmann::json(g.user)},
          {"group", g.group.empty() ? nlohmann::json(nullptr) : nlohmann::json(g.group)},
          {"target", g.target},
          {"login", g.login},
          {"kinds", kinds},
          {"valid_from", or_null(g.valid_from)},
          {"valid_until", or_null(g.valid_until)},
          {"sources", g.sources},
          {"max_session_seconds", or_null_int(g.max_session_seconds)},
          {"idle_timeout_seconds", or_null_int(g.idle_timeout_seconds)},
          {"record_forward_data", g.record_forward_data},
          {"forward_ssh_inside", g.forward_ssh_inside},
          {"upstream_auth", g.upstream_auth},
          {"created_at", g.created_at}};
}

void print_grants(cli_context& ctx, const std::string& user, bool json) {
  const auto grants = ctx.store().list_grants(user.empty() ? std::nullopt : std::optional(user));
  if (json) {
    auto doc = nlohmann::json::array();
    for (const auto& g : grants) {
      doc.push_back(grant_json(g));
    }
    return print_json(ctx.out, doc);
  }
  table t({"ID", "WHO", "TARGET", "LOGIN", "ALLOW", "VALID", "FROM", "LIMITS", "GRANTED"});
  for (const auto& g : grants) {
    t.add_row({std::to_string(g.id), g.group.empty() ? g.user : "group:" + g.group, g.target,
               g.login, join_kinds(g.kinds), window_text(g), join(g.sources, "anywhere"),
               limits_text(g), g.created_at});
  }
  t.print(ctx.out, "no grants; add one with: bastionctl grant USER TARGET --login LOGIN");
}

void add_subject_options(CLI::App* cmd, grant_opts& o) {
  cmd->add_option("ARGS", o.args,
                  "USER TARGET, or TARGET with --group. TARGET: " + std::string(target_help))
      ->required()
      ->expected(1, 2);
  cmd->add_option("--group", o.group, "The grant is to this group of users instead of one user");
}

void add_grant_command(CLI::App& app, cli_context& ctx) {
  auto g = std::make_shared<grant_opts>();
  auto* cmd = app.add_subcommand(
      "grant",
      "Let a user or a group reach targets as a login (granting again replaces the kinds, the "
      "window, the sources and the limits)");
  add_subject_options(cmd, *g);
  cmd->add_option("--login", g->login, "Login on the target")->required();
  cmd->add_option("--allow", g->allow,
                  "Channel kinds: shell,exec,sftp,forward,remote-forward,agent,x11")
      ->capture_default_str();
  cmd->add_option(
      "--valid-from", g->valid_from,
      "Not before this time, in UTC unless it says otherwise (2026-12-31, 2026-12-31T18:00Z, "
      "2026-12-31T19:00+01:00; default: no bound)");
  cmd->add_option("--valid-until", g->valid_until,
                  "Not at or after this time (the same forms; default: no bound)");
  cmd->add_option("--source", g->sources,
                  "Only from this address or CIDR block (repeatable; default: anywhere)");
  cmd->add_option("--max-session-duration", g->max_session,
                  "End its sessions after this long (8h; default: limits.max_session_duration "
                  "alone; the tighter of the two holds)");
  cmd->add_option("--idle-timeout", g->idle_timeout,
                  "End its sessions after this long without data either way (15m; default: "
                  "limits.idle_timeout alone; the tighter holds)");
  cmd->add_flag("--record-forward-data", g->record_forward_data,
                "Record the bytes of its port forwards too (by default their destination, byte "
                "counts and duration only)");
  cmd->add_flag("--allow-ssh-inside", g->forward_ssh_inside,
                "Let its port forwards carry an SSH connection (refused by default: a tunnel "
                "around the recording)");
  cmd->add_option("--upstream-auth", g->upstream_auth,
                  "How the bastion logs in to the target: bastion-key (its upstream key) or agent "
                  "(the user's forwarded agent: they connect with ssh -A; no key of theirs is "
                  "stored)")
      ->check(CLI::IsMember({"bastion-key", "agent"}))
      ->capture_default_str();
  cmd->callback([&ctx, g] { run_grant(ctx, *g); });
}

void add_revoke_and_list_commands(CLI::App& app, cli_context& ctx) {
  auto r = std::make_shared<grant_opts>();
  auto* revoke_cmd = app.add_subcommand(
      "revoke", "Remove a user's or a group's grants on a target (all logins, or one)");
  add_subject_options(revoke_cmd, *r);
  revoke_cmd->add_option("--login", r->login, "Only this login");
  revoke_cmd->callback([&ctx, r] {
    const auto which = grant_of(*r);
    const int n = ctx.store().revoke(which);
    ctx.out << "revoked " << n << " grant" << (n == 1 ? "" : "s") << " of " << subject_text(which)
            << " on " << escape(which.target, 253) << "\n";
  });

  struct list_opts {
    std::string user;
    bool json = false;
  };
  auto l = std::make_shared<list_opts>();
  auto* list_cmd = app.add_subcommand("grants", "List grants");
  list_cmd->add_option("--user", l->user,
                       "Only the grants that name this user, or a group of hers");
  add_json_flag(list_cmd, l->json);
  list_cmd->callback([&ctx, l] { print_grants(ctx, l->user, l->json); });
}

struct group_opts {
  std::string group;
  std::vector<std::string> users;
  bool json = false;
};

void print_groups(cli_context& ctx, const std::string& only, bool json) {
  auto groups = ctx.store().list_groups();
  if (!only.empty()) {
    std::erase_if(groups, [&](const auto& g) { return g.name != only; });
    if (groups.empty()) {
      throw command_error("no group \"" + escape(only, 64) +
                          "\"; `bastionctl group list` shows them");
    }
  }
  if (json) {
    auto doc = nlohmann::json::array();
    for (const auto& g : groups) {
      doc.push_back({{"name", g.name}, {"members", g.members}, {"created_at", g.created_at}});
    }
    return print_json(ctx.out, doc);
  }
  table t({"GROUP", "MEMBERS", "CREATED"});
  for (const auto& g : groups) {
    t.add_row({g.name, join(g.members, "-"), g.created_at});
  }
  t.print(ctx.out, "no groups; add one with: bastionctl group add GROUP USER...");
}

void add_group_commands(CLI::App& app, cli_context& ctx) {
  auto* group = app.add_subcommand("group", "Groups of users, which grants may name");
  group->require_subcommand(1);
  auto a = std::make_shared<group_opts>();
  auto* add_cmd = group->add_subcommand("add", "Add users to a group, creating it if needed");
  add_cmd->add_option("GROUP", a->group, "Group name")->required();
  add_cmd->add_option("USER", a->users, "Users to add");
  add_cmd->callback([&ctx, a] {
    const int n = ctx.store().add_to_group(a->group, a->users);
    ctx.out << "group " << escape(a->group, 64) << ": added " << n << " user" << (n == 1 ? "" : "s")
            << "\n";
  });
  auto r = std::make_shared<group_opts>();
  auto* remove_cmd = group->add_subcommand("remove", "Take users out of a group");
  remove_cmd->add_option("GROUP", r->group, "Group name")->required();
  remove_cmd->add_option("USER", r->users, "Users to take out")->required();
  remove_cmd->callback([&ctx, r] {
    const int n = ctx.store().remove_from_group(r->group, r->users);
    ctx.out << "group " << escape(r->group, 64) << ": took out " << n << " user"
            << (n == 1 ? "" : "s") << "\n";
  });
  auto d = std::make_shared<group_opts>();
  auto* delete_cmd = group->add_subcommand("delete", "Remove a group and every grant to it");
  delete_cmd->add_option("GROUP", d->group, "Group name")->required();
  delete_cmd->callback([&ctx, d] {
    const int grants = ctx.store().delete_group(d->group);
    ctx.out << "removed group " << escape(d->group, 64) << " and its " << grants << " grant"
            << (grants == 1 ? "" : "s") << "\n";
  });
  auto m = std::make_shared<group_opts>();
  auto* members_cmd = group->add_subcommand("members", "List a group's members");
  members_cmd->add_option("GROUP", m->group, "Group name")->required();
  add_json_flag(members_cmd, m->json);
  members_cmd->callback([&ctx, m] { print_groups(ctx, m->group, m->json); });
  auto l = std::make_shared<group_opts>();
  auto* list_cmd = group->add_subcommand("list", "List groups and their members");
  add_json_flag(list_cmd, l->json);
  list_cmd->callback([&ctx, l] { print_groups(ctx, {}, l->json); });
}

}  // namespace

void add_grant_commands(CLI::App& app, cli_context& ctx) {
  add_grant_command(app, ctx);
  add_revoke_and_list_commands(app, ctx);
  add_group_commands(app, ctx);
}

}  // namespace bastion::admin
