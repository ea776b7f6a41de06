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

asciicast_stream::asciicast_stream(opened_recording recording, std::chrono::microseconds from)
    : rec_(std::move(recording)), from_(from) {
  std::set<std::uint32_t> ptys;
  std::set<std::uint32_t> sessions;
  nlohmann::json header{{"version", 2},
                        {"width", 80},
                        {"height", 24},
                        {"timestamp", rec_.reader.header().started_unix_us / 1000000}};
  bool sized = false;
  for (const auto& chunk : rec_.report.good) {
    total_bytes_ += chunk.header.stored_len;
    auto events = rec_.reader.read_chunk(chunk);
    if (!events) {
      break;  // next() meets it again and reports it
    }
    for (const auto& ev : *events) {
      if (ev.type == event_type::channel_open &&
          field<std::string>(metadata(ev), "kind", "") == "session") {
        sessions.insert(ev.channel);
      }
      const auto meta =
          ev.type == event_type::channel_request ? metadata(ev) : nlohmann::json::object();
      if (field<std::string>(meta, "request", "") != "pty-req") {
        continue;
      }
      ptys.insert(ev.channel);
      if (!sized) {
        header["width"] = std::clamp(field(meta, "cols", 80), 1, 10000);
        header["height"] = std::clamp(field(meta, "rows", 24), 1, 10000);
        header["env"] = {
            {"TERM", terminal_sanitizer::clean(field<std::string>(meta, "term", "xterm"))}};
        sized = true;
      }
    }
  }
  terminals_ = ptys.empty() ? sessions : ptys;
  header_ = line(header);
  const auto& good = rec_.report.good;
  const auto first = std::find_if(good.begin(), good.end(), [&](const chunk_entry& c) {
    return c.header.last_offset >= from_;
  });
  next_chunk_ = static_cast<std::size_t>(first - good.begin());
  for (auto it = good.begin(); it != first; ++it) {
    done_bytes_ += it->header.stored_len;
  }
}

void asciicast_stream::encode(const event& ev, std::string& out) {
  if (ev.offset < from_ || !terminals_.contains(ev.channel)) {
    return;
  }
  const double at = static_cast<double>((ev.offset - from_).count()) / 1e6;
  if (ev.type == event_type::data && ev.stream != stream::input) {
    clean_.clear();
    sanitizers_[ev.channel].feed(ev.data, clean_);
    if (!clean_.empty()) {
      out += line(nlohmann::json::array({at, "o", clean_}));
    }
  } else if (ev.type == event_type::data) {
    out += line(nlohmann::json::array({at, "i", ev.data}));
  } else if (ev.type == event_type::window_change) {
    out += line(
        nlohmann::json::array({at, "r", std::to_string(ev.cols) + "x" + std::to_string(ev.rows)}));
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
    encode(events_[next_event_++], out);
  }
  return out;
}

}  // namespace bastion::recorder
