// Results that carry a one-line message for the user instead of throwing.
#pragma once

#include <boost/system/result.hpp>
#include <string>

namespace bastion {

// The message says what is wrong and, where one exists, the fix.
struct error_message {
  std::string text;
};

template <class T>
using result = boost::system::result<T, error_message>;

inline error_message make_error(std::string text) {
  return error_message{std::move(text)};
}

}  // namespace bastion
