// The writer thread and its bounded queue.
#include <algorithm>
#include <limits>

#include <bastion/recorder/service.hpp>

#include "recorder_metrics.hpp"

namespace bastion::recorder {
namespace {

// Per-event overhead charged to the queue bound besides the data itself.
constexpr std::size_t event_overhead = 64;

sink_factory posix_factory() {
  return [](const std::filesystem::path& dir,
            const std::string& name) -> result<std::unique_ptr<file_sink>> {
    auto sink = posix_file_sink::create(dir, name);
    if (!sink) {
      return sink.error();
    }
    return std::unique_ptr<file_sink>(std::move(*sink));
  };
}

}  // namespace

bool session_recording::record(event ev) {
  if (failed()) {
    return false;
  }
  if (ev.type != event_type::data || live_.watched()) {
    live_.publish(ev);
  }
  const std::size_t bytes = ev.data.size() + event_overhead;
  const std::size_t data = ev.data.size();
  const std::uint64_t backlog = recorded_bytes_.fetch_add(data) + data - persisted_bytes_.load();
  // Only fail_closed waits for its bytes to be durable; fail_open keeps the group commit.
  const bool urgent = owner_.options().failure_mode == failure_mode::fail_closed &&
                      backlog >= owner_.options().max_unpersisted_bytes / 2;
  if (owner_.enqueue(
          {recording_service::item::kind::event, shared_from_this(), std::move(ev), {}, bytes},
          urgent)) {
    return true;
  }
  // Over the bound: the writer cannot keep up.
  if (owner_.options().failure_mode == failure_mode::fail_open) {
    dropped_bytes_.fetch_add(data, std::memory_order_relaxed);
    recorder_metrics::get().lost_bytes.Increment(static_cast<double>(data));
    return true;
  }
  {
    const std::lock_guard lock(mutex_);
    reason_ = "recorder: the writer's queue is full: the disk is slower than the sessions";
  }
  failed_.store(true, std::memory_order_release);
  return false;
}

std::size_t session_recording::free_room() const {
  if (failed() || !settled_.load() || owner_.congested()) {
    return 0;
  }
  if (owner_.options().failure_mode == failure_mode::fail_open) {
    return std::numeric_limits<std::size_t>::max();
  }
  const std::uint64_t backlog = recorded_bytes_.load() - persisted_bytes_.load();
  const std::uint64_t limit = owner_.options().max_unpersisted_bytes;
  return backlog >= limit ? 0 : static_cast<std::size_t>(limit - backlog);
}

std::size_t session_recording::room() {
  if (const std::size_t free = free_room(); free > 0) {
    return free;
  }
  starved_.store(true);
  // A second look after starved_ is set: the writer may have made room in between, and then it
  // may not have seen starved_ (the wake it then sends later is harmless).
  const std::size_t free = free_room();
  if (free == 0 && !failed()) {
    owner_.hurry();
  }
  return free;
}

void session_recording::on_room(std::function<void()> wake) {
  const std::lock_guard lock(mutex_);
  wake_ = std::move(wake);
}

std::string session_recording::failure() const {
  const std::lock_guard lock(mutex_);
  return reason_;
}

// Only a session that has room now is woken: one still held (a stuck disk, a full queue) stays
// starved until a later batch makes room, rather than waking to find none and asking again.
void session_recording::release(bool always) {
  if (always) {
    starved_.store(false);
  } else if (free_room() == 0 || !starved_.exchange(false)) {
    return;
  }
  const std::lock_guard lock(mutex_);
  if (wake_) {
    wake_();
  }
}

void session_recording::finish(std::function<void(const recording_summary&)> done) {
  on_room({});
  live_.end();
  {
    const std::lock_guard lock(owner_.live_mutex_);
    owner_.live_.erase(id_);
  }
  owner_.enqueue({recording_service::item::kind::finish, shared_from_this(), std::nullopt,
                  std::move(done), 0});
}

recording_service::recording_service(recorder_options options, sink_factory factory)
    : options_(std::move(options)), factory_(factory ? std::move(factory) : posix_factory()) {
  recorder_metrics::get();  // every series is scraped from the start, at zero
  thread_ = std::thread([this] { run(); });
}

recording_service::~recording_service() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
    writer_waiting_ = false;
  }
  wake_.notify_one();
  thread_.join();
}

std::shared_ptr<session_recording> recording_service::start(const file_header& header) {
  // The handle's constructor is private to this service; make_shared cannot reach it.
  std::shared_ptr<session_recording> s(new session_recording(*this, header));
  {
    const std::lock_guard lock(live_mutex_);
    live_[header.id] = s;
  }
  enqueue({item::kind::open, s, std::nullopt, {}, 0});  // wakes the writer at once
  return s;
}

std::optional<live_state> recording_service::watch(const session_id& id,
                                                   const std::shared_ptr<live_watcher>& w) {
  std::shared_ptr<session_recording> s;
  {
    const std::lock_guard lock(live_mutex_);
    const auto it = live_.find(id);
    s = it == live_.end() ? nullptr : it->second.lock();
  }
  if (!s) {
    return std::nullopt;
  }
  return s->live_.add(w);
}

void recording_service::unwatch(const session_id& id, const live_watcher* w) {
  std::shared_ptr<session_recording> s;
  {
    const std::lock_guard lock(live_mutex_);
    const auto it = live_.find(id);
    s = it == live_.end() ? nullptr : it->second.lock();
  }
  if (s) {
    s->live_.remove(w);
  }
}

bool recording_service::enqueue(item it, bool urgent) {
  const std::size_t bytes = it.bytes;
  bool wake = false;
  {
    const std::lock_guard lock(mutex_);
    // An open or a finish (bytes == 0) is always accepted, and wakes the writer: the session
    // waits for its file, and every recording gets closed.
    if (bytes > 0 && queued_bytes() + bytes > options_.queue_limit_bytes) {
      return false;
    }
    queued_bytes_ += bytes;
    recorder_metrics::get().queue_bytes.Set(static_cast<double>(queued_bytes_));
    unannounced_bytes_ += bytes;
    queue_.push_back(std::move(it));
    wake = writer_waiting_ && (bytes == 0 || urgent || unannounced_bytes_ >= options_.wake_bytes);
    if (wake) {
      writer_waiting_ = false;
      unannounced_bytes_ = 0;
    }
  }
  if (wake) {
    wake_.notify_one();
  }
  return true;
}

void recording_service::hurry() {
  {
    const std::lock_guard lock(mutex_);
    if (!writer_waiting_) {
      hurried_ = true;  // awake: it serves waiting sessions after this batch, and looks again
      return;
    }
    writer_waiting_ = false;
    unannounced_bytes_ = 0;
  }
  wake_.notify_one();
}

void recording_service::run() {
  const auto tick = std::clamp(std::min(options_.chunk_interval, options_.sync_interval) / 2,
                               std::chrono::milliseconds(5), std::chrono::milliseconds(250));
  auto last_sync = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  while (true) {
    if (queue_.empty() && !stopping_ && !hurried_) {
      writer_waiting_ = true;
      wake_.wait_for(lock, tick, [this] { return stopping_ || !writer_waiting_; });
      writer_waiting_ = false;
    }
    hurried_ = false;
    unannounced_bytes_ = 0;
    std::deque<item> batch;
    batch.swap(queue_);
    const bool stop = stopping_;
    lock.unlock();
    std::size_t batch_bytes = 0;
    for (auto& it : batch) {
      batch_bytes += it.bytes;
      handle(it);
    }
    flush_due(stop);
    const auto now = std::chrono::steady_clock::now();
    if (stop || now - last_sync >= options_.sync_interval) {
      sync_written();
      last_sync = now;
    }
    lock.lock();
    // Charged until written, so the bound covers what the thread holds too.
    queued_bytes_ -= batch_bytes;
    recorder_metrics::get().queue_bytes.Set(static_cast<double>(queued_bytes_));
    const bool done = stop && queue_.empty();
    lock.unlock();
    serve_waiting();  // after the queue bound moved: sessions held by it may go on
    if (done) {
      return;
    }
    lock.lock();
  }
}

void recording_service::serve_waiting() {
  const bool bounded = options_.failure_mode == failure_mode::fail_closed;
  for (const auto& s : active_) {
    const std::uint64_t backlog = s->recorded_bytes_.load() - s->persisted_bytes_.load();
    if (bounded && (s->starved_.load() || backlog >= options_.max_unpersisted_bytes / 2)) {
      flush_session(*s);  // a partial chunk too: cut it now rather than at its age
      sync_session(*s);
    }
    s->release();
  }
}

bool recording_service::open(session_recording& s) {
  if (s.writer_ || !s.error_.empty()) {
    return s.writer_ != nullptr;
  }
  // Served after every batch from now on, even if the file cannot be created: under fail_open
  // such a session goes on, and is held by the queue bound like any other.
  active_.push_back(s.shared_from_this());
  auto sink = factory_(options_.dir, recording_file_name(s.id_));
  if (!sink) {
    fail_session(s, sink.error().text);
    return false;
  }
  s.writer_ = std::make_unique<chunk_writer>(std::move(*sink), s.header_, options_.zstd_level);
  if (options_.on_search) {
    s.search_ = std::make_unique<search_extractor>(options_.search_limits);
  }
  if (!s.writer_->ok()) {
    fail_session(s, "cannot write the recording header");
    return false;
  }
  return true;
}

void recording_service::handle(item& it) {
  session_recording& s = *it.session;
  const bool writable = open(s) && s.writer_->ok();
  if (!s.settled_.load(std::memory_order_relaxed)) {
    // Open, or failed: under fail_closed failed() ends the session; under fail_open it goes on
    // and its data is counted as lost.
    s.settled_.store(true);
    s.release();
  }
  if (it.what == item::kind::open) {
    return;
  }
  if (it.ev) {
    s.accepted_bytes_ += it.ev->data.size();
    if (!writable) {
      s.dropped_bytes_.fetch_add(it.ev->data.size(), std::memory_order_relaxed);
      recorder_metrics::get().lost_bytes.Increment(static_cast<double>(it.ev->data.size()));
      s.persisted_bytes_.store(s.accepted_bytes_);  // given up (fail_open), not waited for
      return;
    }
    if (s.writer_->pending_events() == 0) {
      s.oldest_pending_ = std::chrono::steady_clock::now();
    }
    s.writer_->add(*it.ev);
    s.last_offset_ = it.ev->offset;
    s.last_event_at_ = std::chrono::steady_clock::now();
    if (s.search_) {
      s.search_->add(*it.ev);
    }
    if (s.writer_->pending_bytes() >= options_.chunk_bytes) {
      flush_session(s);
    }
    return;
  }
  flush_session(s);
  sync_session(s);
  publish_search(s, true);
  recording_summary summary;
  summary.id = s.id_;
  summary.file_name = recording_file_name(s.id_);
  summary.lost_bytes = s.dropped_bytes_.load(std::memory_order_relaxed);
  summary.error = s.error_;
  if (s.writer_) {
    summary.head = s.writer_->head();
    summary.chunks = s.writer_->chunk_count();
    summary.raw_bytes = s.writer_->raw_bytes();
    summary.stored_bytes = s.writer_->stored_bytes();
    summary.lost_bytes += s.writer_->lost_bytes();
  }
  std::erase_if(active_, [&](const auto& a) { return a.get() == &s; });
  s.writer_.reset();  // closes the file
  if (it.done) {
    it.done(summary);
  }
}

void recording_service::flush_session(session_recording& s) {
  if (!s.writer_ || s.writer_->pending_events() == 0) {
    return;
  }
  if (auto r = s.writer_->write_chunk(); !r) {
    fail_session(s, r.error().text);
    return;
  }
  s.chunked_bytes_ = s.accepted_bytes_;
  publish_search(s, false);
}

void recording_service::publish_search(session_recording& s, bool all) {
  if (!s.search_ || !s.writer_ || !s.writer_->ok()) {
    return;
  }
  // The session's time now: its last event's offset, and how long it has been quiet since.
  const auto quiet = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - s.last_event_at_);
  for (auto& doc : s.search_->take(s.last_offset_ + quiet, all)) {
    s.search_written_.push_back(std::move(doc));
  }
  if (!s.writer_->unsynced()) {
    hand_on_search(s);
  }
}

void recording_service::hand_on_search(session_recording& s) {
  if (!s.search_written_.empty()) {
    options_.on_search(s.id_, std::exchange(s.search_written_, {}));
  }
}

void recording_service::sync_session(session_recording& s) {
  if (s.writer_ && s.writer_->unsynced()) {
    if (auto r = s.writer_->sync(); !r) {
      fail_session(s, r.error().text);
      return;
    }
  }
  if (s.writer_ && s.writer_->ok() && s.persisted_bytes_.load() != s.chunked_bytes_) {
    s.persisted_bytes_.store(s.chunked_bytes_);
    s.release();
  }
  if (s.writer_ && s.writer_->ok() && !s.writer_->unsynced()) {
    hand_on_search(s);
  }
}

void recording_service::sync_written() {
  for (const auto& s : active_) {
    sync_session(*s);
  }
}

void recording_service::flush_due(bool all) {
  const auto now = std::chrono::steady_clock::now();
  for (const auto& s : active_) {
    if (s->writer_ && s->writer_->pending_events() > 0 &&
        (all || now - s->oldest_pending_ >= options_.chunk_interval)) {
      flush_session(*s);
    } else if (s->writer_ && s->writer_->pending_events() == 0) {
      publish_search(*s, false);  // a quiet session's last lines age out too
    }
  }
}

void recording_service::fail_session(session_recording& s, const std::string& why) {
  if (s.error_.empty()) {
    s.error_ = why;
    const std::lock_guard lock(s.mutex_);
    s.reason_ = why;
  }
  if (options_.failure_mode == failure_mode::fail_closed) {
    s.failed_.store(true, std::memory_order_release);
    s.release(true);  // the session must stop now, and tell its client why
  } else {
    s.persisted_bytes_.store(s.accepted_bytes_);  // lost, counted, not waited for
    s.release();
  }
}

}  // namespace bastion::recorder
