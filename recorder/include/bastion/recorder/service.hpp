// The recorder's writer thread. Sessions hand it events through a bounded queue and never wait for
// I/O; the thread batches each session's events into chunks (cut by size or age), compresses,
// writes and fdatasyncs them. When the queue is over its bound or the disk fails, the failure mode
// decides: fail_closed tells the session to end, fail_open counts the lost bytes and goes on.
//
// Under fail_closed a session also may not run ahead of its file: room() bounds the bytes it has
// recorded that are not durable yet (written and fdatasynced: max_unpersisted_bytes), so that a
// disk that fills or fails, at write(2) or at fdatasync, lets at most that much reach a client
// unrecorded. A session near its bound is synced at once rather than at the group commit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <bastion/common/config.hpp>
#include <bastion/recorder/chunk_writer.hpp>
#include <bastion/recorder/live.hpp>
#include <bastion/recorder/search_text.hpp>

namespace bastion::recorder {

struct recorder_options {
  std::filesystem::path dir;
  bastion::failure_mode failure_mode = failure_mode::fail_closed;
  std::size_t queue_limit_bytes = std::size_t{64} * 1024 * 1024;  // all sessions together
  std::size_t chunk_bytes = std::size_t{64} * 1024;               // cut a chunk at this raw size
  std::chrono::milliseconds chunk_interval{1000};  // or when its oldest event is this old
  // Group commit: chunks written within this interval share one fdatasync per session. A crash
  // loses at most this much of what was written; a session's end is always synced at once.
  std::chrono::milliseconds sync_interval{100};
  // The writer thread is woken once this much waits (or by its own tick, for slow sessions):
  // waking it per event would cost a context switch per packet.
  std::size_t wake_bytes = std::size_t{256} * 1024;
  // fail_closed: what one session may have recorded and not yet made durable in its file. Some
  // chunks, so that the relay and the writer overlap instead of taking turns, and a busy session
  // is synced every half of it: at 256 KiB those fdatasyncs cost about 18% more bastion CPU per
  // GiB (bench/throughput, 2 cores, virtio disk), at 1 MiB nothing measurable.
  std::size_t max_unpersisted_bytes = std::size_t{1024} * 1024;
  int zstd_level = 3;
  // Session search: when set, the writer thread extracts each session's search text from the
  // events it records and hands its documents here once the chunk that holds their events is
  // written (at most max_age after their first line, and all of them at the session's end). It
  // runs on the writer thread and must not block.
  std::function<void(const session_id&, std::vector<search_document>)> on_search;
  search_extractor::limits search_limits;
};

struct recording_summary {
  session_id id{};
  std::string file_name;
  sha256 head{};
  std::uint32_t chunks = 0;
  std::uint64_t raw_bytes = 0;
  std::uint64_t stored_bytes = 0;
  std::uint64_t lost_bytes = 0;
  std::string error;  // empty when everything was persisted
};

// Opens the file for a new recording; tests replace it to inject faults.
using sink_factory = std::function<result<std::unique_ptr<file_sink>>(
    const std::filesystem::path& dir, const std::string& name)>;

class recording_service;

// One session's handle. Thread-safe; cheap to call from an io thread.
class session_recording : public std::enable_shared_from_this<session_recording> {
 public:
  // Queues an event. False means the recording cannot be kept (fail_closed): end the session.
  bool record(event ev);
  // How many more bytes may be recorded now; callers hold data back while it is 0 (backpressure).
  // 0 until the writer has created the file, so that no byte passes before its recording exists;
  // while the writer is behind, so that the queue bound (which ends sessions under fail_closed) is
  // reached only by a stuck disk; under fail_closed, once max_unpersisted_bytes are not yet
  // written; and once failed(). After a 0, the on_room() callback runs when room may have opened.
  std::size_t room();
  // `wake` runs on the writer thread after room() returned 0, once there may be room again, and
  // when the recording fails. It must be quick and must not block (post to the caller's strand).
  // finish() drops it; it never runs after finish() returned.
  void on_room(std::function<void()> wake);
  // Queues the end; `done` runs on the writer thread once the last chunk is durable (or failed).
  void finish(std::function<void(const recording_summary&)> done);
  // True once the recording failed under fail_closed.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // Why it failed ("write: No space left on device"), once it has; for the client and the audit.
  std::string failure() const;
  const session_id& id() const { return id_; }

 private:
  friend class recording_service;
  session_recording(recording_service& owner, const file_header& header)
      : owner_(owner), header_(header), id_(header.id) {}
  std::size_t free_room() const;
  // Writer thread: runs the on_room callback if a caller waits for room and has some now, or
  // `always` (the recording failed).
  void release(bool always = false);

  recording_service& owner_;
  file_header header_;
  session_id id_;
  std::atomic<bool> failed_{false};
  // The writer has created the file (directory entry synced), or given up on it under fail_open.
  std::atomic<bool> settled_{false};
  std::atomic<std::uint64_t> dropped_bytes_{0};  // lost before reaching the writer (fail_open)
  // Bytes recorded, and the part of them durable in the file (or given up under fail_open). A
  // caller that saw no room sets starved_ before it looks again, and the writer reads starved_
  // after it made room (persisted_bytes_, settled_, the queue; all sequentially consistent):
  // either the caller sees the room, or the writer sees the caller waiting and wakes it.
  std::atomic<std::uint64_t> recorded_bytes_{0};
  std::atomic<std::uint64_t> persisted_bytes_{0};
  std::atomic<bool> starved_{false};
  live_feed live_;  // admins watching the session as it is recorded
  // Guards wake_ (finish() clears it while the writer may call it) and reason_.
  mutable std::mutex mutex_;
  std::function<void()> wake_;
  std::string reason_;
  // Owned by the writer thread only:
  std::uint64_t accepted_bytes_ = 0;  // bytes of the events handed to writer_ (or dropped)
  std::uint64_t chunked_bytes_ = 0;   // the part of them in chunks written to the file
  std::unique_ptr<chunk_writer> writer_;
  std::unique_ptr<search_extractor> search_;               // when options().on_search is set
  std::chrono::microseconds last_offset_{0};               // of the last event handed to writer_
  std::chrono::steady_clock::time_point last_event_at_{};  // when it was
  // Documents whose events are written but not yet durable: handed on after the next sync.
  std::vector<search_document> search_written_;
  std::chrono::steady_clock::time_point oldest_pending_{};
  std::string error_;
};

class recording_service {
 public:
  explicit recording_service(recorder_options options, sink_factory factory = {});
  // Writes out everything queued, then stops the thread.
  ~recording_service();
  recording_service(const recording_service&) = delete;
  recording_service& operator=(const recording_service&) = delete;

  std::shared_ptr<session_recording> start(const file_header& header);
  std::size_t queued_bytes() const { return queued_bytes_.load(); }
  // Over the high watermark: half the queue bound.
  bool congested() const { return queued_bytes() > options_.queue_limit_bytes / 2; }
  const recorder_options& options() const { return options_; }

  // Adds `w` to the watchers of session `id` if this service records it now, and returns the
  // state it starts from; nullopt if the session is not live here.
  std::optional<live_state> watch(const session_id& id, const std::shared_ptr<live_watcher>& w);
  void unwatch(const session_id& id, const live_watcher* w);

 private:
  friend class session_recording;
  struct item {
    enum class kind { open, event, finish };
    kind what = kind::event;
    std::shared_ptr<session_recording> session;
    std::optional<event> ev;  // for kind::event
    std::function<void(const recording_summary&)> done;
    std::size_t bytes = 0;  // charged to the queue bound
  };

  // `urgent`: a session nears its max_unpersisted_bytes; wake the writer now.
  bool enqueue(item it, bool urgent = false);
  // A session waits for room: wakes the writer, or keeps it from sleeping after its batch.
  void hurry();
  void run();
  void handle(item& it);
  bool open(session_recording& s);
  void flush_due(bool all);
  void flush_session(session_recording& s);
  // Takes the search documents that are due (or, at the end, all of them) and hands them to
  // options_.on_search once the events they come from are durable in the file.
  void publish_search(session_recording& s, bool all);
  void hand_on_search(session_recording& s);
  // After a batch: makes durable now what sessions near their bound (or waiting) have pending,
  // then wakes every session that waits and has room again.
  void serve_waiting();
  // Group commit: one fdatasync per session per batch covers all the chunks the batch wrote.
  void sync_session(session_recording& s);
  void sync_written();
  void fail_session(session_recording& s, const std::string& why);

  recorder_options options_;
  sink_factory factory_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<item> queue_;
  std::atomic<std::size_t> queued_bytes_{0};  // written under mutex_, read without it
  std::size_t unannounced_bytes_ = 0;         // queued since the writer was last woken
  bool writer_waiting_ = false;
  bool hurried_ = false;  // a session waits for room: no sleep after this batch
  bool stopping_ = false;
  std::vector<std::shared_ptr<session_recording>> active_;  // writer thread only
  // The recordings between start() and finish(), for watchers.
  std::mutex live_mutex_;
  std::map<session_id, std::weak_ptr<session_recording>> live_;
  std::thread thread_;
};

}  // namespace bastion::recorder
