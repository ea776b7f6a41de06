// The real recording file.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include <bastion/recorder/file_sink.hpp>

namespace bastion::recorder {
namespace {

error_message errno_error(std::string_view what) {
  return make_error(std::string(what) + ": " +
                    std::error_code(errno, std::system_category()).message());
}

off_t page_size() {
  static const off_t size = ::sysconf(_SC_PAGESIZE) > 0 ? ::sysconf(_SC_PAGESIZE) : 4096;
  return size;
}

}  // namespace

result<std::unique_ptr<posix_file_sink>> posix_file_sink::create(const std::filesystem::path& dir,
                                                                 std::string_view name) {
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..") {
    return make_error("recording file name must be a plain name");
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return errno_error("cannot open recording directory " + dir.string());
  }
  const std::string file(name);
  const int fd = ::openat(dir_fd, file.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    const int open_errno = errno;
    ::close(dir_fd);
    errno = open_errno;
    return errno_error("cannot create recording " + file);
  }
  // The directory entry is durable before any of the session's data flows: a crash right after
  // must leave a file that recovery finds, not a session whose recording never existed.
  if (::fsync(dir_fd) != 0) {
    const int sync_errno = errno;
    ::close(fd);
    ::unlinkat(dir_fd, file.c_str(), 0);
    ::close(dir_fd);
    errno = sync_errno;
    return errno_error("cannot sync recording directory " + dir.string());
  }
  ::close(dir_fd);
  return std::unique_ptr<posix_file_sink>(new posix_file_sink(fd));
}

posix_file_sink::~posix_file_sink() {
  ::close(fd_);
}

result<void> posix_file_sink::write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return errno_error("write");
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Synced pages are dropped from the page cache: a recording is read back rarely, and appending
// a GiB into fresh page-cache pages cost more CPU than compressing and hashing it (on this VM,
// first-touch page faults behind copy_folio_from_iter_atomic). Reused free pages are cheap.
// Only whole pages go: the file's last page is partly written, and once dropped the next append
// into it must first read it back from the disk, synchronously (ext4_block_write_begin), which
// was one 4 KiB read per sync.
result<void> posix_file_sink::sync() {
  if (::fdatasync(fd_) != 0) {
    return errno_error("fdatasync");
  }
  const off_t end = ::lseek(fd_, 0, SEEK_END) / page_size() * page_size();
  if (end > dropped_) {
    (void)::posix_fadvise(fd_, dropped_, end - dropped_, POSIX_FADV_DONTNEED);  // advice only
    dropped_ = end;
  }
  return {};
}

result<void> posix_file_sink::truncate(std::uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return errno_error("ftruncate");
  }
  dropped_ = std::min(dropped_, static_cast<off_t>(size) / page_size() * page_size());
  return {};
}

}  // namespace bastion::recorder
