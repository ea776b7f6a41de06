// Live sessions recorded end to end: real ssh, sftp and asciinema clients through bastiond to a
// real sshd, then bastionctl reading the recordings back (sessions, verify, export) and the rows in
// PostgreSQL. Also a SIGKILLed bastiond whose recording must survive, and both failure modes.
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <random>
#include <system_error>
#include <thread>

#include "build_paths.hpp"
#include "target_support.hpp"

namespace bastion::test {
namespace {

class session_recording : public jump_session {
 protected:
  // The only session, once its row says it ended (rows are written off the io threads).
  nlohmann::json ended_session() const {
    nlohmann::json rows;
    const bool ended = eventually(
        [&] {
          rows = json({"sessions"});
          return rows.size() == 1 && !rows[0]["ended_at"].is_null() &&
                 rows[0]["bytes_raw"].get<std::uint64_t>() > 0;
        },
        std::chrono::seconds(20));
    EXPECT_TRUE(ended) << rows.dump();
    return ended ? rows[0] : nlohmann::json::object();
  }

  // One psql value about the session's channels, e.g. "exit_status".
  std::string channel_column(const std::string& id, const std::string& column) const {
    std::string value = postgres_cluster::instance().psql(
        dbname_, "SELECT " + column + " FROM channels WHERE session_id = '" + id +
                     "' ORDER BY channel_no LIMIT 1");
    while (!value.empty() && value.back() == '\n') {
      value.pop_back();
    }
    return value;
  }

  // bastionctl with this bastion's config, where it finds the recordings; expects exit 0.
  std::string admin(std::vector<std::string> args) const {
    args.insert(args.begin(), {bastion::test::bastionctl_path(), "--config", config_});
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, 0) << args[3] << ": " << r.err;
    return r.out;
  }

  // The concatenated asciicast events of one code ("i" or "o").
  static std::string asciicast_stream(const std::string& cast, const std::string& code) {
    std::string out;
    std::size_t line_end = cast.find('\n');  // the header
    while (line_end != std::string::npos && line_end + 1 < cast.size()) {
      const std::size_t next = cast.find('\n', line_end + 1);
      const auto ev = nlohmann::json::parse(cast.substr(line_end + 1, next - line_end - 1));
      if (ev[1] == code) {
        out += ev[2].get<std::string>();
      }
      line_end = next;
    }
    return out;
  }
};

TEST_F(session_recording, a_typed_jump_session_records_input_and_output) {
  // The typed command differs from what it prints, so input and output are told apart.
  const std::string command = "ssh -tt -F " + jump_config_ + " " + login() + "@t1";
  const auto r =
      run({"script", "-qec", command, "/dev/null"},
          {.stdin_data = "echo rec-$((6*7))\nexit 5\n", .timeout = std::chrono::seconds(60)});
  ASSERT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_CONTAINS(r.out, "rec-42");

  const auto s = ended_session();
  const std::string id = s["id"];
  EXPECT_EQ(s["user"], "alice");
  EXPECT_EQ(s["target"], "t1");
  EXPECT_EQ(s["login"], login());
  EXPECT_EQ(s["access_form"], "jump");
  EXPECT_CONTAINS(s["source"].get<std::string>(), "127.0.0.1:");
  EXPECT_CONTAINS(admin({"verify", id}), "intact");

  const std::string cast = (dir() / "session.cast").string();
  admin({"export", id, "--format", "asciicast", "-o", cast});
  const std::string text = read_file(cast);
  EXPECT_CONTAINS(asciicast_stream(text, "i"), "echo rec-$((6*7))");
  EXPECT_CONTAINS(asciicast_stream(text, "o"), "rec-42");
  // asciinema itself accepts the export and prints the session's output (it wants a terminal).
  const auto played = run({"script", "-qec", "asciinema cat " + cast, "/dev/null"},
                          {.extra_env = {"HOME=" + dir().path().string()}});
  EXPECT_EQ(played.exit_code, 0) << played.err;
  EXPECT_CONTAINS(played.out, "rec-42");
  EXPECT_EQ(channel_column(id, "exit_status"), "5");
  EXPECT_CONTAINS(channel_column(id, "detail->'pty'->>'term'"), "xterm");
}

TEST_F(session_recording, exec_streams_and_exit_status_are_recorded_apart) {
  const auto r = exec(login() + "@t1", "cat; echo err-line >&2; exit 3", "stdin-bytes\n");
  ASSERT_EQ(r.exit_code, 3) << r.err;
  ASSERT_EQ(r.out, "stdin-bytes\n");

  const auto s = ended_session();
  const std::string id = s["id"];
  EXPECT_EQ(s["access_form"], "username");
  const auto out_dir = dir() / "raw";
  admin({"export", id, "--format", "raw", "-o", out_dir.string()});
  EXPECT_EQ(read_file((out_dir / "ch0.stdin").string()), "stdin-bytes\n");
  EXPECT_EQ(read_file((out_dir / "ch0.stdout").string()), "stdin-bytes\n");
  EXPECT_EQ(read_file((out_dir / "ch0.stderr").string()), "err-line\n");
  const auto meta = nlohmann::json::parse(read_file((out_dir / "ch0.json").string()));
  bool saw_exec = false;
  bool saw_exit = false;
  for (const auto& e : meta) {
    saw_exec = saw_exec || (e.value("event", "") == "channel_request" &&
                            e["detail"].value("command", "") == "cat; echo err-line >&2; exit 3");
    saw_exit = saw_exit || (e.value("event", "") == "exit_status" && e.value("code", -1) == 3);
  }
  EXPECT_TRUE(saw_exec) << meta.dump();
  EXPECT_TRUE(saw_exit) << meta.dump();
  EXPECT_EQ(channel_column(id, "exit_status"), "3");
  EXPECT_EQ(channel_column(id, "bytes_in"), "12");
  EXPECT_EQ(channel_column(id, "bytes_out"), "21");  // stdout 12 + stderr 9
  EXPECT_EQ(channel_column(id, "detail->>'command'"), "cat; echo err-line >&2; exit 3");
}

TEST_F(session_recording, an_sftp_upload_is_recorded) {
  // Random bytes under one SFTP write (32 KiB), so they appear whole in the recorded input.
  std::mt19937_64 rng(11);
  std::string payload(20000, '\0');
  for (auto& c : payload) {
    c = static_cast<char>(rng());
  }
  const auto local = dir().write("upload.bin", payload);
  const auto remote = dir().path() / "uploaded.bin";
  const auto r = run({"sftp", "-F", jump_config_, "-b", "-", login() + "@t1"},
                     {.stdin_data = "put " + local.string() + " " + remote.string() + "\n",
                      .timeout = std::chrono::seconds(60)});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_EQ(read_file(remote.string()), payload);

  const auto s = ended_session();
  const std::string id = s["id"];
  const auto out_dir = dir() / "raw";
  admin({"export", id, "--format", "raw", "-o", out_dir.string()});
  EXPECT_NE(read_file((out_dir / "ch0.stdin").string()).find(payload), std::string::npos);
  EXPECT_EQ(channel_column(id, "detail->>'subsystem'"), "sftp");
}

TEST_F(session_recording, a_sigkilled_bastiond_leaves_a_verifiable_recording_ended_by_crash) {
  const std::string printer =
      "i=0; while [ $i -lt 600 ]; do echo tick-$i; i=$((i+1)); sleep 0.05; done";
  child_process client({"ssh", "-F", jump_config_, login() + "@t1", printer},
                       (dir() / "client.log").string());
  // Chunks are cut every second: wait for a few of them to be durable.
  ASSERT_TRUE(eventually(
      [&] {
        const auto live = json({"sessions", "--live"});
        return live.size() == 1 &&
               read_file((dir() / "client.log").string()).find("tick-40") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << read_file((dir() / "client.log").string()) << read_file(log_);
  EXPECT_EQ(daemon_->stop(SIGKILL), 128 + SIGKILL);
  daemon_.reset();
  client.stop(SIGTERM);

  const std::string log = (dir() / "restarted.log").string();
  daemon_ = start_bastiond(config_, log);
  ASSERT_TRUE(daemon_);
  EXPECT_CONTAINS(read_file(log), "finalised 1 session(s) left open by a crash");
  const auto rows = json({"sessions"});
  ASSERT_EQ(rows.size(), 1U);
  EXPECT_EQ(rows[0]["ended_reason"], "crash");
  const std::string id = rows[0]["id"];
  EXPECT_CONTAINS(admin({"verify", id}), "intact");
  EXPECT_CONTAINS(admin({"replay", id, "--speed", "0"}), "tick-10");
}

// SIGTERM with live sessions (three through -J, one in the username form): each client reads why
// on its stderr, bastiond ends them at drain_timeout (5 s here) and exits 0, and every recording
// verifies.
TEST_F(session_recording, sigterm_tells_live_sessions_then_drains_and_exits_0) {
  const std::string command = "echo started; sleep 60";
  std::vector<std::unique_ptr<child_process>> clients;
  clients.reserve(4);
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<child_process>(
        std::vector<std::string>{"ssh", "-F", jump_config_, login() + "@t1", command},
        (dir() / ("client" + std::to_string(i))).string()));
  }
  clients.push_back(std::make_unique<child_process>(
      std::vector<std::string>{"ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o",
                               "StrictHostKeyChecking=yes", "-o",
                               "UserKnownHostsFile=" + known_hosts_, "-o", "IdentitiesOnly=yes",
                               "-o", "IdentityAgent=none", "-i", alice_key_, "-p",
                               std::to_string(port_), login() + "@t1@127.0.0.1", command},
      (dir() / "client3").string()));
  ASSERT_TRUE(eventually(
      [&] {
        return json({"sessions", "--live"}).size() == 4;
      },
      std::chrono::seconds(30)))
      << read_file(log_);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(daemon_->stop(SIGTERM, std::chrono::seconds(30)), 0) << read_file(log_);
  const auto took = std::chrono::steady_clock::now() - start;
  daemon_.reset();
  EXPECT_GE(took, std::chrono::seconds(4));  // the sessions had their drain time
  EXPECT_LT(took, std::chrono::seconds(10)) << "drain_timeout is 5s";
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(clients[i]->wait_exit(std::chrono::seconds(10)));
    EXPECT_CONTAINS(read_file((dir() / ("client" + std::to_string(i))).string()),
                    "bastion: the bastion is shutting down; this session ends within 5s");
  }
  const auto rows = json({"sessions"});
  ASSERT_EQ(rows.size(), 4U);
  for (const auto& row : rows) {
    EXPECT_FALSE(row["ended_at"].is_null()) << row.dump();
    EXPECT_CONTAINS(admin({"verify", row["id"]}), "intact");
  }
}

// The client is killed in the middle of an upload: the target's command ends (the upstream is
// closed), the session ends with its reason, the recording verifies, and bastiond holds no more
// descriptors than before the session.
TEST_F(session_recording, a_client_that_vanishes_mid_transfer_frees_everything) {
  // First sessions open what bastiond keeps for good: the journal's database connection, and the
  // reactor of each io thread's context (connections are dealt to them in turn).
  const std::size_t warm_up = std::max(1U, std::thread::hardware_concurrency());
  for (std::size_t i = 0; i < warm_up; ++i) {
    ASSERT_EQ(exec(login() + "@t1", "true").exit_code, 0);
  }
  ASSERT_TRUE(eventually([&] { return json({"sessions"}).size() == warm_up; }));
  const std::size_t fds_before = open_fds(daemon_->pid());
  const std::string before = fd_targets(daemon_->pid());
  const auto pid_file = dir().path() / "remote.pid";
  child_process client({"sh", "-c",
                        "exec ssh -F " + jump_config_ + " " + login() + "@t1 'echo $$ > " +
                            pid_file.string() + "; exec cat > /dev/null' < /dev/zero"},
                       (dir() / "client.log").string());
  ASSERT_TRUE(eventually(
      [&] {
        const auto live = json({"sessions", "--live"});
        return live.size() == 1 && !read_file(pid_file.string()).empty();
      },
      std::chrono::seconds(30)))
      << read_file(log_);
  const pid_t remote = std::stoi(read_file(pid_file.string()));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // bytes in flight
  EXPECT_EQ(client.stop(SIGKILL), 128 + SIGKILL);
  const auto killed = std::chrono::steady_clock::now();

  EXPECT_TRUE(eventually([&] { return ::kill(remote, 0) != 0; }, std::chrono::seconds(20)))
      << "the target's command still runs: the upstream was not closed";
  nlohmann::json s;
  ASSERT_TRUE(eventually(
      [&] {
        const auto rows = json({"sessions"});
        s = rows.empty() ? nlohmann::json() : rows[0];  // newest first
        return rows.size() == warm_up + 1 && !s["ended_at"].is_null() && s["bytes_raw"] > 0;
      },
      std::chrono::seconds(20)));
  EXPECT_CONTAINS(s["ended_reason"].get<std::string>(), "client");
  EXPECT_GT(s["bytes_raw"].get<std::uint64_t>(), 1000000U) << s.dump();
  EXPECT_CONTAINS(admin({"verify", s["id"]}), "intact");
  EXPECT_TRUE(
      eventually([&] { return open_fds(daemon_->pid()) <= fds_before; }, std::chrono::seconds(20)))
      << open_fds(daemon_->pid()) << " descriptors open, " << fds_before << " before:\n"
      << before << "now:\n"
      << fd_targets(daemon_->pid()) << read_file(log_);
  std::printf("resources freed %.1f s after the client was killed\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count());
}

// The recording directory vanishes under a running bastion: fail_closed ends the session and
// says why; nothing of the command's output reaches the client.
TEST_F(session_recording, fail_closed_ends_a_session_that_cannot_be_recorded) {
  std::filesystem::remove_all(recording_dir());
  // No sleep: the command prints at once, and nothing may pass before its recording exists, not
  // even the command itself, which would leave its mark on the target.
  const auto mark = dir().path() / "ran";
  const auto r = exec(login() + "@t1", "touch " + mark.string() + "; echo must-not-pass");
  EXPECT_EQ(r.exit_code, 255) << r.out << r.err;
  EXPECT_CONTAINS(r.err,
                  "bastion: the session recording cannot be persisted (No such file or "
                  "directory)");
  EXPECT_EQ(r.out.find("must-not-pass"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(mark)) << "the command reached the target unrecorded";
  // Rows are written off the io threads: the session's may land after the client has gone.
  EXPECT_TRUE(eventually([&] {
    const auto now = json({"sessions"});
    return now.size() == 1 && !now[0]["ended_at"].is_null() &&
           now[0]["ended_reason"].get<std::string>().find("cannot be persisted") !=
               std::string::npos;
  })) << json({"sessions"}).dump();
  EXPECT_TRUE(eventually(
      [&] { return !audit_rows("kind = 'recording' AND result = 'error'", 1).empty(); }));
}

// A small tmpfs mounted over a directory for the test's lifetime, owned as the directory is: a disk
// that fills up. Detached at the end, so that files still open on it cannot keep it busy.
class tmpfs_mount {
 public:
  tmpfs_mount(std::filesystem::path at, const std::string& size) : at_(std::move(at)) {
    struct stat st {};
    if (::stat(at_.c_str(), &st) != 0) {
      error_ = "stat " + at_.string() + ": " + std::system_category().message(errno);
      return;
    }
    const std::string options = "size=" + size + ",mode=0700,uid=" + std::to_string(st.st_uid) +
                                ",gid=" + std::to_string(st.st_gid);
    if (::mount("tmpfs", at_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      error_ = "mount tmpfs on " + at_.string() + ": " + std::system_category().message(errno) +
               " (the recording tests run as root)";
      return;
    }
    mounted_ = true;
  }
  ~tmpfs_mount() {
    if (mounted_) {
      ::umount2(at_.c_str(), MNT_DETACH);
    }
  }
  tmpfs_mount(const tmpfs_mount&) = delete;
  tmpfs_mount& operator=(const tmpfs_mount&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  // Space freed: the same file system, grown to `size`.
  bool resize(const std::string& size) const {
    return ::mount("tmpfs", at_.c_str(), "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV,
                   ("size=" + size).c_str()) == 0;
  }

 private:
  std::filesystem::path at_;
  bool mounted_ = false;
  std::string error_;
};

// A small bound, below what a fast writer on tmpfs lets through unbounded (240 to 340 KiB past
// the recording when it was 64 MiB), so that the test tells the two apart.
class session_recording_small_bound : public session_recording {
 protected:
  static constexpr std::uint64_t bound = std::uint64_t{64} * 1024;
  std::string recording() const override { return "max_unpersisted_kib: 64"; }
};

// The disk fills up during a session: fail_closed ends it with its reason, and the client has
// received at most recording.max_unpersisted_kib more than the recording holds.
TEST_F(session_recording_small_bound,
       a_full_disk_lets_at_most_the_unpersisted_bound_reach_the_client) {
  const tmpfs_mount disk(recording_dir(), "2m");
  ASSERT_TRUE(disk.mounted()) << disk.error();
  const auto r = exec(login() + "@t1", "head -c 16000000 /dev/urandom");
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_CONTAINS(r.err, "bastion: the session recording cannot be persisted");
  nlohmann::json s;
  ASSERT_TRUE(eventually([&] {
    const auto rows = json({"sessions"});
    s = rows.empty() ? nlohmann::json() : rows[0];
    return rows.size() == 1 && !s["ended_at"].is_null();
  })) << json({"sessions"}).dump();
  const auto recorded = s["bytes_raw"].get<std::uint64_t>();
  std::printf("disk full: the client received %zu bytes, the recording holds %llu (bound %llu)\n",
              r.out.size(), static_cast<unsigned long long>(recorded),
              static_cast<unsigned long long>(bound));
  EXPECT_GT(recorded, 1000000U) << "the recording keeps what fitted: " << s.dump();
  EXPECT_LE(r.out.size(), recorded + bound) << s.dump();
  EXPECT_GT(s["lost_bytes"].get<std::uint64_t>(), 0U) << s.dump();
  EXPECT_CONTAINS(r.err, "(No space left on device)");
  const auto verified =
      run({bastion::test::bastionctl_path(), "--config", config_, "verify", s["id"]});
  EXPECT_EQ(verified.exit_code, 3) << verified.out << verified.err;
  EXPECT_CONTAINS(verified.out + verified.err,
                  "incomplete: " + std::to_string(s["lost_bytes"].get<std::uint64_t>()));
}

class session_recording_fail_open : public session_recording {
 protected:
  std::string recording() const override { return "failure_mode: fail_open"; }

  // The newest session's row once `count` sessions exist and the newest has ended (rows are
  // written off the io threads, after the client may have gone).
  nlohmann::json newest_ended(std::size_t count) const {
    nlohmann::json newest;
    EXPECT_TRUE(eventually([&] {
      const auto rows = json({"sessions"});
      newest = rows.empty() ? nlohmann::json() : rows[0];
      return rows.size() == count && !newest["ended_at"].is_null();
    })) << json({"sessions"}).dump();
    return newest;
  }
};

TEST_F(session_recording_fail_open, fail_open_lets_the_session_run_and_counts_lost_bytes) {
  std::filesystem::remove_all(recording_dir());
  const auto r = exec(login() + "@t1", "echo passes", "sixteen bytes!!\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "passes\n");
  nlohmann::json rows;
  EXPECT_TRUE(eventually([&] {
    rows = json({"sessions"});
    return rows.size() == 1 && !rows[0]["ended_at"].is_null();
  })) << rows.dump();
  EXPECT_GT(rows[0]["lost_bytes"].get<std::uint64_t>(), 0U) << rows.dump();
}

// The disk fills up under fail_open: the session runs to its end with every byte delivered, the
// bytes no recording holds are counted, and once there is room again the next session is
// recorded whole.
TEST_F(session_recording_fail_open, a_full_disk_loses_recording_not_the_session) {
  const tmpfs_mount disk(recording_dir(), "2m");
  ASSERT_TRUE(disk.mounted()) << disk.error();
  const auto r = exec(login() + "@t1", "head -c 16000000 /dev/urandom");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.size(), 16000000U);
  const nlohmann::json s = newest_ended(1);
  ASSERT_FALSE(s["ended_at"].is_null());
  const auto lost = s["lost_bytes"].get<std::uint64_t>();
  std::printf(
      "disk full, fail_open: the client received %zu bytes, the recording holds %llu, "
      "%llu counted as lost\n",
      r.out.size(), static_cast<unsigned long long>(s["bytes_raw"].get<std::uint64_t>()),
      static_cast<unsigned long long>(lost));
  EXPECT_GT(lost, 10000000U) << s.dump();
  const auto verified =
      run({bastion::test::bastionctl_path(), "--config", config_, "verify", s["id"]});
  EXPECT_EQ(verified.exit_code, 3) << verified.out << verified.err;

  ASSERT_TRUE(disk.resize("64m"));
  const auto next = exec(login() + "@t1", "head -c 1000000 /dev/urandom");
  EXPECT_EQ(next.out.size(), 1000000U);
  const nlohmann::json n = newest_ended(2);
  ASSERT_FALSE(n["ended_at"].is_null());
  EXPECT_EQ(n["lost_bytes"].get<std::uint64_t>(), 0U) << n.dump();
  const auto whole =
      run({bastion::test::bastionctl_path(), "--config", config_, "verify", n["id"]});
  EXPECT_EQ(whole.exit_code, 0) << whole.out << whole.err;
}

}  // namespace
}  // namespace bastion::test
