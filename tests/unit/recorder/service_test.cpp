// The writer thread: many sessions at once, chunk cuts by size and age, the queue bound, and disk
// faults under both failure modes. Every recording it leaves behind must verify.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include <bastion/recorder/reader.hpp>
#include <bastion/recorder/service.hpp>

#include "process.hpp"
#include "recording_test_support.hpp"

namespace bastion::recorder {
namespace {

using bastion::test::temp_dir;
using namespace std::chrono_literals;

recording_summary finish_and_wait(session_recording& s) {
  std::promise<recording_summary> done;
  auto result = done.get_future();
  s.finish([&done](const recording_summary& summary) { done.set_value(summary); });
  EXPECT_EQ(result.wait_for(30s), std::future_status::ready);
  return result.get();
}

std::vector<event> read_back(const std::filesystem::path& path, const sha256& head) {
  auto reader = recording_reader::open(path);
  EXPECT_TRUE(reader) << reader.error().text;
  const auto report = reader->verify(head);
  EXPECT_TRUE(report.ok) << report.problem;
  std::vector<event> out;
  for (const auto& chunk : report.good) {
    auto events = reader->read_chunk(chunk);
    out.insert(out.end(), events->begin(), events->end());
  }
  return out;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::seconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(recording_service, concurrent_sessions_are_each_recorded_whole_and_in_order) {
  temp_dir dir;
  recording_service service({.dir = dir.path(), .chunk_bytes = std::size_t{8} * 1024});
  constexpr int sessions = 8;
  std::vector<std::vector<event>> expected(sessions);
  std::vector<recording_summary> summaries(sessions);
  std::vector<std::thread> threads;
  threads.reserve(sessions);
  for (int i = 0; i < sessions; ++i) {
    threads.emplace_back([&, i] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(i) + 100);
      auto session = service.start(test::header_for_test());
      expected[static_cast<std::size_t>(i)] = test::random_events(rng, 400);
      for (const auto& ev : expected[static_cast<std::size_t>(i)]) {
        ASSERT_TRUE(session->record(ev));
      }
      summaries[static_cast<std::size_t>(i)] = finish_and_wait(*session);
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (int i = 0; i < sessions; ++i) {
    const auto& summary = summaries[static_cast<std::size_t>(i)];
    EXPECT_TRUE(summary.error.empty()) << summary.error;
    EXPECT_EQ(summary.lost_bytes, 0U);
    EXPECT_GT(summary.chunks, 10U) << "8 KiB chunks must have been cut by size";
    EXPECT_EQ(read_back(dir / summary.file_name, summary.head),
              expected[static_cast<std::size_t>(i)]);
  }
  EXPECT_EQ(service.queued_bytes(), 0U);
}

TEST(recording_service, a_quiet_session_is_persisted_within_the_chunk_interval) {
  temp_dir dir;
  recording_service service({.dir = dir.path(), .chunk_interval = 50ms});
  auto session = service.start(test::header_for_test());
  ASSERT_TRUE(session->record({.type = event_type::data, .data = "typed: ls\r"}));
  const auto path = dir / recording_file_name(session->id());
  // No size threshold is reached; only the age cut can have written the chunk.
  EXPECT_TRUE(eventually([&] {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);  // (uintmax_t)-1 on error
    return !ec && size > file_header_size;
  })) << "the event must be on disk before the session ends";
  const auto summary = finish_and_wait(*session);
  EXPECT_EQ(summary.chunks, 1U);
}

// Real recording files, each wrapped by `wrap` to inject a fault.
template <class Wrap>
sink_factory wrap_real_files(Wrap wrap) {
  return [wrap](const std::filesystem::path& dir,
                const std::string& name) -> result<std::unique_ptr<file_sink>> {
    auto real = posix_file_sink::create(dir, name);
    if (!real) {
      return real.error();
    }
    return std::unique_ptr<file_sink>(wrap(std::unique_ptr<file_sink>(std::move(*real))));
  };
}

// A disk that fills up: the first `good_writes` writes pass, every later one fails.
class failing_write_sink final : public file_sink {
 public:
  failing_write_sink(std::unique_ptr<file_sink> real, int good_writes)
      : real_(std::move(real)), good_writes_(good_writes) {}
  result<void> write(std::string_view bytes) override {
    if (good_writes_ <= 0) {
      return make_error("write: No space left on device");
    }
    --good_writes_;
    return real_->write(bytes);
  }
  result<void> sync() override { return real_->sync(); }
  result<void> truncate(std::uint64_t size) override { return real_->truncate(size); }

 private:
  std::unique_ptr<file_sink> real_;
  int good_writes_;
};

// A sink that holds every write after the first `free_writes` until released: a disk slower
// than the sessions.
class gated_sink final : public file_sink {
 public:
  gated_sink(std::unique_ptr<file_sink> real, std::shared_future<void> gate, int free_writes)
      : real_(std::move(real)), gate_(std::move(gate)), free_writes_(free_writes) {}
  result<void> write(std::string_view bytes) override {
    if (free_writes_ > 0) {
      --free_writes_;
    } else {
      gate_.wait();
    }
    return real_->write(bytes);
  }
  result<void> sync() override { return real_->sync(); }
  result<void> truncate(std::uint64_t size) override { return real_->truncate(size); }

 private:
  std::unique_ptr<file_sink> real_;
  std::shared_future<void> gate_;
  int free_writes_;
};

struct slow_disk {
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  // `free_writes` 1: the file and its header are created at once, the chunks wait.
  sink_factory factory(int free_writes = 0) {
    return wrap_real_files([this, free_writes](std::unique_ptr<file_sink> real) {
      return std::make_unique<gated_sink>(std::move(real), gate, free_writes);
    });
  }
};

// Records 4 KiB blocks while room() allows, as a bridge would; returns the bytes recorded. A
// recording that fails meanwhile (the writer thread met a full disk between room() and record())
// refuses the block, as it must; any other refusal fails the test.
std::size_t record_while_room(session_recording& s) {
  const std::string block(4096, 'r');
  std::size_t recorded = 0;
  for (int i = 0; i < 100000; ++i) {
    const std::size_t room = s.room();
    if (room == 0) {
      break;
    }
    const std::size_t n = std::min(room, block.size());
    if (!s.record({.type = event_type::data, .data = block.substr(0, n)})) {
      EXPECT_TRUE(s.failed()) << "a block refused by a recording that has not failed";
      break;
    }
    recorded += n;
  }
  return recorded;
}

// Counts the recorder's wake-ups, as a relay's strand would receive them.
struct wake_counter {
  std::atomic<int> wakes{0};
  std::function<void()> callback() {
    return [this] { wakes.fetch_add(1); };
  }
};

// Under fail_closed a session may run only max_unpersisted_bytes ahead of its file. A disk that
// stops taking writes stops the session there; once the writer gets through, it wakes the session.
TEST(recording_service, fail_closed_holds_a_session_to_its_unpersisted_bound) {
  temp_dir dir;
  slow_disk disk;
  constexpr std::size_t bound = std::size_t{128} * 1024;
  recording_service service({.dir = dir.path(), .max_unpersisted_bytes = bound}, disk.factory(1));
  auto session = service.start(test::header_for_test());
  ASSERT_TRUE(eventually([&] { return session->room() > 0; })) << "the file must be created";
  wake_counter woken;
  session->on_room(woken.callback());
  const std::size_t first = record_while_room(*session);
  // The session start is not counted: it is the same bound, less a few hundred bytes.
  EXPECT_LE(first, bound);
  EXPECT_GE(first, bound - 4096);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(session->room(), 0U) << "nothing is written while the disk is stuck";
  EXPECT_EQ(woken.wakes.load(), 0);
  disk.release.set_value();
  EXPECT_TRUE(eventually([&] { return woken.wakes.load() > 0; })) << "the writer must wake it";
  EXPECT_GT(session->room(), 0U);
  const std::size_t second = record_while_room(*session);
  EXPECT_GT(second, 0U);
  const auto summary = finish_and_wait(*session);
  EXPECT_TRUE(summary.error.empty()) << summary.error;
  EXPECT_GE(summary.raw_bytes, first + second);
}

// A session held at its bound is woken when the disk fails, so that it ends at once and says why;
// after finish() the wake never runs again.
TEST(recording_service, a_held_session_is_woken_by_a_disk_failure_and_not_after_its_end) {
  temp_dir dir;
  recording_service service({.dir = dir.path(), .max_unpersisted_bytes = std::size_t{64} * 1024},
                            wrap_real_files([](std::unique_ptr<file_sink> real) {
                              // The header is written, then the disk is full.
                              return std::make_unique<failing_write_sink>(std::move(real), 1);
                            }));
  auto session = service.start(test::header_for_test());
  ASSERT_TRUE(eventually([&] { return session->room() > 0; }));
  wake_counter woken;
  session->on_room(woken.callback());
  record_while_room(*session);
  EXPECT_TRUE(eventually([&] { return session->failed(); }));
  EXPECT_TRUE(eventually([&] { return woken.wakes.load() > 0; }));
  EXPECT_EQ(session->room(), 0U);
  const auto summary = finish_and_wait(*session);
  EXPECT_NE(summary.error.find("No space left"), std::string::npos) << summary.error;
  const int after_end = woken.wakes.load();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(woken.wakes.load(), after_end);
}

// A disk that takes every write and fails the fdatasync: nothing ever becomes durable, so a
// fail_closed session gets no more than its bound through before it ends.
class failing_sync_only_sink final : public file_sink {
 public:
  explicit failing_sync_only_sink(std::unique_ptr<file_sink> real) : real_(std::move(real)) {}
  result<void> write(std::string_view bytes) override { return real_->write(bytes); }
  result<void> sync() override {
    if (++syncs_ > 1) {  // the header's sync passes
      return make_error("fdatasync: Input/output error");
    }
    return real_->sync();
  }
  result<void> truncate(std::uint64_t size) override { return real_->truncate(size); }

 private:
  std::unique_ptr<file_sink> real_;
  int syncs_ = 0;
};

TEST(recording_service, a_failing_fdatasync_lets_no_more_than_the_bound_through) {
  temp_dir dir;
  constexpr std::size_t bound = std::size_t{64} * 1024;
  recording_service service({.dir = dir.path(), .max_unpersisted_bytes = bound},
                            wrap_real_files([](std::unique_ptr<file_sink> real) {
                              return std::make_unique<failing_sync_only_sink>(std::move(real));
                            }));
  auto session = service.start(test::header_for_test());
  ASSERT_TRUE(eventually([&] { return session->room() > 0; }));
  std::size_t recorded = 0;
  for (int round = 0; round < 200 && !session->failed(); ++round) {
    recorded += record_while_room(*session);
    std::this_thread::sleep_for(5ms);  // the writer writes, syncs, fails
  }
  EXPECT_TRUE(session->failed());
  EXPECT_LE(recorded, bound) << "bytes released before anything was durable";
  EXPECT_NE(session->failure().find("Input/output error"), std::string::npos) << session->failure();
  finish_and_wait(*session);
}

// fail_open never holds a session for its file, only for the writer's queue.
TEST(recording_service, fail_open_is_not_held_to_the_unpersisted_bound) {
  temp_dir dir;
  slow_disk disk;
  recording_service service({.dir = dir.path(),
                             .failure_mode = failure_mode::fail_open,
                             .max_unpersisted_bytes = std::size_t{16} * 1024},
                            disk.factory(1));
  auto session = service.start(test::header_for_test());
  ASSERT_TRUE(eventually([&] { return session->room() > 0; }));
  const std::string block(4096, 'o');
  for (int i = 0; i < 64; ++i) {
    ASSERT_GT(session->room(), 0U) << "after " << i << " blocks";
    ASSERT_TRUE(session->record({.type = event_type::data, .data = block}));
  }
  disk.release.set_value();
  EXPECT_EQ(finish_and_wait(*session).lost_bytes, 0U);
}

// Until the writer has created the recording file, the session is held back (congested): no byte
// may pass that has no file to go to. A file that cannot be created ends it under fail_closed.
TEST(recording_service, a_session_waits_for_its_file_to_exist) {
  temp_dir dir;
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  recording_service service({.dir = dir.path()},
                            [gate](const std::filesystem::path& d,
                                   const std::string& name) -> result<std::unique_ptr<file_sink>> {
                              gate.wait();  // a slow disk: the file is created only when released
                              auto real = posix_file_sink::create(d, name);
                              if (!real) {
                                return real.error();
                              }
                              return std::unique_ptr<file_sink>(std::move(*real));
                            });
  const auto session = service.start(test::header_for_test());
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(session->room(), 0U) << "no file yet";
  release.set_value();
  EXPECT_TRUE(eventually([&] { return session->room() > 0; }));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / recording_file_name(session->id())));
  finish_and_wait(*session);

  recording_service unwritable({.dir = dir.path() / "missing"});
  const auto doomed = unwritable.start(test::header_for_test());
  EXPECT_TRUE(eventually([&] { return doomed->failed(); }));
  finish_and_wait(*doomed);
}

TEST(recording_service, fail_closed_ends_the_session_when_the_queue_is_full) {
  temp_dir dir;
  slow_disk disk;
  recording_service service({.dir = dir.path(), .queue_limit_bytes = std::size_t{64} * 1024},
                            disk.factory());
  auto session = service.start(test::header_for_test());
  const std::string block(4096, 'x');
  int accepted = 0;
  while (session->record({.type = event_type::data, .data = block}) && accepted < 1000) {
    ++accepted;
  }
  EXPECT_LT(accepted, 20) << "the bound must stop the session long before 1000 blocks";
  EXPECT_TRUE(session->failed());
  EXPECT_LE(service.queued_bytes(), 64U * 1024);
  disk.release.set_value();
  const auto summary = finish_and_wait(*session);
  read_back(dir / summary.file_name, summary.head);  // what was accepted is a valid recording
}

TEST(recording_service, fail_open_counts_what_it_could_not_keep) {
  temp_dir dir;
  slow_disk disk;
  recording_service service({.dir = dir.path(),
                             .failure_mode = failure_mode::fail_open,
                             .queue_limit_bytes = std::size_t{64} * 1024},
                            disk.factory());
  auto session = service.start(test::header_for_test());
  const std::string block(4096, 'x');
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(session->record({.type = event_type::data, .data = block}));
  }
  EXPECT_FALSE(session->failed());
  disk.release.set_value();
  const auto summary = finish_and_wait(*session);
  EXPECT_GT(summary.lost_bytes, 50U * 4096);
  EXPECT_LE(summary.lost_bytes, 100U * 4096);
  const auto kept = read_back(dir / summary.file_name, summary.head);
  EXPECT_EQ(kept.size() * 4096 + summary.lost_bytes, 100U * 4096);
}

// The header and the first chunk persist, then the disk fails. `syncs` lets the test see progress.
class failing_sync_sink final : public file_sink {
 public:
  failing_sync_sink(std::unique_ptr<file_sink> real, std::shared_ptr<std::atomic<int>> syncs)
      : real_(std::move(real)), syncs_(std::move(syncs)) {}
  result<void> write(std::string_view bytes) override { return real_->write(bytes); }
  result<void> sync() override {
    if (++*syncs_ >= 3) {
      return make_error("fdatasync: No space left on device");
    }
    return real_->sync();
  }
  result<void> truncate(std::uint64_t size) override { return real_->truncate(size); }

 private:
  std::unique_ptr<file_sink> real_;
  std::shared_ptr<std::atomic<int>> syncs_;
};

sink_factory failing_disk(const std::shared_ptr<std::atomic<int>>& syncs) {
  return wrap_real_files([syncs](std::unique_ptr<file_sink> real) {
    return std::make_unique<failing_sync_sink>(std::move(real), syncs);
  });
}

TEST(recording_service, a_disk_error_ends_a_fail_closed_session_and_keeps_the_valid_prefix) {
  for (const auto mode : {failure_mode::fail_closed, failure_mode::fail_open}) {
    temp_dir dir;
    auto syncs = std::make_shared<std::atomic<int>>(0);
    recording_service service({.dir = dir.path(), .failure_mode = mode, .chunk_bytes = 1024},
                              failing_disk(syncs));
    auto session = service.start(test::header_for_test());
    const std::string block(2048, 'y');
    session->record({.type = event_type::data, .data = block});
    ASSERT_TRUE(eventually([&] { return syncs->load() >= 2; })) << "the first chunk must be synced";
    for (int i = 0; i < 4; ++i) {
      session->record({.type = event_type::data, .data = block});
    }
    if (mode == failure_mode::fail_closed) {
      EXPECT_TRUE(eventually([&] { return session->failed(); }));
      EXPECT_FALSE(session->record({.type = event_type::data, .data = block}));
    }
    const auto summary = finish_and_wait(*session);
    EXPECT_NE(summary.error.find("No space left"), std::string::npos) << summary.error;
    EXPECT_EQ(summary.chunks, 1U);
    EXPECT_GE(summary.lost_bytes, 4U * 2048);
    EXPECT_EQ(mode == failure_mode::fail_closed, session->failed());
    EXPECT_EQ(read_back(dir / summary.file_name, summary.head).size(), 1U);
  }
}

}  // namespace
}  // namespace bastion::recorder
