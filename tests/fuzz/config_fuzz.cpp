// The config reader on arbitrary YAML. Only config_error may escape parse_config (anything else
// would end bastiond with a bare "terminate called"), and its message, which bastiond and
// bastionctl print to a terminal, names the file, is one line and carries no control byte or
// malformed UTF-8 from the input.
// A config that parses holds no NUL byte in the strings that reach C APIs.
#include <bastion/common/config.hpp>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string yaml(bastion::fuzz::as_text(data, size));
  try {
    const bastion::config cfg = bastion::parse_config(yaml, "fuzz.yaml");
    FUZZ_REQUIRE(cfg.source == "fuzz.yaml");
    FUZZ_REQUIRE(cfg.database.find('\0') == std::string::npos);
    FUZZ_REQUIRE(cfg.banner.find('\0') == std::string::npos);
    FUZZ_REQUIRE(cfg.recording.dir.string().find('\0') == std::string::npos);
  } catch (const bastion::config_error& e) {
    const std::string_view what = e.what();
    FUZZ_REQUIRE(what.starts_with("fuzz.yaml"));
    FUZZ_REQUIRE(bastion::fuzz::terminal_safe(what));
  }
  return 0;
}
