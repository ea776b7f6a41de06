// Finalising the sessions a crash left open.
#include <bastion/common/log.hpp>
#include <bastion/proxy/recovery.hpp>
#include <bastion/recorder/recovery.hpp>

namespace bastion::proxy {

int recover_crashed_sessions(const config& cfg, policy::store& store) {
  int finalised = 0;
  for (const auto& s : store.unfinished_sessions(cfg.node_name)) {
    policy::recording_end end;
    const auto id = recorder::parse_session_id(s.id);
    // The file name is derived from the id, never taken from the row as a path.
    if (id && s.recording_file == recorder::recording_file_name(*id)) {
      const auto path = cfg.recording.dir / s.recording_file;
      if (auto r = recorder::recover_recording(path)) {
        end = {recorder::to_hex(r->head), r->raw_bytes, r->stored_bytes, r->chunks, 0};
        spdlog::warn("session={} finalised after a crash: {} chunks kept, {} torn bytes cut", s.id,
                     r->chunks, r->cut_bytes);
      } else {
        spdlog::error("session={} recording unreadable after a crash: {}", s.id,
                      bastion::log_value(r.error().text));
      }
    } else {
      spdlog::error("session={} has a recording row that does not match its id; left unverified",
                    s.id);
    }
    store.end_session(s.id, "crash", end);
    ++finalised;
  }
  return finalised;
}

}  // namespace bastion::proxy
