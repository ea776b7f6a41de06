// Reading recordings back: the chain check behind `bastionctl verify`, and events from any time
// (the chunk index makes replay start without decoding from the beginning). Recordings are
// untrusted input: every length is bounded before use and reading stops at the first bad chunk.
#pragma once

#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include <bastion/recorder/event.hpp>
#include <bastion/recorder/format.hpp>

namespace bastion::recorder {

struct chunk_entry {
  chunk_header header;
  std::uint64_t file_offset = 0;  // where the chunk header starts
};

struct verify_report {
  bool ok = false;
  std::vector<chunk_entry> good;           // the valid prefix, in order: the seek index
  std::optional<std::uint32_t> bad_chunk;  // index of the first bad chunk, if any
  std::string problem;                     // what is wrong with it (or with the end of the file)
  sha256 head{};                           // hash of the last good chunk (or of the header)
  std::uint64_t good_bytes = 0;            // file size up to the end of the last good chunk
};

class recording_reader {
 public:
  static result<recording_reader> open(const std::filesystem::path& path);

  const file_header& header() const { return header_; }

  // Walks every chunk: magic, bounds, sequence, chain, hash, and (if `decode`) decompression and
  // event decoding. `expected_head`, from the database, also catches chunks cut from the end.
  verify_report verify(const std::optional<sha256>& expected_head = std::nullopt,
                       bool decode = true);

  // The events of one chunk from the index.
  result<std::vector<event>> read_chunk(const chunk_entry& chunk);

 private:
  recording_reader(std::filesystem::path path, file_header header)
      : path_(std::move(path)), header_(header) {}
  result<std::string> read_at(std::uint64_t offset, std::size_t size);

  std::filesystem::path path_;
  file_header header_;
  std::ifstream in_;
};

}  // namespace bastion::recorder
