// The boundary between libssh's C callbacks and our C++: no exception may unwind through a libssh
// frame (that is undefined behaviour, in practice std::terminate for the whole node). Every
// trampoline runs its body through guarded(), which catches everything, tells the owner that its
// connection must end, and gives libssh a refusal. Internal to proxy/.
#pragma once

#include <exception>
#include <utility>

#include <bastion/common/log.hpp>

namespace bastion::proxy {

// What an owner of libssh callbacks does when one of them threw: note that its connection must
// end (it may not throw, nor call back into libssh; it is acted on after the callback).
class callback_owner {
 public:
  virtual void on_callback_failure() noexcept = 0;

 protected:
  virtual ~callback_owner() = default;
};

// Runs `body()`; if it throws, logs what (once, without untrusted text), tells `owner`, and returns
// `refusal` to libssh instead.
template <class R, class Body>
R guarded(callback_owner& owner, R refusal, Body&& body) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (const std::exception& e) {
    try {
      spdlog::error("a libssh callback failed ({}); ending its connection", log_value(e.what()));
    } catch (...) {  // NOLINT(bugprone-empty-catch): a log that fails changes nothing here
    }
  } catch (...) {
    try {
      spdlog::error("a libssh callback failed; ending its connection");
    } catch (...) {  // NOLINT(bugprone-empty-catch)
    }
  }
  owner.on_callback_failure();
  return refusal;
}

// The same for callbacks that return nothing.
template <class Body>
void guarded(callback_owner& owner, Body&& body) noexcept {
  guarded(owner, 0, [&] {
    std::forward<Body>(body)();
    return 0;
  });
}

}  // namespace bastion::proxy
