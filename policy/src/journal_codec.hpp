// Journal entries as bytes, for the spool on disk: a tag byte, then each field in a fixed order
// (integers as 8 bytes little-endian, strings as a 4-byte length and their bytes). Internal to
// policy/. The spool's file header carries the format version; a change to a field list here
// needs a new version there.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include <bastion/policy/journal.hpp>

namespace bastion::policy {

// Bytes that are not one whole entry of this format.
class journal_codec_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Appends `entry`'s encoding to `out`.
void encode_entry(std::string& out, const journal_entry& entry);
// The entry that `bytes` encode, all of them. Throws journal_codec_error.
journal_entry decode_entry(std::string_view bytes);

}  // namespace bastion::policy
