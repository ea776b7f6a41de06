// Startup recovery: a recording left open by a crash keeps its complete chunks, loses its torn
// tail, and afterwards verifies.
#pragma once

#include <bastion/recorder/reader.hpp>

namespace bastion::recorder {

struct recovery_result {
  sha256 head{};
  std::uint32_t chunks = 0;
  std::uint64_t raw_bytes = 0;
  std::uint64_t stored_bytes = 0;
  std::uint64_t cut_bytes = 0;  // the torn tail removed
  std::string problem;          // what stopped the reading ("" if the file ended cleanly)
};

result<recovery_result> recover_recording(const std::filesystem::path& path);

}  // namespace bastion::recorder
