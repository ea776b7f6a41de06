// Turns one session's events into durable chunks: encode, compress, hash-chain, write, fdatasync.
// Synchronous; the recorder's writer thread drives it, never an io thread.
#pragma once

#include <memory>
#include <string>

#include <bastion/recorder/event.hpp>
#include <bastion/recorder/file_sink.hpp>
#include <bastion/recorder/format.hpp>

namespace bastion::recorder {

class chunk_writer {
 public:
  // Writes and syncs the file header at once; check ok() afterwards.
  chunk_writer(std::unique_ptr<file_sink> sink, const file_header& header, int zstd_level = 3);

  // Buffers an event for the next chunk. Cheap: no I/O.
  void add(const event& ev);
  // Raw bytes buffered for the next chunk.
  std::size_t pending_bytes() const { return pending_.size(); }
  std::uint32_t pending_events() const { return pending_events_; }

  // Writes the buffered events as one chunk, without syncing. On failure the file is cut back to
  // its last complete chunk (synced then; if that fails too, to the last durable one), the
  // buffered events are dropped (and counted as lost), and every later call fails too: what was
  // persisted stays a valid recording.
  result<void> write_chunk();
  // Makes every chunk written so far durable (fdatasync). One sync may cover many chunks: the
  // writer thread syncs once per batch (group commit), not once per chunk.
  result<void> sync();
  // write_chunk() then sync().
  result<void> flush();
  bool unsynced() const { return written_.size != durable_.size; }

  bool ok() const { return !failed_; }
  // Hash of the last chunk written (durable once sync() returned; after a failure, the last
  // durable one).
  const sha256& head() const { return written_.head; }
  std::uint32_t chunk_count() const { return written_.chunks; }
  std::uint64_t raw_bytes() const { return written_.raw; }
  std::uint64_t stored_bytes() const { return written_.stored; }
  std::uint64_t lost_bytes() const { return lost_bytes_; }

 private:
  void keep_written();
  result<void> fail(error_message why);
  void lose(std::uint64_t bytes);  // counted here and in bastion_recording_lost_bytes_total

  // What the file holds: everything written, and the part of it known to be on disk.
  struct totals {
    sha256 head{};
    std::uint32_t chunks = 0;
    std::uint64_t raw = 0;
    std::uint64_t stored = 0;
    std::uint64_t size = 0;
  };

  std::unique_ptr<file_sink> sink_;
  int level_;
  std::string pending_;
  std::uint32_t pending_events_ = 0;
  std::chrono::microseconds first_offset_{0};
  std::chrono::microseconds last_offset_{0};
  totals written_;
  totals durable_;
  std::uint64_t lost_bytes_ = 0;
  bool failed_ = false;
  bool incompressible_ = false;  // the last chunk did not shrink: try the next on a sample first
  std::string error_;
};

}  // namespace bastion::recorder
