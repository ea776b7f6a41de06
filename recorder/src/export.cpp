// Event iteration, asciicast v2 and raw stream export.
#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>

#include <bastion/recorder/asciicast.hpp>
#include <bastion/recorder/export.hpp>
#include <bastion/recorder/sanitizer.hpp>

#include "metadata.hpp"

namespace bastion::recorder {
namespace {

std::uint64_t total_stored(const verify_report& report) {
  std::uint64_t total = 0;
  for (const auto& c : report.good) {
    total += c.header.stored_len;
  }
  return total;
}

double seconds(std::chrono::microseconds t) {
  return static_cast<double>(t.count()) / 1e6;
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const char* stream_suffix(stream s) {
  switch (s) {
    case stream::input:
      return "stdin";
    case stream::output:
      return "stdout";
    case stream::error:
      return "stderr";
  }
  return "unknown";
}

const char* type_name(event_type t) {
  static constexpr std::array<const char*, 12> names{
      "?",           "session_start", "channel_open",  "channel_request",
      "data",        "window_change", "signal",        "eof",
      "exit_status", "exit_signal",   "channel_close", "session_end"};
  const auto i = static_cast<std::size_t>(t);
  return i < names.size() ? names[i] : "?";
}

}  // namespace

result<void> for_each_event(recording_reader& reader, const verify_report& report,
                            std::chrono::microseconds from,
                            const std::function<bool(const event&)>& visit) {
  // The index: skip every chunk that ends before `from` without decoding it.
  auto it = std::find_if(report.good.begin(), report.good.end(),
                         [&](const chunk_entry& c) { return c.header.last_offset >= from; });
  for (; it != report.good.end(); ++it) {
    auto events = reader.read_chunk(*it);
    if (!events) {
      return events.error();
    }
    for (const auto& ev : *events) {
      if (ev.offset >= from && !visit(ev)) {
        return {};
      }
    }
  }
  return {};
}

std::set<std::uint32_t> terminal_channels(recording_reader& reader, const verify_report& report) {
  std::set<std::uint32_t> ptys;
  std::set<std::uint32_t> sessions;
  (void)for_each_event(reader, report, std::chrono::microseconds(0), [&](const event& ev) {
    if (ev.type == event_type::channel_request &&
        field<std::string>(metadata(ev), "request", "") == "pty-req") {
      ptys.insert(ev.channel);
    } else if (ev.type == event_type::channel_open &&
               field<std::string>(metadata(ev), "kind", "") == "session") {
      sessions.insert(ev.channel);
    }
    return true;
  });
  return ptys.empty() ? sessions : ptys;
}

result<void> write_asciicast(opened_recording recording, std::ostream& out,
                             const progress_fn& progress) {
  asciicast_stream cast(std::move(recording));
  for (;;) {
    auto piece = cast.next(std::size_t{256} * 1024);
    if (!piece) {
      return piece.error();
    }
    if (piece->empty()) {
      break;
    }
    out << *piece;
    if (progress) {
      progress(cast.done_bytes(), cast.total_bytes());
    }
  }
  if (!out) {
    return make_error("cannot write the export");
  }
  return {};
}

result<std::vector<std::filesystem::path>> write_raw_streams(recording_reader& reader,
                                                             const verify_report& report,
                                                             const std::filesystem::path& dir,
                                                             const progress_fn& progress) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return make_error("cannot create " + dir.string() + ": " + ec.message());
  }
  std::map<std::string, std::ofstream> files;
  std::map<std::uint32_t, nlohmann::json> meta;
  std::vector<std::filesystem::path> written;
  const auto file = [&](const std::string& name) -> std::ofstream& {
    auto [it, added] = files.try_emplace(name);
    if (added) {
      written.push_back(dir / name);
      it->second.open(dir / name, std::ios::binary | std::ios::trunc);
    }
    return it->second;
  };
  std::uint64_t done = 0;
  const std::uint64_t total = total_stored(report);
  for (const auto& chunk : report.good) {
    auto events = reader.read_chunk(chunk);
    if (!events) {
      return events.error();
    }
    for (const auto& ev : *events) {
      const std::string base = "ch" + std::to_string(ev.channel);
      if (ev.type == event_type::data) {
        file(base + "." + stream_suffix(ev.stream))
            .write(ev.data.data(), static_cast<std::streamsize>(ev.data.size()));
        continue;
      }
      nlohmann::json entry{{"t", seconds(ev.offset)}, {"event", type_name(ev.type)}};
      if (ev.type == event_type::channel_open || ev.type == event_type::channel_request) {
        entry["detail"] = metadata(ev);
      } else if (ev.type == event_type::exit_status) {
        entry["code"] = ev.code;
      } else if (ev.type == event_type::eof) {
        entry["stream"] = stream_suffix(ev.stream);
      } else if (!ev.data.empty()) {
        entry["text"] = ev.data;
      }
      meta[ev.channel].push_back(entry);
    }
    done += chunk.header.stored_len;
    if (progress) {
      progress(done, total);
    }
  }
  for (const auto& [channel, entries] : meta) {
    file("ch" + std::to_string(channel) + ".json") << dump(entries) << "\n";
  }
  for (auto& [name, f] : files) {
    f.close();
    if (!f) {
      return make_error("cannot write " + (dir / name).string());
    }
  }
  return written;
}

}  // namespace bastion::recorder
