// What every client connection of a server shares; it outlives them all. Internal to proxy/.
#pragma once

#include <libssh/server.h>

#include <boost/asio/thread_pool.hpp>
#include <mutex>

#include <bastion/common/config.hpp>
#include <bastion/policy/cache.hpp>
#include <bastion/policy/journal.hpp>
#include <bastion/recorder/service.hpp>

namespace bastion::proxy {

struct connection_context {
  const config& cfg;
  ssh_bind bind;        // outer host keys; never listened on, accept_fd only
  ssh_bind inner_bind;  // the inner host key that -J clients verify under the target names
  // ssh_bind_accept_fd writes to its bind (the first call parses the global config, a bind without
  // keys loads them): it is not thread-safe, so one lock serialises accepts on both binds.
  std::mutex& bind_mutex;
  policy::policy_cache& policy;
  policy::journal& journal;  // audit trail and session rows
  recorder::recording_service& recorder;
  ssh_key upstream_key;                     // the bastion-held key targets authorise
  boost::asio::thread_pool& blocking_pool;  // for libssh calls that block (agent authentication)
};

}  // namespace bastion::proxy
