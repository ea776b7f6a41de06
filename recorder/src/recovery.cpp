// Crash recovery of one recording file.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <bastion/recorder/recovery.hpp>

namespace bastion::recorder {

result<recovery_result> recover_recording(const std::filesystem::path& path) {
  auto reader = recording_reader::open(path);
  if (!reader) {
    return make_error(path.string() + ": " + reader.error().text);
  }
  const verify_report report = reader->verify();
  recovery_result out;
  out.head = report.head;
  out.chunks = static_cast<std::uint32_t>(report.good.size());
  out.problem = report.problem;
  for (const auto& c : report.good) {
    out.raw_bytes += c.header.raw_len;
    out.stored_bytes += chunk_header_size + c.header.stored_len;
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size <= report.good_bytes) {
    return out;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(report.good_bytes)) != 0 || ::fsync(fd) != 0) {
    const std::string why = std::error_code(errno, std::system_category()).message();
    if (fd >= 0) {
      ::close(fd);
    }
    return make_error("cannot cut the torn tail of " + path.string() + ": " + why);
  }
  ::close(fd);
  out.cut_bytes = size - report.good_bytes;
  return out;
}

}  // namespace bastion::recorder
