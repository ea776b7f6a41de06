// authorized_keys text as admins paste it into `bastionctl key add`. Every key that parses must
// parse again, alone, from the line rebuilt out of its fields, to the same key; and its options
// must be ones the bastion honours.
#include <bastion/policy/authorized_key.hpp>
#include <bastion/policy/key_options.hpp>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bastion::policy;
  const auto keys = parse_authorized_keys(bastion::fuzz::as_text(data, size));
  if (!keys) {
    FUZZ_REQUIRE(!keys.error().text.empty());
    return 0;
  }
  FUZZ_REQUIRE(!keys->empty());
  for (const public_key& key : *keys) {
    FUZZ_REQUIRE(key.fingerprint.starts_with("SHA256:"));
    FUZZ_REQUIRE(key.comment.size() <= max_comment_bytes);
    FUZZ_REQUIRE(parse_key_options(key.options).has_value());
    std::string line = key.options.empty() ? "" : key.options + " ";
    line += key.type + " " + key.base64;
    if (!key.comment.empty()) {
      line += " " + key.comment;
    }
    const auto again = parse_public_key(line);
    FUZZ_REQUIRE(again && again->fingerprint == key.fingerprint && again->type == key.type &&
                 again->options == key.options && again->comment == key.comment &&
                 again->bits == key.bits);
  }
  return 0;
}
