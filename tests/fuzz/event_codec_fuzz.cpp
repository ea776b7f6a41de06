// Event decoding, the innermost parser of a recording: chunk bodies come from files on disk.
// Besides not crashing, what decodes must survive a round trip: encoding the events and decoding
// them again gives the same events, and that encoding is a fixed point.
#include <bastion/recorder/codec.hpp>

#include "fuzz_check.hpp"

namespace {

std::string encode_all(const std::vector<bastion::recorder::event>& events) {
  std::string out;
  for (const auto& ev : events) {
    bastion::recorder::encode_event(ev, out);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using bastion::recorder::decode_events;
  const auto events = decode_events(bastion::fuzz::as_text(data, size));
  if (!events) {
    return 0;
  }
  for (const auto& ev : *events) {
    FUZZ_REQUIRE(ev.data.size() <= bastion::recorder::max_event_data);
    FUZZ_REQUIRE(ev.data.size() <= size);  // never more than the input justifies
  }
  const std::string encoded = encode_all(*events);
  const auto again = decode_events(encoded);
  FUZZ_REQUIRE(again && *again == *events);
  FUZZ_REQUIRE(encode_all(*again) == encoded);
  return 0;
}
