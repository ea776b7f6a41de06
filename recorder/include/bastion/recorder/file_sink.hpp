// Where recording bytes go. An interface so that fault tests can wrap the real file and fail on
// the Nth write or sync; production uses posix_file_sink.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

#include <bastion/common/result.hpp>

namespace bastion::recorder {

class file_sink {
 public:
  virtual ~file_sink() = default;
  // All of `bytes` or an error; a failed write may have written part of them.
  virtual result<void> write(std::string_view bytes) = 0;
  // Durable once this returns (fdatasync).
  virtual result<void> sync() = 0;
  // Cuts the file back to `size` bytes (drops a torn tail after a failed write).
  virtual result<void> truncate(std::uint64_t size) = 0;
};

class posix_file_sink final : public file_sink {
 public:
  // Creates `name` inside `dir` (which must exist): O_EXCL and O_NOFOLLOW, so an existing file or
  // a planted symlink is never written through. `name` must be a plain file name.
  static result<std::unique_ptr<posix_file_sink>> create(const std::filesystem::path& dir,
                                                         std::string_view name);
  ~posix_file_sink() override;
  posix_file_sink(const posix_file_sink&) = delete;
  posix_file_sink& operator=(const posix_file_sink&) = delete;

  result<void> write(std::string_view bytes) override;
  result<void> sync() override;
  result<void> truncate(std::uint64_t size) override;

 private:
  explicit posix_file_sink(int fd) : fd_(fd) {}
  int fd_;
  off_t dropped_ = 0;  // the page cache holds nothing of the file before this offset
};

}  // namespace bastion::recorder
