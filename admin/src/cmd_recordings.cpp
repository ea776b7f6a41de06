// bastionctl sessions, verify, replay and export: what happened, and proof that it is intact.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <ostream>
#include <thread>

#include <bastion/common/escape.hpp>
#include <bastion/recorder/export.hpp>
#include <bastion/recorder/sanitizer.hpp>

#include "cli.hpp"
#include "table.hpp"
#include "views.hpp"

namespace bastion::admin {
namespace {

using namespace bastion::recorder;

struct session_recording {
  policy::session_info session;
  recording_reader reader;
  verify_report report;
};

// Finds the session's recording under recording.dir (open_session_recording refuses a row that
// names another file).
session_recording open_recording(cli_context& ctx, const std::string& id) {
  const auto sid = parse_session_id(id);
  if (!sid) {
    throw command_error(escape(id, 64) + " is " + sid.error().text +
                        "; `bastionctl sessions` lists them");
  }
  auto session = ctx.store().find_session(id);
  if (!session) {
    throw command_error("no session " + id + "; `bastionctl sessions` lists them");
  }
  auto rec = open_session_recording(ctx.cfg().recording.dir, id, session->recording_file,
                                    session->head_hash);
  if (!rec) {
    throw command_error(rec.error().text);
  }
  return {std::move(*session), std::move(rec->reader), std::move(rec->report)};
}

// Long work shows progress on a terminal, and nothing when stderr is a file or pipe.
progress_fn tty_progress(cli_context& ctx) {
  if (&ctx.err != &std::cerr || isatty(STDERR_FILENO) == 0) {
    return {};
  }
  return [&ctx](std::uint64_t done, std::uint64_t total) {
    ctx.err << "\rexporting: " << (total == 0 ? 100 : done * 100 / total) << "%"
            << (done == total ? "\n" : "") << std::flush;
  };
}

void print_sessions(cli_context& ctx, const policy::session_filter& filter, bool json) {
  const auto sessions = ctx.store().list_sessions(filter);
  if (json) {
    auto doc = nlohmann::json::array();
    for (const auto& s : sessions) {
      doc.push_back(session_json(s));
    }
    return print_json(ctx.out, doc);
  }
  table t({"ID", "USER", "TARGET", "LOGIN", "SOURCE", "STARTED", "ENDED", "REASON"});
  for (const auto& s : sessions) {
    t.add_row({s.id, s.user, s.target, s.login, s.source_addr, s.started_at,
               s.ended_at.empty() ? "live" : s.ended_at, s.ended_reason});
  }
  t.print(ctx.out, "no sessions match");
}

void replay(cli_context& ctx, const std::string& id, double speed, double from_seconds) {
  auto rec = open_recording(ctx, id);
  if (!rec.report.ok) {
    ctx.err << "bastionctl: warning: chunk " << *rec.report.bad_chunk << " is bad ("
            << rec.report.problem << "); replaying up to it\n";
  }
  const auto terminals = terminal_channels(rec.reader, rec.report);
  const auto from = std::chrono::microseconds(static_cast<std::int64_t>(from_seconds * 1e6));
  std::optional<std::chrono::microseconds> last;
  terminal_sanitizer sanitizer;
  std::string clean;
  const auto r = for_each_event(rec.reader, rec.report, from, [&](const event& ev) {
    if (ev.type != event_type::data || ev.stream == stream::input ||
        !terminals.contains(ev.channel)) {
      return true;
    }
    if (speed > 0 && last) {
      const auto gap =
          std::chrono::duration<double, std::micro>((ev.offset - *last).count() / speed);
      std::this_thread::sleep_for(
          std::min<std::chrono::duration<double, std::micro>>(gap, std::chrono::seconds(5)));
    }
    last = ev.offset;
    clean.clear();
    sanitizer.feed(ev.data, clean);
    ctx.out << clean << std::flush;
    return true;
  });
  if (!r) {
    throw command_error(r.error().text);
  }
}

void export_recording(cli_context& ctx, const std::string& id, const std::string& format,
                      const std::string& output) {
  auto rec = open_recording(ctx, id);
  if (!rec.report.ok) {
    throw command_error("session " + id + ": chunk " + std::to_string(*rec.report.bad_chunk) +
                        " is bad (" + rec.report.problem + "); run `bastionctl verify " + id + "`");
  }
  if (format == "raw") {
    const std::filesystem::path dir = output.empty() ? id + "-streams" : output;
    auto files = write_raw_streams(rec.reader, rec.report, dir, tty_progress(ctx));
    if (!files) {
      throw command_error(files.error().text);
    }
    for (const auto& f : *files) {
      ctx.out << f.string() << "\n";
    }
    return;
  }
  std::ofstream file;
  if (!output.empty()) {
    file.open(output, std::ios::binary | std::ios::trunc);
    if (!file) {
      throw command_error("cannot write " + escape(output, 200));
    }
  }
  auto r = write_asciicast({std::move(rec.reader), std::move(rec.report)},
                           output.empty() ? ctx.out : file, tty_progress(ctx));
  if (!r) {
    throw command_error(r.error().text);
  }
}

}  // namespace

void add_recording_commands(CLI::App& app, cli_context& ctx) {
  struct list_opts {
    bool live = false;
    std::string user;
    std::string target;
    std::string since;
    bool json = false;
  };
  auto l = std::make_shared<list_opts>();
  auto* sessions = app.add_subcommand("sessions", "List sessions, newest first");
  sessions->add_flag("--live", l->live, "Only sessions that have not ended");
  sessions->add_option("--user", l->user, "Only this user's sessions");
  sessions->add_option("--target", l->target, "Only sessions to this target");
  sessions->add_option("--since", l->since,
                       "Only sessions started at or after this time, e.g. 2026-11-25T10:00Z");
  add_json_flag(sessions, l->json);
  sessions->callback([&ctx, l] {
    const auto opt = [](const std::string& s) {
      return s.empty() ? std::nullopt : std::optional(s);
    };
    print_sessions(ctx, {l->live, opt(l->user), opt(l->target), opt(l->since), 1000}, l->json);
  });

  auto id = std::make_shared<std::string>();
  auto* verify = app.add_subcommand(
      "verify",
      "Check a session's recording: exit 0 intact, 1 with the first bad chunk, 3 intact but "
      "incomplete (bytes the session moved were not recorded)");
  verify->add_option("ID", *id, "Session id")->required();
  verify->callback([&ctx, id] {
    const auto rec = open_recording(ctx, *id);
    if (!rec.report.ok) {
      throw command_error("session " + *id + ": chunk " + std::to_string(*rec.report.bad_chunk) +
                          " is bad: " + rec.report.problem);
    }
    if (rec.session.lost_bytes > 0) {
      throw command_error(
          "session " + *id + ": incomplete: " + std::to_string(rec.session.lost_bytes) +
              " bytes were not recorded; the " + std::to_string(rec.report.good.size()) +
              " chunks kept are intact, head " + to_hex(rec.report.head),
          exit_incomplete);
    }
    ctx.out << "session " << *id << ": intact, " << rec.report.good.size() << " chunks, head "
            << to_hex(rec.report.head)
            << (rec.session.head_hash.empty()
                    ? " (live or unfinalised: not yet anchored in the database)"
                    : "")
            << "\n";
  });

  struct replay_opts {
    std::string id;
    double speed = 1.0;
    double from = 0;
  };
  auto r = std::make_shared<replay_opts>();
  auto* replay_cmd =
      app.add_subcommand("replay", "Play a session's terminal output with its timing, sanitized");
  replay_cmd->add_option("ID", r->id, "Session id")->required();
  replay_cmd->add_option("--speed", r->speed, "Speed factor; 0 prints at once")
      ->check(CLI::Range(0.0, 1000.0));
  replay_cmd->add_option("--from", r->from, "Start this many seconds into the session")
      ->check(CLI::NonNegativeNumber);
  replay_cmd->callback([&ctx, r] { replay(ctx, r->id, r->speed, r->from); });

  struct export_opts {
    std::string id;
    std::string format;
    std::string output;
  };
  auto e = std::make_shared<export_opts>();
  auto* export_cmd =
      app.add_subcommand("export", "Export a recording as asciicast v2, or as raw stream files");
  export_cmd->add_option("ID", e->id, "Session id")->required();
  export_cmd->add_option("--format", e->format, "asciicast or raw")
      ->required()
      ->check(CLI::IsMember({"asciicast", "raw"}));
  export_cmd->add_option("-o,--output", e->output,
                         "File (asciicast; default stdout) or directory (raw)");
  export_cmd->callback([&ctx, e] { export_recording(ctx, e->id, e->format, e->output); });
}

}  // namespace bastion::admin
