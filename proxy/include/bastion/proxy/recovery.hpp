// Startup: sessions this node left open when it died are finalised. Their recordings keep every
// complete chunk, lose the torn tail, and the rows get ended_reason=crash.
#pragma once

#include <bastion/common/config.hpp>
#include <bastion/policy/store.hpp>

namespace bastion::proxy {

// Returns how many sessions were finalised. Throws store_error when the database fails.
int recover_crashed_sessions(const config& cfg, policy::store& store);

}  // namespace bastion::proxy
