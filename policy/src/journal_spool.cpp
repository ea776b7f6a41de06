// The journal's spool file.
#include "journal_spool.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

#include <bastion/common/log.hpp>

#include "journal_codec.hpp"

namespace bastion::policy {
namespace {

// Version 2 added search index documents (entry kind 4). A version 1 spool holds only kinds that
// version 2 reads the same way, so it is taken as it is and its header raised to 2 at open: a
// bastiond that predates search then refuses it instead of meeting a kind it does not know.
constexpr std::array<char, 8> header = {'B', 'J', 'S', 'P', 'O', 'O', 'L', '\2'};
constexpr char first_version = '\1';
constexpr std::size_t frame_bytes = 8;
// Far above any real entry: a length past it is damage, not a record.
constexpr std::uint32_t max_record = 64U << 20;

std::string errno_text() {
  return std::generic_category().message(errno);
}

void put_le32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
}

std::uint32_t le32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) {
    v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  }
  return v;
}

std::uint32_t crc_of(std::string_view bytes) {
  return static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

bool write_all(int fd, std::string_view bytes, std::uint64_t offset) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

// Makes a directory's entries (a file created, renamed or cut) durable.
bool sync_dir(const std::filesystem::path& dir) {
  const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) {
    return false;
  }
  const bool ok = ::fsync(d) == 0;
  ::close(d);
  return ok;
}

// Creates SPOOL.damaged-UNIXTIME, or .N after it when that name is taken (a second damage within
// the same second); its descriptor, or -1 with errno set.
int create_aside(const std::filesystem::path& spool, std::string& name) {
  const auto unix_s = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  name = spool.string() + ".damaged-" + std::to_string(unix_s);
  int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  for (int n = 2; fd < 0 && errno == EEXIST && n <= 1000; ++n) {
    name = spool.string() + ".damaged-" + std::to_string(unix_s) + "." + std::to_string(n);
    fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  }
  return fd;
}

}  // namespace

journal_spool::journal_spool(const std::filesystem::path& dir) : path_(dir / "journal.spool") {
  try {
    open_file(dir);
    scan();
  } catch (...) {
    // No destructor runs for a constructor that throws: the descriptor, and with it the lock,
    // would stay with this process.
    if (fd_ >= 0) {
      ::close(fd_);
    }
    throw;
  }
}

journal_spool::~journal_spool() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void journal_spool::open_file(const std::filesystem::path& dir) {
  const auto fail = [&](const std::string& why, const std::string& fix) {
    throw journal_spool_error("policy.journal_spool " + dir.string() + ": " + why + "; " + fix);
  };
  std::error_code ec;
  if (std::filesystem::create_directories(dir, ec) && !ec) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  if (ec) {
    fail(ec.message(), "create it, writable for the user bastiond runs as");
  }
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    fail("cannot open " + path_.filename().string() + ": " + errno_text(),
         "make the directory writable for the user bastiond runs as");
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    fail("another bastiond holds " + path_.string(),
         "give each bastiond on this machine its own `policy: { journal_spool: DIR }`");
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    fail("cannot stat the spool: " + errno_text(), "check the file system");
  }
  if (st.st_size == 0) {
    // A new spool: its header, and its name in the directory, are made durable before any record.
    if (!write_all(fd_, {header.data(), header.size()}, 0) || ::fdatasync(fd_) != 0) {
      fail("cannot write the spool: " + errno_text(), "free space or fix the file system");
    }
    if (!sync_dir(dir)) {
      fail("cannot sync the directory: " + errno_text(), "fix the file system");
    }
  }
}

std::string journal_spool::read_at(std::uint64_t offset, std::size_t n) const {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd_, out.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0) {
      throw journal_spool_error("cannot read the journal spool " + path_.string() + ": " +
                                errno_text());
    }
    if (r == 0) {
      break;
    }
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

void journal_spool::scan() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    throw journal_spool_error("cannot stat the journal spool " + path_.string() + ": " +
                              errno_text());
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::string head = read_at(0, header.size());
  if (head.size() == header.size() && head.compare(0, 7, header.data(), 7) == 0 &&
      head[7] == first_version) {
    if (!write_all(fd_, {&header[7], 1}, 7) || ::fdatasync(fd_) != 0) {
      throw journal_spool_error("cannot upgrade the journal spool " + path_.string() + ": " +
                                errno_text() + "; free space or fix the file system");
    }
    head[7] = header[7];
  }
  if (head.size() == header.size() && head.compare(0, 7, header.data(), 7) == 0 &&
      head[7] != header[7]) {
    throw journal_spool_error("the journal spool " + path_.string() + " has format version " +
                              std::to_string(static_cast<unsigned char>(head[7])) +
                              ", which this bastiond does not read; run the bastiond that wrote "
                              "it until the spool is replayed, or move the file away");
  }
  if (head != std::string_view(header.data(), header.size())) {
    throw journal_spool_error("the file " + path_.string() +
                              " is not a journal spool; move it away, or point "
                              "`policy: { journal_spool: DIR }` elsewhere");
  }
  std::uint64_t at = header.size();
  while (at < size) {
    std::string damage;
    if (size - at < frame_bytes) {
      damage = "a record header cut short";
    } else {
      const std::string frame = read_at(at, frame_bytes);
      const std::uint32_t len = le32(frame.data());
      if (len > max_record || size - at - frame_bytes < len) {
        damage = "a record cut short";
      } else {
        const std::string payload = read_at(at + frame_bytes, len);
        if (crc_of(payload) != le32(frame.data() + 4)) {
          damage = "a record whose checksum does not match";
        } else {
          try {
            decode_entry(payload);
          } catch (const journal_codec_error& e) {
            damage = std::string("a record that does not decode (") + e.what() + ")";
          }
        }
        if (damage.empty()) {
          at += frame_bytes + len;
          ++pending_;
          continue;
        }
      }
    }
    set_aside_tail(at, size, damage);
    break;
  }
  end_ = at;
  read_ = header.size();
  if (pending_ > 0) {
    spdlog::info("journal spool {} holds {} rows from before this start; replaying them",
                 path_.string(), pending_);
  }
}

void journal_spool::set_aside_tail(std::uint64_t from, std::uint64_t size, const std::string& why) {
  std::string aside;
  const int out = create_aside(path_, aside);
  bool kept = out >= 0;
  constexpr std::size_t piece = 1U << 20;
  for (std::uint64_t at = from; kept && at < size; at += piece) {
    const std::string bytes =
        read_at(at, static_cast<std::size_t>(std::min<std::uint64_t>(piece, size - at)));
    kept = write_all(out, bytes, at - from);
  }
  kept = kept && ::fsync(out) == 0;
  if (out >= 0) {
    ::close(out);
  }
  // The copy's name must be durable before the spool is cut: after a power loss, the cut alone
  // would have lost the tail.
  kept = kept && sync_dir(path_.parent_path());
  if (!kept) {
    throw journal_spool_error("the journal spool " + path_.string() + " ends in " + why +
                              " at byte " + std::to_string(from) + ", and its tail cannot be " +
                              "kept in " + aside + " (" + errno_text() +
                              "); free space in the directory and start again");
  }
  if (::ftruncate(fd_, static_cast<off_t>(from)) != 0 || ::fdatasync(fd_) != 0) {
    throw journal_spool_error("cannot cut the journal spool " + path_.string() +
                              " back: " + errno_text());
  }
  // Only the last group of records can be cut short by a crash, and none of it had been
  // acknowledged; anything else is damage to look at, so the bytes are kept either way.
  spdlog::warn("journal spool {} ended in {} at byte {}: its last {} bytes were moved to {}",
               path_.string(), why, from, size - from, aside);
}

std::string journal_spool::set_aside() {
  std::string aside;
  const int reserved = create_aside(path_, aside);
  if (reserved < 0) {
    throw journal_spool_error("cannot set the journal spool " + path_.string() +
                              " aside: " + errno_text());
  }
  ::close(reserved);
  // Renamed over the name just reserved, so no other file is replaced; every byte stays.
  if (::rename(path_.c_str(), aside.c_str()) != 0) {
    throw journal_spool_error("cannot set the journal spool " + path_.string() + " aside as " +
                              aside + ": " + errno_text());
  }
  const int old_fd = fd_;  // keeps the lock until the new file holds it
  fd_ = -1;
  try {
    open_file(path_.parent_path());
  } catch (...) {
    fd_ = old_fd;
    throw;
  }
  ::close(old_fd);
  end_ = read_ = header.size();
  pending_ = 0;
  peeked_ends_.clear();
  return aside;
}

void journal_spool::frame(std::string& out, const journal_entry& entry) {
  std::string payload;
  encode_entry(payload, entry);
  if (payload.size() > max_record) {
    throw journal_codec_error("a journal entry of " + std::to_string(payload.size()) +
                              " bytes is over the spool's bound");
  }
  put_le32(out, static_cast<std::uint32_t>(payload.size()));
  put_le32(out, crc_of(payload));
  out += payload;
}

bool journal_spool::append(const std::string& records, std::size_t count) {
  if (write_all(fd_, records, end_) && ::fdatasync(fd_) == 0) {
    end_ += records.size();
    pending_ += count;
    return true;
  }
  const std::string why = errno_text();
  // Cut back what reached the file, so that the next append starts on a record boundary.
  if (::ftruncate(fd_, static_cast<off_t>(end_)) != 0) {
    spdlog::error("journal spool {}: cannot cut a failed append back: {}", path_.string(),
                  errno_text());
  }
  spdlog::error("journal spool {}: cannot write {} rows ({}); they wait in memory", path_.string(),
                count, why);
  return false;
}

std::vector<journal_entry> journal_spool::peek(std::size_t max) {
  std::vector<journal_entry> out;
  peeked_ends_.clear();
  std::uint64_t at = read_;
  while (out.size() < max && at < end_) {
    // Every record before end_ was checked (at open) or written by this process, so a length
    // out of bounds here means the file changed under it.
    const std::string frame = read_at(at, frame_bytes);
    const std::uint32_t len = frame.size() == frame_bytes ? le32(frame.data()) : 0;
    if (frame.size() != frame_bytes || len > max_record ||
        end_ - at < frame_bytes + std::uint64_t{len}) {
      throw journal_spool_error("the journal spool " + path_.string() +
                                " does not hold what this process wrote to it");
    }
    const std::string payload = read_at(at + frame_bytes, len);
    if (payload.size() != len || crc_of(payload) != le32(frame.data() + 4)) {
      throw journal_spool_error("the journal spool " + path_.string() +
                                " does not hold what this process wrote to it");
    }
    try {
      out.push_back(decode_entry(payload));
    } catch (const journal_codec_error& e) {
      throw journal_spool_error("the journal spool " + path_.string() + " changed under this " +
                                "process: " + e.what());
    }
    at += frame_bytes + len;
    peeked_ends_.push_back(at);
  }
  return out;
}

void journal_spool::consume(std::size_t n) {
  if (n == 0) {
    return;
  }
  read_ = peeked_ends_.at(n - 1);
  pending_ -= n;
  peeked_ends_.clear();
  reset_if_done();
}

void journal_spool::reset_if_done() {
  if (pending_ != 0) {
    return;
  }
  // Everything is in the database: the file goes back to its header. A crash before this is
  // harmless (the rows are replayed again, idempotently).
  if (::ftruncate(fd_, static_cast<off_t>(header.size())) != 0 || ::fdatasync(fd_) != 0) {
    spdlog::warn("journal spool {}: cannot cut it back to empty: {}", path_.string(), errno_text());
  }
  end_ = read_ = header.size();
}

}  // namespace bastion::policy
