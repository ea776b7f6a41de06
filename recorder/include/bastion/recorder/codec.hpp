// The byte encoding of events inside a chunk body (see recorder/FORMAT.md).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <bastion/common/result.hpp>
#include <bastion/recorder/event.hpp>

namespace bastion::recorder {

// Appends the encoding of `ev` to `out`.
void encode_event(const event& ev, std::string& out);

// Decodes every event of a chunk body. Fails on truncation, unknown types or oversized fields;
// never allocates more than the input justifies.
result<std::vector<event>> decode_events(std::string_view body);

}  // namespace bastion::recorder
