// The recorder's metrics, declared here once. Internal to recorder/.
#pragma once

#include <bastion/common/metrics.hpp>

namespace bastion::recorder {

struct recorder_metrics {
  // bastion_recording_bytes_total{kind}: session bytes written to recordings (raw), and what
  // they took in the files, compressed and framed (stored).
  prometheus::Counter& raw_bytes;
  prometheus::Counter& stored_bytes;
  prometheus::Counter& lost_bytes;
  prometheus::Gauge& queue_bytes;

  static const recorder_metrics& get();
};

}  // namespace bastion::recorder
