// The recording format: round trips, and every kind of tampering detected and named.
#include <gtest/gtest.h>

#include <fstream>

#include <bastion/recorder/codec.hpp>
#include <bastion/recorder/reader.hpp>

#include "process.hpp"
#include "recording_test_support.hpp"

namespace bastion::recorder {
namespace {

using bastion::test::read_file;
using bastion::test::temp_dir;

struct written {
  std::filesystem::path path;
  std::vector<event> events;
  sha256 head{};
  std::uint32_t chunks = 0;
};

// Writes `events`, cutting a chunk every `per_chunk` events.
written write_recording(const temp_dir& dir, std::vector<event> events, std::size_t per_chunk) {
  const auto header = test::header_for_test();
  auto sink = posix_file_sink::create(dir.path(), recording_file_name(header.id));
  EXPECT_TRUE(sink) << sink.error().text;
  chunk_writer writer(std::move(*sink), header);
  for (std::size_t i = 0; i < events.size(); ++i) {
    writer.add(events[i]);
    if ((i + 1) % per_chunk == 0) {
      EXPECT_TRUE(writer.flush());
    }
  }
  EXPECT_TRUE(writer.flush());
  return {dir / recording_file_name(header.id), std::move(events), writer.head(),
          writer.chunk_count()};
}

std::vector<event> read_all(const std::filesystem::path& path) {
  auto reader = recording_reader::open(path);
  EXPECT_TRUE(reader) << reader.error().text;
  const auto report = reader->verify();
  std::vector<event> out;
  for (const auto& chunk : report.good) {
    auto events = reader->read_chunk(chunk);
    EXPECT_TRUE(events) << events.error().text;
    out.insert(out.end(), events->begin(), events->end());
  }
  return out;
}

void rewrite(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

TEST(recording_format, random_sessions_round_trip) {
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    std::mt19937_64 rng(seed);
    temp_dir dir;
    auto events = test::random_events(rng, 1 + rng() % 300);
    const auto w = write_recording(dir, events, 1 + rng() % 50);
    EXPECT_EQ(read_all(w.path), w.events) << "seed " << seed;
    auto reader = recording_reader::open(w.path);
    const auto report = reader->verify(w.head);
    EXPECT_TRUE(report.ok) << "seed " << seed << ": " << report.problem;
    EXPECT_EQ(report.good.size(), w.chunks);
  }
}

// Random bytes do not shrink: after the first such chunk, the next ones are stored as zstd frames
// of raw blocks (no compression tried), and text after them is compressed again. All read back.
TEST(recording_format, incompressible_chunks_are_stored_raw_and_text_compressed_again) {
  std::mt19937_64 rng(5);
  const auto bytes = [&rng](std::size_t n) {
    std::string out(n, '\0');
    for (auto& c : out) {
      c = static_cast<char>(rng());
    }
    return out;
  };
  std::string text;
  while (text.size() < 60000) {
    text += "-rw-r--r-- 1 root root 4096 Dec  7 17:00 file-" + std::to_string(text.size()) + "\r\n";
  }
  std::vector<event> events;
  for (const std::string& data : {bytes(60000), bytes(60000), bytes(300000), text, bytes(5000)}) {
    events.push_back({.type = event_type::data,
                      .offset = std::chrono::microseconds(events.size()),
                      .stream = stream::output,
                      .data = data});
  }
  temp_dir dir;
  const auto w = write_recording(dir, events, 1);
  EXPECT_EQ(read_all(w.path), w.events);
  auto reader = recording_reader::open(w.path);
  const auto report = reader->verify(w.head);
  ASSERT_TRUE(report.ok) << report.problem;
  ASSERT_EQ(report.good.size(), 5U);
  const auto overhead = [&](std::size_t i) {
    const auto& h = report.good[i].header;
    return static_cast<long>(h.stored_len) - static_cast<long>(h.raw_len);
  };
  // A raw frame: 9 bytes of frame header and 3 per block of up to 128 KiB.
  EXPECT_EQ(overhead(1), 9 + 3);
  EXPECT_EQ(overhead(2), 9 + 3 * 3);
  EXPECT_LT(report.good[3].header.stored_len, report.good[3].header.raw_len / 4);
  // The first random chunk went through zstd, which stores it raw too, in a frame of its own (a
  // 2-byte content size): not the 12 bytes of ours.
  EXPECT_NE(overhead(0), 9 + 3);
  EXPECT_GT(overhead(0), 0);
}

TEST(recording_format, codec_rejects_truncated_bodies) {
  std::mt19937_64 rng(7);
  std::string body;
  for (const auto& ev : test::random_events(rng, 20)) {
    encode_event(ev, body);
  }
  ASSERT_TRUE(decode_events(body));
  for (std::size_t cut = 1; cut < 40; ++cut) {
    EXPECT_FALSE(decode_events(std::string_view(body).substr(0, body.size() - cut))) << cut;
  }
  EXPECT_FALSE(decode_events("\x63\x00\x00\x00"));  // unknown type
}

class tamper : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(99);
    w_ = write_recording(dir_, test::random_events(rng, 200), 40);  // 5 chunks
    ASSERT_EQ(w_.chunks, 5U);
    bytes_ = read_file(w_.path.string());
    auto reader = recording_reader::open(w_.path);
    chunks_ = reader->verify().good;
  }
  verify_report verify_after(const std::string& bytes) {
    rewrite(w_.path, bytes);
    auto reader = recording_reader::open(w_.path);
    EXPECT_TRUE(reader);
    return reader->verify(w_.head);
  }
  std::string chunk_bytes(std::size_t i) const {
    const auto start = chunks_[i].file_offset;
    const auto end = i + 1 < chunks_.size() ? chunks_[i + 1].file_offset : bytes_.size();
    return bytes_.substr(start, end - start);
  }
  temp_dir dir_;
  written w_;
  std::string bytes_;
  std::vector<chunk_entry> chunks_;
};

TEST_F(tamper, a_flipped_byte_names_its_chunk) {
  std::string b = bytes_;
  b[chunks_[2].file_offset + chunk_header_size + 10] ^= 0x01;
  const auto r = verify_after(b);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_chunk, 2U);
  EXPECT_NE(r.problem.find("do not match its hash"), std::string::npos) << r.problem;
  EXPECT_EQ(r.good.size(), 2U);
}

TEST_F(tamper, a_dropped_chunk_is_found) {
  const std::string b =
      bytes_.substr(0, chunks_[1].file_offset) + bytes_.substr(chunks_[2].file_offset);
  const auto r = verify_after(b);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_chunk, 1U);
  EXPECT_NE(r.problem.find("removed or reordered"), std::string::npos) << r.problem;
}

TEST_F(tamper, swapped_chunks_are_found) {
  const std::string b = bytes_.substr(0, chunks_[1].file_offset) + chunk_bytes(2) + chunk_bytes(1) +
                        chunk_bytes(3) + chunk_bytes(4);
  const auto r = verify_after(b);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_chunk, 1U);
}

TEST_F(tamper, a_cut_mid_chunk_keeps_the_good_prefix) {
  const auto r = verify_after(bytes_.substr(0, chunks_[3].file_offset + 57));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_chunk, 3U);
  EXPECT_NE(r.problem.find("truncated"), std::string::npos) << r.problem;
  EXPECT_EQ(r.good_bytes, chunks_[3].file_offset);
}

TEST_F(tamper, chunks_cut_from_the_end_are_caught_by_the_database_head) {
  const auto r = verify_after(bytes_.substr(0, chunks_[4].file_offset));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_chunk, 4U);
  EXPECT_NE(r.problem.find("database"), std::string::npos) << r.problem;
}

TEST_F(tamper, a_rehashed_edit_still_breaks_the_chain_or_the_head) {
  // An editor who recomputes the edited chunk's own hash still breaks the next chunk's link.
  std::string b = bytes_;
  const auto at = chunks_[1].file_offset;
  auto h = decode_chunk_header(b.substr(at, chunk_header_size));
  ASSERT_TRUE(h);
  std::string body = b.substr(at + chunk_header_size, h->stored_len);
  body[5] ^= 0x40;
  h->hash = chunk_hash(*h, body);
  b.replace(at, chunk_header_size + h->stored_len, encode_chunk_header(*h) + body);
  const auto r = verify_after(b);
  EXPECT_FALSE(r.ok);
  ASSERT_TRUE(r.bad_chunk);
  EXPECT_LE(*r.bad_chunk, 2U);
}

TEST_F(tamper, garbage_and_foreign_files_are_refused) {
  rewrite(w_.path, "not a recording at all, just text that is long enough");
  EXPECT_FALSE(recording_reader::open(w_.path));
  EXPECT_FALSE(recording_reader::open(dir_ / "missing.brec"));
}

TEST(recording_files, names_come_from_session_ids_only) {
  const auto id = random_session_id();
  const std::string name = recording_file_name(id);
  EXPECT_EQ(name.size(), 36U + 5U);
  EXPECT_EQ(name.find('/'), std::string::npos);
  const auto parsed = parse_session_id(name.substr(0, 36));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, id);
  for (const char* bad :
       {"../../etc/passwd", "", "0123", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
        "01234567-89ab-cdef-0123-456789abcdef0", "01234567089ab-cdef-0123-456789abcdef"}) {
    EXPECT_FALSE(parse_session_id(bad)) << bad;
  }
  temp_dir dir;
  EXPECT_FALSE(posix_file_sink::create(dir.path(), "../escape"));
  std::filesystem::create_symlink("/tmp/elsewhere", dir / "link.brec");
  EXPECT_FALSE(posix_file_sink::create(dir.path(), "link.brec"))
      << "must not follow a planted symlink";
}

}  // namespace
}  // namespace bastion::recorder
