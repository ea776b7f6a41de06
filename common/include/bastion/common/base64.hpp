// Strict base64 (RFC 4648, standard alphabet, padding required), for key blobs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bastion {

// nullopt on any character outside the alphabet, misplaced padding, or non-zero trailing bits.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace bastion
