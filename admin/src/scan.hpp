// Fetching a target's SSH host key, for `target add --scan`.
#pragma once

#include <string>

#include <bastion/common/duration.hpp>
#include <bastion/common/result.hpp>
#include <bastion/policy/store.hpp>

namespace bastion::admin {

// Connects to host:port, completes the key exchange and returns the key the server proved it
// holds. Never reads ~/.ssh/config or known_hosts.
result<policy::host_key> scan_host_key(const std::string& host, int port, duration timeout);

}  // namespace bastion::admin
