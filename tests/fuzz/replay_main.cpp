// Replays a fuzz target's corpus as an ordinary test, without libFuzzer: every file under the
// given directories (or the given files) goes through LLVMFuzzerTestOneInput once. A crash or a
// broken property fails the test; `scripts/fuzz` runs the same targets under libFuzzer.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_check.hpp"

namespace {

// Inputs larger than this are not corpus entries (libFuzzer's -max_len stays far below it).
constexpr std::uintmax_t max_input_bytes = std::uintmax_t{16} * 1024 * 1024;

std::vector<std::filesystem::path> inputs_under(const std::filesystem::path& arg) {
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(arg)) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(arg)) {
      if (entry.is_regular_file()) {
        files.push_back(entry.path());
      }
    }
  } else {
    files.push_back(arg);
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool replay(const std::filesystem::path& file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec || size > max_input_bytes) {
    std::fprintf(stderr, "%s: %s\n", file.c_str(),
                 ec ? ec.message().c_str() : "larger than 16 MiB: not a corpus entry");
    return false;
  }
  std::ifstream in(file, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!in.good() && !in.eof()) {
    std::fprintf(stderr, "%s: cannot be read\n", file.c_str());
    return false;
  }
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()),  // NOLINT
                         bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
    return 2;
  }
  std::size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);  // NOLINT: argv indexing
    if (!std::filesystem::exists(arg)) {
      std::fprintf(stderr, "%s: no such file or directory\n", arg.c_str());
      return 2;
    }
    for (const auto& file : inputs_under(arg)) {
      if (!replay(file)) {
        return 1;
      }
      ++count;
    }
  }
  if (count == 0) {
    std::fprintf(stderr, "no inputs: the corpus is empty\n");
    return 1;
  }
  std::printf("replayed %zu inputs\n", count);
  return 0;
}
