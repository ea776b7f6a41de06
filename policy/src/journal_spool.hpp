// The journal's spool: the entries that PostgreSQL could not take, in one append-only file
// (DIR/journal.spool), kept until they have been replayed into the database. Internal to policy/;
// used by the journal's writer thread only.
//
// The file is an 8-byte header ("BJSPOOL" and the format version) and then records: a 4-byte
// length, the CRC-32 of the payload (4 bytes), and the payload (journal_codec.hpp), all
// little-endian. Appends are group commits: every entry waiting goes in one write and one
// fdatasync, and only then counts as spooled. At open, the file is read through: a record that a
// crash cut short, or any bytes after the last whole record, are moved aside to
// journal.spool.damaged-UNIXTIME (never deleted) and the file is cut back to its whole records.
// Replayed records are consumed in memory; once none is left the file is cut back to its header.
// A replay that a crash cuts short starts over from the first record at the next start, which is
// why every row the journal writes is idempotent.
//
// The file is locked (flock) while open, so that two bastiond processes configured with the same
// directory cannot both replay it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <bastion/policy/journal.hpp>

namespace bastion::policy {

class journal_spool {
 public:
  // Opens DIR/journal.spool, creating DIR (mode 0700) and the file if needed. Throws
  // journal_spool_error naming the fix.
  explicit journal_spool(const std::filesystem::path& dir);
  ~journal_spool();
  journal_spool(const journal_spool&) = delete;
  journal_spool& operator=(const journal_spool&) = delete;

  // Appends one framed record per entry to `out`, for append(). Throws journal_codec_error for an
  // entry over the spool's bounds (none that the bastion makes).
  static void frame(std::string& out, const journal_entry& entry);
  // Writes `records` (`count` records from frame()) and makes them durable. False, with the file as
  // it was and the reason logged, if the disk refused (full, failing).
  bool append(const std::string& records, std::size_t count);
  // Up to `max` of the oldest entries not yet consumed. Throws journal_spool_error if the file
  // cannot be read.
  std::vector<journal_entry> peek(std::size_t max);
  // The first `n` entries of the last peek() are in the database.
  void consume(std::size_t n);
  // For a spool that can no longer be read (peek() threw): renames the whole file aside (to
  // journal.spool.damaged-UNIXTIME, every byte kept) and starts an empty one. Returns the name it
  // was given. Throws journal_spool_error if the directory refuses.
  std::string set_aside();

  std::size_t pending() const { return pending_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void open_file(const std::filesystem::path& dir);
  void scan();  // reads the file through at open: counts its records, sets aside a damaged tail
  void set_aside_tail(std::uint64_t from, std::uint64_t size, const std::string& why);
  void reset_if_done();
  std::string read_at(std::uint64_t offset, std::size_t n) const;

  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t end_ = 0;                   // offset past the last durable record
  std::uint64_t read_ = 0;                  // offset of the oldest record not consumed
  std::vector<std::uint64_t> peeked_ends_;  // the end offset of each record of the last peek()
  std::size_t pending_ = 0;
};

}  // namespace bastion::policy
