// Results that carry a one-line message for the user instead of throwing.
#pragma once

#include <boost/system/result.hpp>
#include <string>

namespace bastion {

// The message says what is wrong and, where one exists, the fix. Built only through make_error:
// were it constructible from a plain string, result<std::string> could not tell value from error.
struct error_message {
  struct from_text {};
  error_message() = default;
  error_message(from_text /*tag*/, std::string t) : text(std::move(t)) {}
  std::string text;
};

template <class T>
using result = boost::system::result<T, error_message>;

inline error_message make_error(std::string text) {
  return {error_message::from_text{}, std::move(text)};
}

}  // namespace bastion
