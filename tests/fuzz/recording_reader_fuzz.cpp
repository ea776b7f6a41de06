// The recording reader on hostile files (`bastionctl verify`, replay and export open recordings
// that anyone with write access to the recordings directory could have edited).
//
// Input: one mode byte, then the file. Random bytes almost never carry a valid SHA-256 chain, so
// with the mode's low bit set the target first seals the file: it rewrites each chunk header's
// `prev` and `hash` to what the reader expects. That lets the fuzzer reach decompression and
// event decoding, the code behind the hashes.
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include <bastion/recorder/reader.hpp>

#include "fuzz_check.hpp"

namespace {

using namespace bastion::recorder;

void seal(std::string& file) {
  if (file.size() < file_header_size) {
    return;
  }
  sha256 head = hash_of(file.substr(0, file_header_size));
  std::size_t offset = file_header_size;
  while (offset + chunk_header_size <= file.size()) {
    auto h = decode_chunk_header(std::string_view(file).substr(offset, chunk_header_size));
    if (!h || h->stored_len > file.size() - offset - chunk_header_size) {
      return;
    }
    h->prev = head;
    h->hash =
        chunk_hash(*h, std::string_view(file).substr(offset + chunk_header_size, h->stored_len));
    file.replace(offset, chunk_header_size, encode_chunk_header(*h));
    head = h->hash;
    offset += chunk_header_size + h->stored_len;
  }
}

// The file as the reader sees it on disk: an anonymous memory file, opened by its /proc path.
class memory_file {
 public:
  explicit memory_file(const std::string& bytes) : fd_(::memfd_create("recording", 0)) {
    FUZZ_REQUIRE(fd_ >= 0);
    FUZZ_REQUIRE(::write(fd_, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  }
  ~memory_file() { ::close(fd_); }
  memory_file(const memory_file&) = delete;
  memory_file& operator=(const memory_file&) = delete;
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

void check(const std::string& path, std::size_t size) {
  auto reader = recording_reader::open(path);
  if (!reader) {
    return;
  }
  const verify_report full = reader->verify();
  const verify_report shallow = reader->verify(std::nullopt, /*decode=*/false);
  FUZZ_REQUIRE(full.good_bytes <= size && shallow.good_bytes <= size);
  FUZZ_REQUIRE(full.ok == !full.bad_chunk.has_value());
  // Decoding only ever finds more wrong, never less.
  FUZZ_REQUIRE(shallow.good.size() >= full.good.size());
  FUZZ_REQUIRE(!shallow.ok || shallow.good_bytes == size);
  for (const chunk_entry& chunk : full.good) {
    auto events = reader->read_chunk(chunk);
    FUZZ_REQUIRE(events && events->size() == chunk.header.event_count);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  std::string file(bastion::fuzz::as_text(data + 1, size - 1));
  if ((data[0] & 1U) != 0) {
    seal(file);
  }
  const memory_file on_disk(file);
  check(on_disk.path(), file.size());
  return 0;
}
