// A recorder slower than its sessions: the recordings directory on a slow disk (a FUSE file system
// that throttles writes to 1 MB/s and delays each fsync). Under fail_closed a session may not run
// ahead of its recording by more than recording.max_unpersisted_kib, so it moves at the disk's
// pace and nothing goes unrecorded. Under fail_open the session runs at its own pace while the
// writer's queue (64 MiB) absorbs the difference, and the recording still ends complete.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "build_paths.hpp"
#include "target_support.hpp"

namespace bastion::test {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t transfer = 6'000'000;
constexpr double disk_bytes_per_s = 1'000'000;

// tests/clients/slow_fs.py mounted over `at`, mirroring a directory beside it owned as `at` is.
// Unmounted (lazily, so that open files cannot keep it busy) when destroyed.
class slow_disk {
 public:
  slow_disk(const std::filesystem::path& at, const std::string& log)
      : at_(at), backing_(at.string() + "-backing") {
    struct stat st {};
    std::filesystem::create_directories(backing_);
    if (::stat(at_.c_str(), &st) != 0 || ::chown(backing_.c_str(), st.st_uid, st.st_gid) != 0) {
      error_ = "cannot prepare " + backing_.string();
      return;
    }
    fs_ = std::make_unique<child_process>(
        std::vector<std::string>{"/usr/bin/python3", bastion::test::clients_dir() + "/slow_fs.py",
                                 backing_.string(), at_.string(),
                                 std::to_string(static_cast<long>(disk_bytes_per_s)), "20"},
        log);
    if (!eventually([&] { return run({"mountpoint", "-q", at_.string()}).exit_code == 0; }, 10s)) {
      error_ = "slow_fs.py did not mount: " + read_file(log);
    }
  }
  ~slow_disk() { run({"fusermount", "-u", "-z", at_.string()}); }
  slow_disk(const slow_disk&) = delete;
  slow_disk& operator=(const slow_disk&) = delete;
  const std::string& error() const { return error_; }

 private:
  std::filesystem::path at_;
  std::filesystem::path backing_;
  std::unique_ptr<child_process> fs_;
  std::string error_;
};

// A download of `transfer` random bytes through the bastion with the recordings on the slow disk:
// the seconds it took, and the session's row once its recording has ended.
struct slow_download {
  double seconds = 0;
  std::size_t received = 0;
  nlohmann::json row;
};

template <class Fixture>
slow_download download_on_slow_disk(Fixture& f) {
  const slow_disk disk(f.recording_dir(), (f.dir() / "slow_fs.log").string());
  EXPECT_EQ(disk.error(), "");
  const auto start = std::chrono::steady_clock::now();
  const auto r =
      f.exec(Fixture::login() + "@t1", "head -c " + std::to_string(transfer) + " /dev/urandom");
  slow_download out;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.received = r.out.size();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The recording ends once its writer has caught up: that is when the session's row ends.
  EXPECT_TRUE(eventually(
      [&] {
        const auto rows = f.json({"sessions"});
        out.row = rows.empty() ? nlohmann::json() : rows[0];
        return rows.size() == 1 && !out.row["ended_at"].is_null();
      },
      60s));
  const auto verified =
      run({bastion::test::bastionctl_path(), "--config", f.config_, "verify", out.row["id"]});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  return out;
}

class slow_recorder_closed : public jump_session {
 public:
  using jump_session::config_;
  using jump_session::dir;
  using jump_session::exec;
  using jump_session::json;
  using jump_session::login;
  using jump_session::recording_dir;
};

class slow_recorder_open : public slow_recorder_closed {
 protected:
  std::string recording() const override { return "failure_mode: fail_open"; }
};

TEST_F(slow_recorder_closed, a_session_moves_at_the_disks_pace_and_loses_nothing) {
  const auto d = download_on_slow_disk(*this);
  std::printf("slow recorder, fail_closed: %zu bytes in %.2fs with the disk at 1 MB/s; lost %s\n",
              d.received, d.seconds, d.row["lost_bytes"].dump().c_str());
  EXPECT_EQ(d.received, transfer);
  // At most max_unpersisted_kib (1 MiB) runs ahead of the disk.
  EXPECT_GE(d.seconds, (transfer - 1024.0 * 1024) / disk_bytes_per_s * 0.9);
  EXPECT_EQ(d.row["lost_bytes"], 0) << d.row.dump();
  EXPECT_EQ(d.row["bytes_raw"].get<std::uint64_t>() > transfer, true) << d.row.dump();
}

TEST_F(slow_recorder_open, a_session_keeps_its_pace_and_the_queue_catches_up) {
  const auto d = download_on_slow_disk(*this);
  std::printf("slow recorder, fail_open: %zu bytes in %.2fs with the disk at 1 MB/s; lost %s\n",
              d.received, d.seconds, d.row["lost_bytes"].dump().c_str());
  EXPECT_EQ(d.received, transfer);
  EXPECT_LT(d.seconds, transfer / disk_bytes_per_s / 2);  // not held to the disk's pace
  EXPECT_EQ(d.row["lost_bytes"], 0) << d.row.dump();      // 6 MB fit in the 64 MiB queue
  EXPECT_EQ(d.row["bytes_raw"].get<std::uint64_t>() > transfer, true) << d.row.dump();
}

}  // namespace
}  // namespace bastion::test
