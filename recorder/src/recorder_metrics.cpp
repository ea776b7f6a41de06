// The recorder's metrics.
#include "recorder_metrics.hpp"

namespace bastion::recorder {

const recorder_metrics& recorder_metrics::get() {
  static const recorder_metrics m = [] {
    auto& bytes = metrics::counter_family(
        "bastion_recording_bytes_total",
        "Session bytes written to recordings: raw, and stored (compressed, with framing)");
    return recorder_metrics{
        .raw_bytes = bytes.Add({{"kind", "raw"}}),
        .stored_bytes = bytes.Add({{"kind", "stored"}}),
        .lost_bytes = metrics::counter_family("bastion_recording_lost_bytes_total",
                                              "Session bytes relayed that no recording holds "
                                              "(fail_open, or the tail of a failed recording)")
                          .Add({}),
        .queue_bytes = metrics::gauge_family("bastion_recording_queue_bytes",
                                             "Bytes waiting for the recording writer")
                           .Add({}),
    };
  }();
  return m;
}

}  // namespace bastion::recorder
