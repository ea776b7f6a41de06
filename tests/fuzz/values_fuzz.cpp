// The small values read from config, the database and admin requests: endpoints, addresses and
// CIDR blocks, durations and session ids. Whatever parses must print in a form that parses back
// to the same value.
#include <bastion/common/address.hpp>
#include <bastion/common/duration.hpp>
#include <bastion/recorder/format.hpp>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = bastion::fuzz::as_text(data, size);
  if (const auto e = bastion::parse_endpoint(text)) {
    FUZZ_REQUIRE(bastion::parse_endpoint(e->to_string()) == e);
    FUZZ_REQUIRE(bastion::parse_ip(e->host.substr(0, e->host.find('%'))).has_value());
  }
  if (const auto block = bastion::parse_net_block(text)) {
    FUZZ_REQUIRE(bastion::parse_net_block(block->to_string()) == block);
    FUZZ_REQUIRE(block->contains(*block) && block->prefix(block->bits) == *block);
    if (const auto ip = bastion::parse_ip(text)) {
      FUZZ_REQUIRE(*ip == *block);
    }
  }
  if (const auto d = bastion::parse_duration(text)) {
    FUZZ_REQUIRE(d->count() >= 0);
    FUZZ_REQUIRE(bastion::parse_duration(bastion::format_duration(*d)) == d);
  }
  if (const auto id = bastion::recorder::parse_session_id(text)) {
    const auto again = bastion::recorder::parse_session_id(bastion::recorder::to_string(*id));
    FUZZ_REQUIRE(again && *again == *id);
  }
  return 0;
}
