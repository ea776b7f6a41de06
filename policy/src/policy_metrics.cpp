// The policy component's metrics.
#include "policy_metrics.hpp"

namespace bastion::policy {

const policy_metrics& policy_metrics::get() {
  static const policy_metrics m = [] {
    auto& reloads = metrics::counter_family("bastion_policy_reloads_total",
                                            "Policy snapshot reloads from PostgreSQL, by result");
    return policy_metrics{
        .reloads_ok = reloads.Add({{"result", "ok"}}),
        .reloads_failed = reloads.Add({{"result", "failed"}}),
        .db_errors = metrics::counter_family("bastion_db_errors_total",
                                             "PostgreSQL calls that failed (policy reloads and "
                                             "journal writes)")
                         .Add({}),
        .journal_queue_rows = metrics::gauge_family("bastion_journal_queue_rows",
                                                    "Audit and session rows waiting for "
                                                    "PostgreSQL")
                                  .Add({}),
        .journal_spool_rows = metrics::gauge_family("bastion_journal_spool_rows",
                                                    "Of the rows waiting for PostgreSQL, those "
                                                    "kept on disk in the journal spool")
                                  .Add({}),
        .journal_dropped_rows =
            metrics::counter_family("bastion_journal_dropped_rows_total",
                                    "Audit and session rows lost: refused by PostgreSQL, over "
                                    "the journal's hard cap, or neither written nor spooled at "
                                    "shutdown")
                .Add({}),
    };
  }();
  return m;
}

}  // namespace bastion::policy
