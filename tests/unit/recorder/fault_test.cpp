// Fault injection around the real file: writes and syncs that fail on the Nth call, and a write
// that fails half-way (disk full). What was persisted before must still verify.
#include <gtest/gtest.h>

#include <array>

#include <bastion/recorder/reader.hpp>

#include "recording_test_support.hpp"

namespace bastion::recorder {
namespace {

using bastion::test::temp_dir;

enum class fault { write, torn_write, sync };

// Wraps the real sink; the Nth call of the chosen kind fails (counting from 1).
class failing_sink final : public file_sink {
 public:
  failing_sink(std::unique_ptr<file_sink> real, fault kind, int nth)
      : real_(std::move(real)), kind_(kind), nth_(nth) {}

  result<void> write(std::string_view bytes) override {
    if ((kind_ == fault::write || kind_ == fault::torn_write) && ++writes_ == nth_) {
      if (kind_ == fault::torn_write) {
        (void)real_->write(bytes.substr(0, bytes.size() / 2));  // then the disk is full
      }
      return make_error("write: No space left on device");
    }
    return real_->write(bytes);
  }
  result<void> sync() override {
    if (kind_ == fault::sync && ++syncs_ == nth_) {
      return make_error("fdatasync: Input/output error");
    }
    return real_->sync();
  }
  result<void> truncate(std::uint64_t size) override { return real_->truncate(size); }

 private:
  std::unique_ptr<file_sink> real_;
  fault kind_;
  int nth_;
  int writes_ = 0;
  int syncs_ = 0;
};

struct fault_case {
  fault kind;
  int nth;  // call 1 is the file header
};

class faults : public ::testing::TestWithParam<fault_case> {};

TEST_P(faults, keep_what_was_persisted_valid_and_count_the_loss) {
  temp_dir dir;
  const auto header = test::header_for_test();
  auto real = posix_file_sink::create(dir.path(), recording_file_name(header.id));
  ASSERT_TRUE(real);
  chunk_writer writer(
      std::make_unique<failing_sink>(std::move(*real), GetParam().kind, GetParam().nth), header);
  std::mt19937_64 rng(static_cast<std::uint64_t>(GetParam().nth));
  const auto events = test::random_events(rng, 100);
  int failures = 0;
  std::uint32_t chunks_before_failure = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    writer.add(events[i]);
    if (i % 10 == 9 && !writer.flush()) {
      if (failures++ == 0) {
        chunks_before_failure = writer.chunk_count();
      }
    }
  }
  ASSERT_GT(failures, 0) << "the fault must have fired";
  EXPECT_FALSE(writer.ok());
  EXPECT_GT(writer.lost_bytes(), 0U);
  EXPECT_EQ(writer.chunk_count(), chunks_before_failure) << "nothing is written after a failure";

  if (GetParam().nth == 1) {
    return;  // the header itself failed: there is no recording to verify
  }
  auto reader = recording_reader::open(dir / recording_file_name(header.id));
  ASSERT_TRUE(reader) << reader.error().text;
  const auto report = reader->verify(writer.head());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.good.size(), writer.chunk_count());
}

std::string fault_name(const ::testing::TestParamInfo<fault_case>& param_info) {
  static constexpr std::array<const char*, 3> kinds{"write", "torn_write", "sync"};
  return std::string(kinds[static_cast<std::size_t>(param_info.param.kind)]) + "_" +
         std::to_string(param_info.param.nth);
}

INSTANTIATE_TEST_SUITE_P(recorder, faults,
                         ::testing::Values(fault_case{fault::write, 1}, fault_case{fault::write, 2},
                                           fault_case{fault::write, 5},
                                           fault_case{fault::torn_write, 3},
                                           fault_case{fault::torn_write, 7},
                                           fault_case{fault::sync, 1}, fault_case{fault::sync, 4}),
                         fault_name);

}  // namespace
}  // namespace bastion::recorder
