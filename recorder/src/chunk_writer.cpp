// Chunk writing with torn-tail cleanup on failure.
#include <zstd.h>

#include <algorithm>
#include <memory>

#include <bastion/recorder/chunk_writer.hpp>
#include <bastion/recorder/codec.hpp>

#include "recorder_metrics.hpp"

namespace bastion::recorder {
namespace {

// What writing a chunk needs besides its events: a compression context and a buffer for the
// chunk as written (header room, then the compressed body). One of each per writing thread, not
// per recording: a fresh context per chunk costs more than compressing 64 KiB of random bytes,
// and one per idle session would hold hundreds of KiB each.
struct chunk_scratch {
  std::unique_ptr<ZSTD_CCtx, std::size_t (*)(ZSTD_CCtx*)> cctx{ZSTD_createCCtx(), ZSTD_freeCCtx};
  std::string out;
};

chunk_scratch& scratch() {
  thread_local chunk_scratch s;
  return s;
}

}  // namespace

chunk_writer::chunk_writer(std::unique_ptr<file_sink> sink, const file_header& header,
                           int zstd_level)
    : sink_(std::move(sink)), level_(zstd_level) {
  const std::string bytes = encode_file_header(header);
  written_.head = hash_of(bytes);
  if (auto r = sink_->write(bytes); !r) {
    failed_ = true;
    error_ = r.error().text;
  } else if (auto s = sink_->sync(); !s) {
    failed_ = true;
    error_ = s.error().text;
  }
  written_.size = bytes.size();
  durable_ = written_;
}

void chunk_writer::add(const event& ev) {
  if (pending_events_ == 0) {
    first_offset_ = ev.offset;
  }
  last_offset_ = std::max(last_offset_, ev.offset);
  encode_event(ev, pending_);
  ++pending_events_;
}

// A write failed (a full disk, say): the chunks written before it are whole and the kernel has
// them, so they are kept if a sync gets them to disk; only the torn tail of this one goes.
void chunk_writer::keep_written() {
  if (sink_->truncate(written_.size) && sink_->sync()) {
    durable_ = written_;
  }
}

void chunk_writer::lose(std::uint64_t bytes) {
  lost_bytes_ += bytes;
  recorder_metrics::get().lost_bytes.Increment(static_cast<double>(bytes));
}

result<void> chunk_writer::fail(error_message why) {
  failed_ = true;
  error_ = why.text;
  // Chunks written but never synced are not known to be on disk: they go with the torn tail
  // (best effort: a torn tail would end the readable part anyway).
  lose(pending_.size() + (written_.raw - durable_.raw));
  pending_.clear();
  pending_events_ = 0;
  written_ = durable_;
  (void)sink_->truncate(durable_.size);
  return why;
}

result<void> chunk_writer::write_chunk() {
  if (failed_) {
    lose(pending_.size());
    pending_.clear();
    pending_events_ = 0;
    return make_error("the recording failed earlier: " + error_);
  }
  if (pending_events_ == 0) {
    return {};
  }
  if (pending_.size() > max_chunk_raw) {
    return fail(
        make_error("a chunk over " + std::to_string(max_chunk_raw) + " bytes; flush more often"));
  }
  auto& [cctx, out] = scratch();
  if (!cctx) {
    return fail(make_error("zstd: cannot allocate a compression context"));
  }
  const std::size_t bound = ZSTD_compressBound(pending_.size());
  if (out.size() < chunk_header_size + bound) {
    out.resize(chunk_header_size + bound);  // grows only: no clearing per chunk
  }
  const std::size_t n = ZSTD_compressCCtx(cctx.get(), out.data() + chunk_header_size, bound,
                                          pending_.data(), pending_.size(), level_);
  if (ZSTD_isError(n) != 0U) {
    return fail(make_error(std::string("zstd: ") + ZSTD_getErrorName(n)));
  }
  const std::string_view stored(out.data() + chunk_header_size, n);
  chunk_header h;
  h.seq = written_.chunks;
  h.first_offset = first_offset_;
  h.last_offset = last_offset_;
  h.event_count = pending_events_;
  h.raw_len = static_cast<std::uint32_t>(pending_.size());
  h.stored_len = static_cast<std::uint32_t>(stored.size());
  h.prev = written_.head;
  h.hash = chunk_hash(h, stored);
  const std::string head = encode_chunk_header(h);
  std::copy(head.begin(), head.end(), out.begin());
  // Header and body in one write.
  if (auto r = sink_->write({out.data(), chunk_header_size + n}); !r) {
    keep_written();
    return fail(r.error());
  }
  written_.head = h.hash;
  ++written_.chunks;
  written_.size += head.size() + stored.size();
  written_.raw += pending_.size();
  written_.stored += head.size() + stored.size();
  const auto& m = recorder_metrics::get();
  m.raw_bytes.Increment(static_cast<double>(pending_.size()));
  m.stored_bytes.Increment(static_cast<double>(head.size() + stored.size()));
  pending_.clear();
  pending_events_ = 0;
  return {};
}

result<void> chunk_writer::sync() {
  if (failed_) {
    return make_error("the recording failed earlier: " + error_);
  }
  if (!unsynced()) {
    return {};
  }
  if (auto r = sink_->sync(); !r) {
    return fail(r.error());
  }
  durable_ = written_;
  return {};
}

result<void> chunk_writer::flush() {
  if (auto r = write_chunk(); !r) {
    return r;
  }
  return sync();
}

}  // namespace bastion::recorder
