// The proxy's metrics.
#include "proxy_metrics.hpp"

namespace bastion::proxy {
namespace {

using metrics::counter_family;
using metrics::gauge_family;
using policy::channel_kind;

proxy_metrics build() {
  auto& connections =
      counter_family("bastion_connections_total",
                     "Client connections by how they ended: authenticated, denied (refused "
                     "authentication), dropped (closed before authenticating), refused (by the "
                     "bastion at accept)");
  auto& auth = counter_family("bastion_auth_attempts_total",
                              "Authentication attempts on client connections");
  auto& bytes = counter_family("bastion_bytes_total",
                               "Session bytes relayed, by direction (to_target, to_client)");
  auto& upstream = counter_family("bastion_upstream_connects_total",
                                  "Connections to targets, by result (ok, failed)");
  auto& preauth = counter_family("bastion_preauth_rejects_total",
                                 "Connections refused before authentication, by reason");
  auto& channels = gauge_family("bastion_channels_active", "Open channels by kind");
  std::array<prometheus::Gauge*, 7> by_kind{};
  for (std::size_t i = 0; i < by_kind.size(); ++i) {
    const auto kind = static_cast<channel_kind>(i);
    by_kind.at(i) = &channels.Add({{"kind", std::string(policy::to_string(kind))}});
  }
  return proxy_metrics{
      .connections_authenticated = connections.Add({{"result", "authenticated"}}),
      .connections_denied = connections.Add({{"result", "denied"}}),
      .connections_dropped = connections.Add({{"result", "dropped"}}),
      .connections_refused = connections.Add({{"result", "refused"}}),
      .auth_publickey_ok = auth.Add({{"method", "publickey"}, {"result", "ok"}}),
      .auth_publickey_denied = auth.Add({{"method", "publickey"}, {"result", "denied"}}),
      .auth_password_denied = auth.Add({{"method", "password"}, {"result", "denied"}}),
      .sessions_active =
          gauge_family("bastion_sessions_active", "Sessions with a target, live").Add({}),
      .channels_active = by_kind,
      .bytes_to_target = bytes.Add({{"direction", "to_target"}}),
      .bytes_to_client = bytes.Add({{"direction", "to_client"}}),
      .upstream_connect_seconds =
          metrics::histogram_family("bastion_upstream_connect_seconds",
                                    "Time from dialling a target to its host key checked "
                                    "(TCP connect and key exchange)")
              .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                               0.5, 1, 2.5, 5, 10}),
      .upstream_connects_ok = upstream.Add({{"result", "ok"}}),
      .upstream_connects_failed = upstream.Add({{"result", "failed"}}),
      .preauth_journal_behind = preauth.Add({{"reason", "journal_behind"}}),
      .preauth_policy_stale = preauth.Add({{"reason", "policy_stale"}}),
      .preauth_max_startups = preauth.Add({{"reason", "max_startups"}}),
      .preauth_per_source = preauth.Add({{"reason", "per_source"}}),
      .preauth_penalty = preauth.Add({{"reason", "penalty"}}),
      .preauth_accept_failed = preauth.Add({{"reason", "accept_failed"}}),
      .preauth_out_of_descriptors = preauth.Add({{"reason", "out_of_descriptors"}}),
  };
}

}  // namespace

const proxy_metrics& proxy_metrics::get() {
  static const proxy_metrics m = build();
  return m;
}

}  // namespace bastion::proxy
