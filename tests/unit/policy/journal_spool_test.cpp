// The journal's spool on disk: every entry kind comes back as it went in, across a reopen; a tail
// that a crash cut short is set aside, never replayed and never deleted; a file that is not a
// spool, or one from a newer format, is refused by name; one bastiond at a time holds a directory.
#include "journal_spool.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "journal_codec.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace bastion::policy {
namespace {

std::vector<journal_entry> one_of_each() {
  return {
      audit_event{"auth", "denied", "mallory\x01", "192.0.2.9", "db", R"({"why":"key"})",
                  "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b", 1'700'000'000'123'456},
      session_start{"9f1c7a52-7a4e-4a8e-9b51-3a2d3c4e5f60",
                    "node-a",
                    {"alice", "web", "deploy", "198.51.100.4", "SSH-2.0-OpenSSH_9.2", "jump"},
                    "9f1c7a52.bsr",
                    2,
                    1'700'000'001'000'000},
      session_end{"9f1c7a52-7a4e-4a8e-9b51-3a2d3c4e5f60",
                  "client closed",
                  1'700'000'002'000'000,
                  {"ab12", 1ULL << 40, 12345, 7, 3}},
      channel_row{"9f1c7a52-7a4e-4a8e-9b51-3a2d3c4e5f60", 4'000'000'000U, "session",
                  R"({"pty":true})", -5, 1'700'000'002'000'000, -1, "", 10, 20},
      channel_row{"9f1c7a52-7a4e-4a8e-9b51-3a2d3c4e5f60", 1, "session", "{}", 1, 2, std::nullopt,
                  "KILL", 0, 0},
      search_text{"9f1c7a52-7a4e-4a8e-9b51-3a2d3c4e5f60", 7, "input", "uname -a\nid -u\n",
                  "0:3000:0,9:5000:1"},
  };
}

// The entries' fields, for comparison (none of the entry types has operator==).
std::string shown(const journal_entry& e) {
  std::string bytes;
  encode_entry(bytes, e);
  return bytes;
}

std::vector<std::string> shown(const std::vector<journal_entry>& entries) {
  std::vector<std::string> out;
  out.reserve(entries.size());
  for (const auto& e : entries) {
    out.push_back(shown(e));
  }
  return out;
}

// Every field, listed here apart from the codec's own field lists: a field left out of both of the
// codec's directions would still re-encode to the same bytes, but does not compare equal here.
auto fields_of(const audit_event& e) {
  return std::tie(e.kind, e.result, e.actor, e.source_addr, e.target_name, e.detail_json,
                  e.event_id, e.at_unix_us);
}
auto fields_of(const session_start& s) {
  return std::tie(s.id, s.node, s.who.user, s.who.target, s.who.login, s.who.source_addr,
                  s.who.client_version, s.who.access_form, s.recording_file, s.format_version,
                  s.started_unix_us);
}
auto fields_of(const session_end& e) {
  return std::tie(e.id, e.reason, e.ended_unix_us, e.recording.head_hash, e.recording.bytes_raw,
                  e.recording.bytes_stored, e.recording.chunk_count, e.recording.lost_bytes);
}
auto fields_of(const channel_row& c) {
  return std::tie(c.session_id, c.channel_no, c.kind, c.detail_json, c.opened_unix_us,
                  c.closed_unix_us, c.exit_status, c.exit_signal, c.bytes_in, c.bytes_out);
}
auto fields_of(const search_text& t) {
  return std::tie(t.session_id, t.seq, t.kind, t.body, t.marks);
}

bool same_fields(const journal_entry& a, const journal_entry& b) {
  return a.index() == b.index() && std::visit(
                                       [&](const auto& x) {
                                         using T = std::decay_t<decltype(x)>;
                                         return fields_of(x) == fields_of(std::get<T>(b));
                                       },
                                       a);
}

bool append_all(journal_spool& spool, const std::vector<journal_entry>& entries) {
  std::string records;
  for (const auto& e : entries) {
    journal_spool::frame(records, e);
  }
  return spool.append(records, entries.size());
}

// Opening a spool on `dir` is refused, with a message that contains `part`.
void expect_refused(const std::filesystem::path& dir, const std::string& part) {
  try {
    const journal_spool spool(dir);
    ADD_FAILURE() << "a spool opened on " << dir;
  } catch (const journal_spool_error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

std::vector<std::filesystem::path> damaged_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().filename().string().starts_with("journal.spool.damaged-")) {
      out.push_back(f.path());
    }
  }
  return out;
}

TEST(journal_codec, every_entry_kind_round_trips_field_for_field) {
  const auto entries = one_of_each();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const journal_entry back = decode_entry(shown(entries[i]));
    EXPECT_TRUE(same_fields(back, entries[i])) << i;
  }
  // The comparison itself sees a change in any field.
  auto changed = std::get<session_start>(entries[1]);
  changed.who.client_version += "x";
  EXPECT_FALSE(same_fields(changed, entries[1]));
  EXPECT_FALSE(std::get<channel_row>(decode_entry(shown(entries[4]))).exit_status);
}

TEST(journal_codec, refuses_bytes_that_are_not_one_whole_entry) {
  const std::string good = shown(one_of_each()[1]);
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_THROW(decode_entry(good.substr(0, n)), journal_codec_error) << n;
  }
  EXPECT_THROW(decode_entry(good + "x"), journal_codec_error);
  std::string unknown = good;
  unknown[0] = '\x09';
  EXPECT_THROW(decode_entry(unknown), journal_codec_error);
  // A string length far past the bytes there: refused, nothing allocated for it.
  std::string huge = good;
  huge.replace(1, 4, "\xff\xff\xff\x7f");
  EXPECT_THROW(decode_entry(huge), journal_codec_error);
}

TEST(journal_spool, entries_come_back_in_order_across_a_reopen) {
  test::temp_dir dir;
  const auto entries = one_of_each();
  {
    journal_spool spool(dir / "spool");
    EXPECT_EQ(spool.pending(), 0U);
    ASSERT_TRUE(append_all(spool, entries));
    ASSERT_TRUE(append_all(spool, {entries[0]}));
    EXPECT_EQ(spool.pending(), entries.size() + 1);
    EXPECT_EQ(shown(spool.peek(2)), shown(std::vector(entries.begin(), entries.begin() + 2)));
    spool.consume(1);  // the first is in the database; the second was peeked, not taken
  }
  EXPECT_EQ(std::filesystem::status(dir / "spool").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  journal_spool spool(dir / "spool");
  // A replay cut short starts over: what was consumed in memory only comes back too.
  ASSERT_EQ(spool.pending(), entries.size() + 1);
  auto all = entries;
  all.push_back(entries[0]);
  EXPECT_EQ(shown(spool.peek(100)), shown(all));
  spool.consume(all.size());
  EXPECT_EQ(spool.pending(), 0U);
  EXPECT_EQ(std::filesystem::file_size(spool.path()), 8U);  // back to its header
  EXPECT_TRUE(spool.peek(10).empty());
  ASSERT_TRUE(append_all(spool, {entries[2]}));
  EXPECT_EQ(shown(spool.peek(10)), shown(std::vector{entries[2]}));
}

TEST(journal_spool, a_torn_tail_is_set_aside_and_the_whole_records_replayed) {
  const auto entries = one_of_each();
  std::string records;
  for (const auto& e : entries) {
    journal_spool::frame(records, e);
  }
  std::string last;
  journal_spool::frame(last, entries[0]);
  // Every cut inside the last record, and a flipped byte in its payload.
  std::vector<std::string> tails;
  for (std::size_t cut = 1; cut < last.size(); cut += 7) {
    tails.push_back(last.substr(0, cut));
  }
  std::string flipped = last;
  flipped.back() = static_cast<char>(flipped.back() ^ 0x20);
  tails.push_back(flipped);
  for (const auto& tail : tails) {
    test::temp_dir dir;
    { journal_spool spool(dir.path()); }
    {
      std::ofstream f(dir / "journal.spool", std::ios::binary | std::ios::app);
      f << records << tail;
    }
    journal_spool spool(dir.path());
    EXPECT_EQ(spool.pending(), entries.size()) << tail.size();
    EXPECT_EQ(shown(spool.peek(100)), shown(entries));
    const auto aside = damaged_files(dir.path());
    ASSERT_EQ(aside.size(), 1U);
    EXPECT_EQ(std::filesystem::file_size(aside[0]), tail.size());
    // The next append lands on a record boundary.
    ASSERT_TRUE(append_all(spool, {entries[1]}));
    EXPECT_EQ(shown(spool.peek(100)).back(), shown(entries[1]));
  }
}

TEST(journal_spool, refuses_a_file_that_is_not_a_spool_or_is_from_a_newer_format) {
  test::temp_dir dir;
  const std::string not_ours = "PGDMP\n not ours";
  dir.write("journal.spool", not_ours);
  expect_refused(dir.path(), "is not a journal spool; move it away");
  EXPECT_EQ(std::filesystem::file_size(dir / "journal.spool"), not_ours.size());  // left as it was
  dir.write("journal.spool", std::string("BJSPOOL\x03", 8));
  expect_refused(dir.path(), "format version 3");
}

TEST(journal_spool, takes_a_first_version_spool_and_marks_it_as_its_own) {
  test::temp_dir dir;
  const auto entries = one_of_each();
  std::string v1;
  {
    journal_spool spool(dir.path());
    ASSERT_TRUE(append_all(spool, {entries[0], entries[3]}));
    v1 = test::read_file((dir / "journal.spool").string());
  }
  v1[7] = '\x01';  // as the bastiond before search wrote it: the same records
  dir.write("journal.spool", v1);
  journal_spool spool(dir.path());
  ASSERT_EQ(spool.pending(), 2U);
  EXPECT_EQ(shown(spool.peek(10)), shown({entries[0], entries[3]}));
  EXPECT_EQ(test::read_file((dir / "journal.spool").string()).substr(0, 8),
            std::string("BJSPOOL\x02", 8));
}

TEST(journal_spool, one_process_at_a_time_holds_a_directory) {
  test::temp_dir dir;
  const journal_spool first(dir.path());
  expect_refused(dir.path(), "another bastiond holds");
}

TEST(journal_spool, a_directory_it_cannot_create_is_named_with_the_fix) {
  test::temp_dir dir;
  dir.write("file", "x");
  expect_refused(dir / "file" / "spool", "policy.journal_spool " + (dir / "file/spool").string());
}

// A file size limit makes every write past it fail (EFBIG, with SIGXFSZ ignored) as a full disk
// would: the append is refused whole, the file is cut back to its last record, and the next
// append, once there is room, goes on from there.
TEST(journal_spool, a_refused_append_leaves_the_file_whole) {
  test::temp_dir dir;
  journal_spool spool(dir.path());
  const auto entries = one_of_each();
  ASSERT_TRUE(append_all(spool, {entries[0]}));
  const auto size = std::filesystem::file_size(spool.path());
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto previous = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = size + 16;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const bool refused = !append_all(spool, entries);
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, previous);
  EXPECT_TRUE(refused);
  EXPECT_EQ(spool.pending(), 1U);
  EXPECT_EQ(std::filesystem::file_size(spool.path()), size);
  ASSERT_TRUE(append_all(spool, {entries[1]}));
  EXPECT_EQ(shown(spool.peek(10)), shown(std::vector{entries[0], entries[1]}));
}

// The file is cut short, then given a length field far past its end, under the open spool (as a
// person or a faulty disk could): peek() refuses both without reading past what is there or
// allocating for the length, and set_aside() keeps every byte and starts an empty spool.
TEST(journal_spool, a_file_changed_under_it_is_refused_then_set_aside_whole) {
  test::temp_dir dir;
  const auto entries = one_of_each();
  journal_spool spool(dir.path());
  ASSERT_TRUE(append_all(spool, entries));
  std::filesystem::resize_file(spool.path(), 8 + 3);
  EXPECT_THROW(spool.peek(10), journal_spool_error);
  dir.write("journal.spool", std::string("BJSPOOL\x01\xf0\xff\xff\xff", 12) + "1234payload");
  EXPECT_THROW(spool.peek(10), journal_spool_error);

  const std::string aside = spool.set_aside();
  EXPECT_TRUE(aside.starts_with((dir / "journal.spool.damaged-").string())) << aside;
  EXPECT_EQ(std::filesystem::file_size(aside), 8U + 4 + 4 + 7);
  EXPECT_EQ(spool.pending(), 0U);
  EXPECT_EQ(std::filesystem::file_size(spool.path()), 8U);
  ASSERT_TRUE(append_all(spool, {entries[2]}));
  EXPECT_TRUE(same_fields(spool.peek(10).at(0), entries[2]));
  // The new file is the one held: a second spool on the directory is still refused.
  expect_refused(dir.path(), "another bastiond holds");
}

TEST(journal_spool, an_entry_over_its_bound_is_refused_before_anything_is_written) {
  audit_event big;
  big.detail_json = std::string((16U << 20) + 1, 'x');
  std::string out;
  EXPECT_THROW(journal_spool::frame(out, big), journal_codec_error);
}

}  // namespace
}  // namespace bastion::policy
