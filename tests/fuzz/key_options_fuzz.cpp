// The options field of an authorized_keys line, and the checks made with what it yields.
// Input: the options, then optionally a newline and a destination "HOST:PORT". Properties:
// - every permitopen= entry permits exactly its own host and port (any port for "*"), whatever
//   the case of the host, and a host named in no entry is never permitted;
// - no permitopen= permits everything;
// - from= and the destination are checked without crashing for any address.
#include <charconv>

#include <bastion/policy/key_options.hpp>

#include "fuzz_check.hpp"

namespace {

using namespace bastion::policy;

void check_permitopen(const key_options& options) {
  for (const std::string& entry : options.permitopen) {
    const auto colon = entry.rfind(':');
    FUZZ_REQUIRE(colon != std::string::npos);
    std::string_view host = std::string_view(entry).substr(0, colon);
    const std::string_view port = std::string_view(entry).substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    int n = 22;
    if (port != "*") {
      const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
      FUZZ_REQUIRE(ec == std::errc{} && end == port.data() + port.size());
    }
    FUZZ_REQUIRE(open_permitted(options, host, n));
  }
  if (!options.permitopen.empty()) {
    FUZZ_REQUIRE(!open_permitted(options, "no-such-host.invalid", 22));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = bastion::fuzz::as_text(data, size);
  const std::size_t newline = input.find('\n');
  const std::string_view text = input.substr(0, newline);
  const auto options = parse_key_options(text);
  if (!options) {
    FUZZ_REQUIRE(!options.error().text.empty());
    return 0;
  }
  FUZZ_REQUIRE(options->from.empty() || !options->from.front().empty());
  check_permitopen(*options);
  for (const std::string_view ip :
       {"127.0.0.1", "10.1.2.3", "::1", "2001:db8::7", "::ffff:10.1.2.3"}) {
    (void)source_allowed(*options, ip);
  }
  if (newline != std::string_view::npos) {
    const std::string_view destination = input.substr(newline + 1);
    const auto colon = destination.rfind(':');
    int port = 0;
    const std::string_view host = destination.substr(0, colon);
    if (colon != std::string_view::npos) {
      std::from_chars(destination.data() + colon + 1, destination.data() + destination.size(),
                      port);
    }
    (void)source_allowed(*options, host);
    (void)open_permitted(*options, host, port);
    FUZZ_REQUIRE(open_permitted(key_options{}, host, port));
  }
  return 0;
}
