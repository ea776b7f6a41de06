// The journal spool as read back at startup: the input is what follows the spool file's header,
// as a crash or a damaged disk may leave it. Besides not crashing: the records kept are a prefix
// of the input, each one's framing re-encodes to exactly its bytes, and everything after them is
// set aside, byte for byte, in a damaged-* file, never dropped and never replayed.
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_check.hpp"
#include "journal_codec.hpp"
#include "journal_spool.hpp"

namespace {

namespace fs = std::filesystem;

const fs::path& spool_dir() {
  static const fs::path dir = [] {
    std::string templ = (fs::temp_directory_path() / "journal-spool-fuzz-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      std::abort();
    }
    spdlog::set_level(spdlog::level::off);  // every damaged input would log a warning
    return fs::path(templ);
  }();
  return dir;
}

std::string read_all(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using bastion::policy::journal_spool;
  const fs::path& dir = spool_dir();
  const std::string body(bastion::fuzz::as_text(data, size));
  for (const auto& f : fs::directory_iterator(dir)) {
    fs::remove(f.path());
  }
  std::ofstream(dir / "journal.spool", std::ios::binary) << std::string("BJSPOOL\1", 8) << body;

  std::string kept;
  {
    journal_spool spool(dir);
    const auto entries = spool.peek(spool.pending() + 1);
    FUZZ_REQUIRE(entries.size() == spool.pending());
    for (const auto& e : entries) {
      journal_spool::frame(kept, e);
    }
  }
  FUZZ_REQUIRE(body.compare(0, kept.size(), kept) == 0);
  std::string aside;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().filename() != "journal.spool") {
      FUZZ_REQUIRE(aside.empty());  // one damaged tail at most
      aside = read_all(f.path());
      FUZZ_REQUIRE(!aside.empty());
    }
  }
  FUZZ_REQUIRE(kept + aside == body);
  FUZZ_REQUIRE(fs::file_size(dir / "journal.spool") == 8 + kept.size());
  return 0;
}
