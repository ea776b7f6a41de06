// Reading a verified recording back out: events from any time, asciicast v2 for `asciinema play`,
// and raw stream files for exec and sftp channels.
#pragma once

#include <functional>
#include <iosfwd>
#include <set>

#include <bastion/recorder/asciicast.hpp>
#include <bastion/recorder/reader.hpp>

namespace bastion::recorder {

// Calls `visit` for each event at or after `from`, in order, decoding only the chunks from there
// on. `visit` returns false to stop. Reading stops with an error at a chunk that changed since the
// report was made.
result<void> for_each_event(recording_reader& reader, const verify_report& report,
                            std::chrono::microseconds from,
                            const std::function<bool(const event&)>& visit);

// What replay and asciicast show: the channels that asked for a PTY, or, where none did, every
// session channel (never a forward's bytes, which are no terminal's).
std::set<std::uint32_t> terminal_channels(recording_reader& reader, const verify_report& report);

// Progress for long exports: bytes of chunks done, and in all.
using progress_fn = std::function<void(std::uint64_t done, std::uint64_t total)>;

// The whole of asciicast_stream's cast (asciicast.hpp), written to `out`.
result<void> write_asciicast(opened_recording recording, std::ostream& out,
                             const progress_fn& progress = {});

// For each channel: chN.stdin, chN.stdout, chN.stderr (only those with data) and chN.json (its
// open and requests, EOFs and exit) in `dir`, which is created.
result<std::vector<std::filesystem::path>> write_raw_streams(recording_reader& reader,
                                                             const verify_report& report,
                                                             const std::filesystem::path& dir,
                                                             const progress_fn& progress = {});

}  // namespace bastion::recorder
