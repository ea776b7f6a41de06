// The options field of an authorized_keys line, and the checks made with what it yields: from=
// against a client address and permitopen= against a destination, both from the same input.
#include <bastion/policy/key_options.hpp>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bastion::policy;
  const std::string_view text = bastion::fuzz::as_text(data, size);
  const auto options = parse_key_options(text);
  if (!options) {
    FUZZ_REQUIRE(!options.error().text.empty());
    return 0;
  }
  FUZZ_REQUIRE(options->from.empty() || !options->from.front().empty());
  for (const std::string_view ip :
       {"127.0.0.1", "10.1.2.3", "::1", "2001:db8::7", "::ffff:10.1.2.3"}) {
    (void)source_allowed(*options, ip);
  }
  // A destination cut from the input itself, so that the fuzzer can make it match.
  const std::size_t cut = text.find(':');
  const std::string_view host = text.substr(0, std::min(cut, text.size()));
  for (const int port : {22, 0, 65535}) {
    (void)open_permitted(*options, host, port);
  }
  FUZZ_REQUIRE(open_permitted(key_options{}, host, 22));
  return 0;
}
