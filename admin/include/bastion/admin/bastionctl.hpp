// bastionctl, the administration CLI, as a function: the executable only calls this.
#pragma once

#include <iosfwd>

namespace bastion::admin {

// Exit codes: 0 success, 1 failure (message on `err` naming the fix), 2 bad usage.
int run_bastionctl(int argc, const char* const* argv, std::istream& in, std::ostream& out,
                   std::ostream& err);

}  // namespace bastion::admin
