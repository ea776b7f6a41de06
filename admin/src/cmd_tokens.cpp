// bastionctl token create|list|revoke: bearer tokens for the admin HTTP API and web console.
#include <ostream>

#include <bastion/common/duration.hpp>
#include <bastion/common/escape.hpp>

#include "cli.hpp"
#include "table.hpp"

namespace bastion::admin {
namespace {

constexpr auto max_ttl = std::chrono::hours(24 * 366);

nlohmann::json token_json(const policy::token_info& t) {
  const auto or_null = [](const std::string& s) {
    return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
  };
  return {{"id", t.id},
          {"user", t.user},
          {"created_at", t.created_at},
          {"expires_at", or_null(t.expires_at)},
          {"last_used_at", or_null(t.last_used_at)},
          {"revoked_at", or_null(t.revoked_at)}};
}

struct create_opts {
  std::string user;
  std::string ttl;
  bool json = false;
};

// The token goes to stdout alone (for `TOKEN=$(bastionctl token create alice)`); what it is, to
// stderr. It is never shown again: only its hash is stored.
void run_create(cli_context& ctx, const create_opts& o) {
  std::optional<std::int64_t> ttl_seconds;
  if (!o.ttl.empty()) {
    const auto ttl = parse_duration(o.ttl);
    if (!ttl || *ttl < std::chrono::seconds(1) || *ttl > max_ttl) {
      throw command_error(
          "--ttl " + escape(o.ttl, 40) + ": give a duration from 1s to 366d, such as 8h or 30d", 2);
    }
    ttl_seconds = std::chrono::duration_cast<std::chrono::seconds>(*ttl).count();
  }
  const std::string token = policy::new_admin_token();
  const auto info = ctx.store().create_token(o.user, policy::admin_token_hash(token), ttl_seconds);
  if (o.json) {
    auto doc = token_json(info);
    doc["token"] = token;
    return print_json(ctx.out, doc);
  }
  ctx.out << token << "\n";
  ctx.err << "token " << info.id << " for " << escape(info.user, 64) << ", "
          << (info.expires_at.empty() ? "never expires" : "expires " + info.expires_at)
          << "; it is shown only now: keep it in a password manager\n";
}

void run_list(cli_context& ctx, bool json) {
  const auto tokens = ctx.store().list_tokens();
  if (json) {
    auto doc = nlohmann::json::array();
    for (const auto& t : tokens) {
      doc.push_back(token_json(t));
    }
    return print_json(ctx.out, doc);
  }
  table t({"ID", "USER", "CREATED", "EXPIRES", "LAST USED", "REVOKED"});
  for (const auto& k : tokens) {
    t.add_row({std::to_string(k.id), k.user, k.created_at,
               k.expires_at.empty() ? "never" : k.expires_at,
               k.last_used_at.empty() ? "never" : k.last_used_at, k.revoked_at});
  }
  t.print(ctx.out, "no tokens; `bastionctl token create USER` makes one");
}

}  // namespace

void add_token_commands(CLI::App& app, cli_context& ctx) {
  auto* token = app.add_subcommand("token", "Bearer tokens for the admin HTTP API and console");
  token->require_subcommand(1);

  auto c = std::make_shared<create_opts>();
  auto* create = token->add_subcommand(
      "create", "Make a token for an admin user and print it once (only its hash is stored)");
  create->add_option("USER", c->user, "An admin user (`bastionctl user add NAME --admin`)")
      ->required();
  create->add_option("--ttl", c->ttl, "Expire after this long (8h, 30d); default: never");
  create->add_flag("--json", c->json, "Print the token and its details as one JSON object");
  create->callback([&ctx, c] { run_create(ctx, *c); });

  auto json = std::make_shared<bool>(false);
  auto* list = token->add_subcommand("list", "List tokens (never the tokens themselves)");
  add_json_flag(list, *json);
  list->callback([&ctx, json] { run_list(ctx, *json); });

  auto id = std::make_shared<std::int64_t>(0);
  auto* revoke = token->add_subcommand("revoke", "Revoke a token at once, on every node");
  revoke->add_option("ID", *id, "Token id, as `bastionctl token list` shows")
      ->required()
      ->check(CLI::PositiveNumber);
  revoke->callback([&ctx, id] {
    ctx.store().revoke_token(*id);
    ctx.out << "revoked token " << *id << "\n";
  });
}

}  // namespace bastion::admin
