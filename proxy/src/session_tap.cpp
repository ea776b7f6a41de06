// Recording taps: events to the writer thread, rows to the journal.
#include "session_tap.hpp"

#include <bastion/common/log.hpp>

namespace bastion::proxy {

using recorder::event;
using recorder::event_type;

namespace {

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What a channel row stores of a client's or a target's string: the recording keeps it whole,
// the row a bounded prefix (dump() replaces a UTF-8 sequence that the cut splits).
constexpr std::size_t row_command_bytes = 4096;
constexpr std::size_t row_name_bytes = 64;

std::string cut(std::string s, std::size_t max) {
  if (s.size() > max) {
    s.resize(max);
  }
  return s;
}

}  // namespace

std::int64_t session_tap::unix_us_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

session_tap::session_tap(recorder::recording_service& recorder, policy::journal& journal,
                         const std::string& node, const session_identity& who)
    : journal_(journal), started_(std::chrono::steady_clock::now()) {
  recorder::file_header header;
  header.id = recorder::random_session_id();
  header.started_unix_us = unix_us_now();
  recording_ = recorder.start(header);
  id_text_ = recorder::to_string(header.id);
  journal_.record(policy::session_start{id_text_, node, who,
                                        recorder::recording_file_name(header.id),
                                        recorder::format_version, header.started_unix_us});
  record({.type = event_type::session_start,
          .data = dump({{"user", who.user},
                        {"target", who.target},
                        {"login", who.login},
                        {"source", who.source_addr},
                        {"client_version", who.client_version},
                        {"access_form", who.access_form}})});
}

session_tap::~session_tap() {
  end("the bastion ended the session");
}

void session_tap::record(event ev) {
  ev.offset = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started_);
  // False under fail_closed once the recording cannot be kept; failed() tells the relay.
  (void)recording_->record(std::move(ev));
}

void session_tap::end(const std::string& reason) {
  if (ended_) {
    return;
  }
  ended_ = true;
  record({.type = event_type::session_end, .data = reason});
  const std::int64_t ended_at = unix_us_now();
  // Runs on the writer thread once the last chunk is durable; the journal is thread-safe and
  // outlives the recorder (the server destroys the recorder first).
  recording_->finish(
      [&journal = journal_, id = id_text_, reason, ended_at](const recorder::recording_summary& s) {
        if (!s.error.empty()) {
          spdlog::error("session={} recording incomplete: {}", id, log_value(s.error));
        }
        journal.record(policy::session_end{
            id,
            reason,
            ended_at,
            {recorder::to_hex(s.head), s.raw_bytes, s.stored_bytes, s.chunks, s.lost_bytes}});
      });
}

channel_tap::channel_tap(std::shared_ptr<session_tap> session, std::string kind)
    : session_(std::move(session)) {
  row_.session_id = session_->id();
  row_.channel_no = session_->next_channel();
  row_.kind = std::move(kind);
  row_.opened_unix_us = session_tap::unix_us_now();
  record({.type = event_type::channel_open, .data = dump({{"kind", row_.kind}})});
}

channel_tap::~channel_tap() {
  close();
}

void channel_tap::record(event ev) {
  if (session_) {
    ev.channel = row_.channel_no;
    session_->record(std::move(ev));
  }
}

void channel_tap::request(const nlohmann::json& detail) {
  if (!session_) {
    return;
  }
  // The row keeps what the channel ran: its PTY, command or subsystem (env stays in the file).
  const std::string name = detail.value("request", "");
  if (name == "pty-req") {
    detail_["pty"] = {{"term", cut(detail.value("term", ""), row_name_bytes)},
                      {"cols", detail.value("cols", 0)},
                      {"rows", detail.value("rows", 0)}};
  } else if (name == "exec") {
    const std::string command = detail.value("command", "");
    detail_["command"] = cut(command, row_command_bytes);
    if (command.size() > row_command_bytes) {
      detail_["command_bytes"] = command.size();  // the recording has all of it
    }
  } else if (name == "subsystem") {
    detail_["subsystem"] = cut(detail.value("subsystem", ""), row_name_bytes);
  } else if (name == "shell") {
    detail_["shell"] = true;
  }
  record({.type = event_type::channel_request, .data = dump(detail)});
}

void channel_tap::data(recorder::stream s, const char* bytes, std::size_t n) {
  if (!session_ || n == 0) {
    return;
  }
  (s == recorder::stream::input ? row_.bytes_in : row_.bytes_out) += n;
  for (std::size_t at = 0; at < n; at += recorder::max_event_data) {
    const std::size_t len = std::min(recorder::max_event_data, n - at);
    record({.type = event_type::data, .stream = s, .data = std::string(bytes + at, len)});
  }
}

void channel_tap::forward(const nlohmann::json& detail) {
  if (!session_) {
    return;
  }
  detail_ = detail;
  for (const char* host : {"host", "origin_host"}) {  // as the client or target named them
    if (detail_.contains(host)) {
      detail_[host] = cut(detail_[host].get<std::string>(), row_name_bytes * 4);
    }
  }
  nlohmann::json event = detail;
  event["request"] = row_.kind;
  record({.type = event_type::channel_request, .data = dump(event)});
}

void channel_tap::window_change(int cols, int rows) {
  record({.type = event_type::window_change,
          .cols = static_cast<std::uint32_t>(std::max(cols, 0)),
          .rows = static_cast<std::uint32_t>(std::max(rows, 0))});
}

void channel_tap::signal(const std::string& name) {
  record({.type = event_type::signal, .data = name});
}

void channel_tap::eof(recorder::stream from) {
  record({.type = event_type::eof, .stream = from});
}

void channel_tap::exit_status(int code) {
  row_.exit_status = code;
  record({.type = event_type::exit_status, .code = code});
}

void channel_tap::exit_signal(const std::string& name) {
  row_.exit_signal = cut(name, row_name_bytes);
  record({.type = event_type::exit_signal, .data = name});
}

void channel_tap::close() {
  if (!session_) {
    return;
  }
  record({.type = event_type::channel_close});
  row_.closed_unix_us = session_tap::unix_us_now();
  row_.detail_json = dump(detail_);
  session_->journal(std::move(row_));
  session_.reset();
}

}  // namespace bastion::proxy
