// Opening a session's recording safely, and asciicast v2 read out piece by piece.
#include <algorithm>
#include <nlohmann/json.hpp>

#include <bastion/common/escape.hpp>
#include <bastion/recorder/asciicast.hpp>

#include "metadata.hpp"

namespace bastion::recorder {
namespace {

std::optional<sha256> parse_hex(std::string_view hex) {
  if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return std::nullopt;
  }
  sha256 out{};
  const auto nibble = [](char c) { return c >= 'a' ? c - 'a' + 10 : c - '0'; };
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return out;
}

std::string line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

result<opened_recording> open_session_recording(const std::filesystem::path& dir,
                                                std::string_view id, std::string_view file_from_row,
                                                std::string_view head_hex, bool decode) {
  const auto sid = parse_session_id(id);
  if (!sid) {
    return sid.error();
  }
  if (file_from_row != recording_file_name(*sid)) {
    return make_error("session " + std::string(id) + " names the recording file \"" +
                      escape(file_from_row, 80) + "\", not its own; the database row was altered");
  }
  const auto expected = parse_hex(head_hex);
  if (!head_hex.empty() && !expected) {
    return make_error("session " + std::string(id) + " has a malformed head hash \"" +
                      escape(head_hex, 80) + "\"; the database row was altered");
  }
  auto reader = recording_reader::open(dir / file_from_row);
  if (!reader) {
    return make_error("cannot read the recording of session " + std::string(id) + ": " +
                      reader.error().text);
  }
  auto report = reader->verify(expected, decode);
  return opened_recording{std::move(*reader), std::move(report)};
}

std::string asciicast_header(int cols, int rows, const std::string& term,
                             std::int64_t unix_seconds) {
  // A client that is not on a terminal asks for a PTY of 0x0 (ssh -tt from a script); programs
  // on it then assume 80x24, and so does the player.
  return line({{"version", 2},
               {"width", cols > 0 ? std::min(cols, 10000) : 80},
               {"height", rows > 0 ? std::min(rows, 10000) : 24},
               {"timestamp", unix_seconds},
               {"env", {{"TERM", terminal_sanitizer::clean(term)}}}});
}

void asciicast_encoder::encode(const event& ev, std::string& out) {
  if (o_.adopt_ptys && ev.type == event_type::channel_request &&
      field<std::string>(metadata(ev), "request", "") == "pty-req") {
    o_.terminals.insert(ev.channel);
  }
  if (ev.offset < o_.zero || !o_.terminals.contains(ev.channel)) {
    return;
  }
  const double at = static_cast<double>((ev.offset - o_.zero).count()) / 1e6;
  if (ev.type == event_type::data && ev.stream != stream::input) {
    clean_.clear();
    sanitizers_[ev.channel].feed(ev.data, clean_);
    if (!clean_.empty()) {
      out += line(nlohmann::json::array({at, "o", clean_}));
    }
  } else if (ev.type == event_type::data && o_.with_input) {
    out += line(nlohmann::json::array({at, "i", ev.data}));
  } else if (ev.type == event_type::window_change) {
    out += line(
        nlohmann::json::array({at, "r", std::to_string(ev.cols) + "x" + std::to_string(ev.rows)}));
  }
}

// The terminal channels are found by reading from the start only until the first PTY request
// (usually in the first chunk): once a session has a PTY, the cast shows the PTY channels, each
// from its request on (a further PTY channel, as a multiplexed connection opens, joins at its
// request; when `from` skips past that request it stays out). Only a session without a PTY is
// read whole, to show its session channels.
asciicast_stream::asciicast_stream(opened_recording recording, std::chrono::microseconds from)
    : rec_(std::move(recording)) {
  std::set<std::uint32_t> sessions;
  std::optional<nlohmann::json> pty;
  std::uint32_t pty_channel = 0;
  for (const auto& chunk : rec_.report.good) {
    total_bytes_ += chunk.header.stored_len;
  }
  for (std::size_t i = 0; i < rec_.report.good.size() && !pty; ++i) {
    auto events = rec_.reader.read_chunk(rec_.report.good[i]);
    if (!events) {
      break;  // next() meets it again and reports it
    }
    for (const auto& ev : *events) {
      if (ev.type == event_type::channel_open &&
          field<std::string>(metadata(ev), "kind", "") == "session") {
        sessions.insert(ev.channel);
      } else if (ev.type == event_type::channel_request) {
        auto meta = metadata(ev);
        if (field<std::string>(meta, "request", "") == "pty-req") {
          pty = std::move(meta);
          pty_channel = ev.channel;
          break;
        }
      }
    }
  }
  const auto& meta = pty ? *pty : nlohmann::json::object();
  header_ = asciicast_header(field(meta, "cols", 80), field(meta, "rows", 24),
                             field<std::string>(meta, "term", "xterm"),
                             rec_.reader.header().started_unix_us / 1000000);
  encoder_.emplace(
      asciicast_encoder::options{.terminals = pty ? std::set<std::uint32_t>{pty_channel} : sessions,
                                 .zero = from,
                                 .adopt_ptys = pty.has_value()});
  const auto& good = rec_.report.good;
  const auto first = std::find_if(
      good.begin(), good.end(), [&](const chunk_entry& c) { return c.header.last_offset >= from; });
  next_chunk_ = static_cast<std::size_t>(first - good.begin());
  for (auto it = good.begin(); it != first; ++it) {
    done_bytes_ += it->header.stored_len;
  }
}

result<std::string> asciicast_stream::next(std::size_t max_bytes) {
  std::string out = std::move(header_);
  header_.clear();
  while (out.size() < max_bytes) {
    if (next_event_ == events_.size()) {
      if (next_chunk_ == rec_.report.good.size()) {
        break;
      }
      const auto& chunk = rec_.report.good[next_chunk_++];
      auto events = rec_.reader.read_chunk(chunk);
      if (!events) {
        return events.error();
      }
      events_ = std::move(*events);
      next_event_ = 0;
      done_bytes_ += chunk.header.stored_len;
      continue;
    }
    encoder_->encode(events_[next_event_++], out);
  }
  return out;
}

}  // namespace bastion::recorder
