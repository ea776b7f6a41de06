// Chunk writing with torn-tail cleanup on failure.
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string_view>

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
  std::string sample;  // a trial compression's output (worth_compressing)
};

chunk_scratch& scratch() {
  thread_local chunk_scratch s;
  return s;
}

// A chunk body that zstd would not shrink: a zstd frame of raw blocks (RFC 8878: the magic
// number, a single-segment frame header with a 4-byte content size, then blocks of at most
// 128 KiB whose 3-byte headers say "raw"). Any zstd decoder reads it as it reads a compressed
// one, so the recording format does not change; writing it costs a copy. Returns its size.
// ZSTD_compressBound(n) exceeds the frame's 9 + n + 3 per 128 KiB bytes for every n: by n/256.
std::size_t raw_frame(std::string_view in, char* out, std::size_t capacity) {
  constexpr std::size_t max_block = std::size_t{128} * 1024;
  const std::size_t blocks = std::max<std::size_t>(1, (in.size() + max_block - 1) / max_block);
  if (9 + 3 * blocks + in.size() > capacity || in.size() > max_chunk_raw) {
    return 0;
  }
  char* p = out;
  const auto put_le = [&p](std::uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) {
      *p++ = static_cast<char>((v >> (8 * i)) & 0xffU);
    }
  };
  put_le(0xFD2FB528U, 4);  // magic number
  put_le(0xA0U, 1);        // content size in 4 bytes, single segment, no checksum, no dictionary
  put_le(static_cast<std::uint32_t>(in.size()), 4);
  std::size_t at = 0;
  do {
    const std::size_t n = std::min(max_block, in.size() - at);
    const bool last = at + n == in.size();
    put_le(static_cast<std::uint32_t>((n << 3) | (last ? 1U : 0U)), 3);  // type 0: raw
    std::copy_n(in.data() + at, n, p);
    p += n;
    at += n;
  } while (at < in.size());
  return static_cast<std::size_t>(p - out);
}

// Whether zstd made `raw_size` bytes at least 3% smaller, in `stored_size`.
bool shrank(std::size_t stored_size, std::size_t raw_size) {
  return stored_size * 100 < raw_size * 97;
}

// Whether zstd is worth trying on `raw`. Bytes that are already compressed or encrypted (an scp
// of a tarball, a backup stream) do not shrink, and trying costs a zstd pass per chunk (about
// 2 GB/s, beside SHA-256's 1.4). Once a chunk did not shrink, the next ones are tried on their
// first 4 KiB only, and compressed whole when that sample shrinks by 3%. A chunk whose start does
// not shrink and whose rest would is then stored raw: one chunk (64 KiB) at most, since the next
// chunk's sample sees the rest.
bool worth_compressing(std::string_view raw, bool last_did_not_shrink, ZSTD_CCtx* cctx, int level,
                       std::string& sample_out) {
  constexpr std::size_t sample = 4096;
  if (!last_did_not_shrink || raw.size() <= sample) {
    return true;
  }
  sample_out.resize(ZSTD_compressBound(sample));
  const std::size_t n =
      ZSTD_compressCCtx(cctx, sample_out.data(), sample_out.size(), raw.data(), sample, level);
  return ZSTD_isError(n) == 0U && shrank(n, sample);
}

// A chunk's body into s.out after the room for its header: zstd's frame, or a raw one when zstd
// would not shrink it (worth_compressing). `incompressible` carries that judgement to the next
// chunk. Returns the body's size.
result<std::size_t> encode_body(std::string_view raw, int level, bool& incompressible,
                                chunk_scratch& s) {
  if (!s.cctx) {
    return make_error("zstd: cannot allocate a compression context");
  }
  const std::size_t bound = ZSTD_compressBound(raw.size());
  if (s.out.size() < chunk_header_size + bound) {
    s.out.resize(chunk_header_size + bound);  // grows only: no clearing per chunk
  }
  char* body = s.out.data() + chunk_header_size;
  if (!worth_compressing(raw, incompressible, s.cctx.get(), level, s.sample)) {
    const std::size_t n = raw_frame(raw, body, bound);
    if (n == 0) {
      return make_error("a chunk of " + std::to_string(raw.size()) + " bytes has no raw frame");
    }
    return n;
  }
  const std::size_t n = ZSTD_compressCCtx(s.cctx.get(), body, bound, raw.data(), raw.size(), level);
  if (ZSTD_isError(n) != 0U) {
    return make_error(std::string("zstd: ") + ZSTD_getErrorName(n));
  }
  incompressible = !shrank(n, raw.size());
  return n;
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
  chunk_scratch& s = scratch();
  const auto n = encode_body(pending_, level_, incompressible_, s);
  if (!n) {
    return fail(n.error());
  }
  std::string& out = s.out;
  const std::string_view stored(out.data() + chunk_header_size, *n);
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
  if (auto r = sink_->write({out.data(), chunk_header_size + *n}); !r) {
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
