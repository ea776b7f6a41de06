// The proxy's metrics, declared here once: connections, authentication, sessions, channels, the
// bytes relayed and the upstream dials. Internal to proxy/.
#pragma once

#include <array>

#include <bastion/common/metrics.hpp>
#include <bastion/policy/names.hpp>

namespace bastion::proxy {

struct proxy_metrics {
  // bastion_connections_total{result}: how each client connection ended.
  prometheus::Counter& connections_authenticated;
  prometheus::Counter& connections_denied;   // refused authentication, never got in
  prometheus::Counter& connections_dropped;  // closed before any authentication attempt
  prometheus::Counter& connections_refused;  // turned away at accept by the bastion
  // bastion_auth_attempts_total{method,result}, on client connections.
  prometheus::Counter& auth_publickey_ok;
  prometheus::Counter& auth_publickey_denied;
  prometheus::Counter& auth_password_denied;
  prometheus::Gauge& sessions_active;
  // By policy::channel_kind; kinds that no channel has yet (forwarding, agent, x11) stay at 0.
  std::array<prometheus::Gauge*, 7> channels_active;
  static_assert(static_cast<std::size_t>(policy::channel_kind::x11) + 1 == 7,
                "one gauge per channel kind");
  // bastion_bytes_total{direction}: what the targets and the clients took.
  prometheus::Counter& bytes_to_target;
  prometheus::Counter& bytes_to_client;
  prometheus::Histogram& upstream_connect_seconds;
  prometheus::Counter& upstream_connects_ok;
  prometheus::Counter& upstream_connects_failed;
  // bastion_preauth_rejects_total{reason}: turned away at accept because the journal is behind,
  // by limits.max_startups, limits.per_source_max_startups or limits.penalties; and accepts that
  // failed (out of descriptors), the connection left waiting in the backlog.
  prometheus::Counter& preauth_journal_behind;
  prometheus::Counter& preauth_policy_stale;  // the policy is older than policy.max_staleness
  prometheus::Counter& preauth_max_startups;
  prometheus::Counter& preauth_per_source;
  prometheus::Counter& preauth_penalty;
  prometheus::Counter& preauth_accept_failed;
  prometheus::Counter& preauth_out_of_descriptors;  // closed at accept: the reserve is reached

  prometheus::Gauge& channels(policy::channel_kind kind) const {
    return *channels_active.at(static_cast<std::size_t>(kind));
  }

  static const proxy_metrics& get();
};

}  // namespace bastion::proxy
