// bastionctl kill, audit and search: ending a live session on whichever node holds it, reading
// the trail of what every node and admin decided, and finding the sessions where something was
// typed, run or printed.
#include <fmt/format.h>

#include <chrono>
#include <ostream>
#include <thread>

#include <bastion/common/duration.hpp>
#include <bastion/common/escape.hpp>

#include "cli.hpp"
#include "search.hpp"
#include "table.hpp"
#include "views.hpp"

namespace bastion::admin {
namespace {

struct kill_opts {
  std::string id;
  std::string wait = "10s";
};

// The node ends the session, then writes its row once the recording's last chunk is durable:
// the row saying it ended is the proof, and what is waited for.
void run_kill(cli_context& ctx, const kill_opts& o) {
  const auto wait = parse_duration(o.wait);
  if (!wait || *wait > std::chrono::minutes(10)) {
    throw command_error("--wait " + escape(o.wait, 40) + ": give a duration up to 10m (10s, 1m)",
                        2);
  }
  const auto asked = ctx.store().request_kill(o.id);
  const std::string who = escape(asked.user, 64) + " on " + escape(asked.target, 253) + " as " +
                          escape(asked.login, 64);
  if (!asked.ended_at.empty()) {
    throw command_error("session " + o.id + " (" + who + ") already ended at " + asked.ended_at +
                        " (" + escape(asked.ended_reason, 200) + ")");
  }
  const auto deadline = std::chrono::steady_clock::now() + *wait;
  for (;;) {
    const auto now = ctx.store().find_session(o.id);
    if (now && !now->ended_at.empty()) {
      ctx.out << "killed session " << o.id << " (" << who << ", node " << escape(asked.node, 64)
              << "): ended " << now->ended_at << ", " << escape(now->ended_reason, 200) << "\n";
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw command_error("node " + escape(asked.node, 64) + " did not end session " + o.id +
                          " within " + format_duration(*wait) +
                          "; is bastiond running there and connected to this database? If the "
                          "node is gone, its sessions end as crash when it starts again");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

struct audit_opts {
  std::string user;
  std::string target;
  std::string since;
  std::string kind;
  std::string session;
  int limit = 200;
  bool json = false;
};

void run_audit(cli_context& ctx, const audit_opts& o) {
  const auto opt = [](const std::string& s) { return s.empty() ? std::nullopt : std::optional(s); };
  const auto rows = ctx.store().list_audit(
      {opt(o.user), opt(o.target), opt(o.since), opt(o.kind), opt(o.session), o.limit});
  if (o.json) {
    auto doc = nlohmann::json::array();
    for (const auto& a : rows) {
      doc.push_back(audit_json(a));
    }
    return print_json(ctx.out, doc);
  }
  table t({"AT", "KIND", "RESULT", "ACTOR", "SOURCE", "TARGET", "DETAIL"});
  for (const auto& a : rows) {
    // The detail is JSON whose strings came from clients: the table escapes and cuts it.
    t.add_row({a.at, a.kind, a.result, a.actor, a.source_addr, a.target_name,
               a.detail_json.size() > 160 ? a.detail_json.substr(0, 157) + "..." : a.detail_json});
  }
  t.print(ctx.out, "no audit events match");
}

struct search_opts {
  search_request req;
  bool json = false;
};

void run_search(cli_context& ctx, search_opts& o) {
  if (auto ok = check_search(o.req); !ok) {
    throw command_error(ok.error().text, 2);
  }
  const auto hits = search_sessions(ctx.store(), o.req);
  if (o.json) {
    auto doc = nlohmann::json::array();
    for (const auto& h : hits) {
      doc.push_back(hit_json(h));
    }
    return print_json(ctx.out, doc);
  }
  table t({"STARTED", "USER", "LOGIN@TARGET", "SESSION", "AT", "KIND", "LINE"});
  for (const auto& h : hits) {
    const auto& s = h.session;
    t.add_row({s.started_at, s.user, s.login + "@" + s.target, s.id,
               fmt::format("{:.6f}", static_cast<double>(h.offset.count()) / 1e6), h.kind, h.line});
  }
  t.print(ctx.out, "no session matches; the index holds what sessions typed, ran and printed");
}

}  // namespace

void add_session_commands(CLI::App& app, cli_context& ctx) {
  auto k = std::make_shared<kill_opts>();
  auto* kill = app.add_subcommand(
      "kill",
      "End a live session on whichever node holds it; its client is told, and its row "
      "says killed");
  kill->add_option("ID", k->id, "Session id, as `bastionctl sessions --live` shows")->required();
  kill->add_option("--wait", k->wait, "How long to wait for the node to end it")
      ->capture_default_str();
  kill->callback([&ctx, k] { run_kill(ctx, *k); });

  auto a = std::make_shared<audit_opts>();
  auto* audit = app.add_subcommand(
      "audit", "The audit trail, newest first: logins, sessions, refusals, admin changes");
  audit->add_option("--user", a->user, "Only what this bastion user or admin did");
  audit->add_option("--target", a->target, "Only events about this target");
  audit->add_option("--since", a->since,
                    "Only events at or after this time, e.g. 2026-12-01T10:00Z");
  audit->add_option("--kind", a->kind,
                    "Only this kind and its sub-kinds (auth, session, session.revoked, admin)");
  audit->add_option("--session", a->session, "Only events of this session");
  audit->add_option("--limit", a->limit, "At most this many events")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  add_json_flag(audit, a->json);
  audit->callback([&ctx, a] { run_audit(ctx, *a); });

  auto f = std::make_shared<search_opts>();
  auto* search = app.add_subcommand(
      "search",
      "Find the sessions where TEXT was run as a command, typed at a prompt (as edited) or "
      "printed, with the moment in each (replay --from it)");
  search->add_option("TEXT", f->req.text, "What to find (3 to 200 bytes; case-insensitive)")
      ->required();
  auto opt = [](std::optional<std::string>& field) {
    return [&field](const std::string& v) { field = v; };
  };
  search->add_option_function<std::string>("--user", opt(f->req.user), "Only this user's sessions");
  search->add_option_function<std::string>("--target", opt(f->req.target),
                                           "Only sessions to this target");
  search->add_option_function<std::string>("--since", opt(f->req.since),
                                           "Only sessions started at or after this time");
  search->add_option("--limit", f->req.limit, "At most this many hits (1 to 500)")
      ->capture_default_str();
  add_json_flag(search, f->json);
  search->callback([&ctx, f] { run_search(ctx, *f); });
}

}  // namespace bastion::admin
