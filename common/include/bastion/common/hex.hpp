// Lowercase hexadecimal, for digests and ids.
#pragma once

#include <string>
#include <string_view>

namespace bastion {

std::string to_hex(std::string_view bytes);

}  // namespace bastion
