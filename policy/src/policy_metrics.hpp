// The policy component's metrics (snapshot reloads, the journal, database errors), declared here
// once. Internal to policy/.
#pragma once

#include <bastion/common/metrics.hpp>

namespace bastion::policy {

struct policy_metrics {
  prometheus::Counter& reloads_ok;
  prometheus::Counter& reloads_failed;
  prometheus::Counter& db_errors;
  prometheus::Gauge& journal_queue_rows;
  prometheus::Gauge& journal_spool_rows;
  prometheus::Counter& journal_dropped_rows;

  static const policy_metrics& get();
};

}  // namespace bastion::policy
