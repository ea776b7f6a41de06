// bastionctl sessions, verify, replay and export against real recordings and a real PostgreSQL,
// and bastiond's startup recovery of a session a crash left open.
#include <csignal>
#include <fstream>
#include <thread>

#include <bastion/policy/store.hpp>
#include <bastion/recorder/chunk_writer.hpp>

#include "bastionctl_support.hpp"
#include "build_paths.hpp"

namespace bastion::test {
namespace {

using namespace bastion::recorder;
using std::chrono::microseconds;

class recordings : public bastionctl_test {
 protected:
  void SetUp() override {
    bastionctl_test::SetUp();
    std::filesystem::create_directories(dir() / "rec");
    config_ = write_config(free_port());
    store_ = std::make_unique<policy::store>(conninfo_, "test", "test-node");
  }

  // A PTY session: typed input, output with a hostile title sequence, a resize, an exit status.
  std::vector<event> pty_session() const {
    return {
        {.type = event_type::session_start, .data = R"({"user":"alice","target":"web1"})"},
        {.type = event_type::channel_open,
         .channel = 0,
         .offset = microseconds(1000),
         .data = R"({"kind":"session"})"},
        {.type = event_type::channel_request,
         .channel = 0,
         .offset = microseconds(2000),
         .data = R"({"request":"pty-req","term":"xterm-256color","cols":120,"rows":40})"},
        {.type = event_type::data,
         .channel = 0,
         .offset = microseconds(500000),
         .stream = stream::input,
         .data = "ls\r"},
        {.type = event_type::data,
         .channel = 0,
         .offset = microseconds(600000),
         .stream = stream::output,
         .data = "ls\r\nfile-one\x1b]0;pwned\a  file-two\r\n"},
        {.type = event_type::window_change,
         .channel = 0,
         .offset = microseconds(700000),
         .cols = 100,
         .rows = 30},
        {.type = event_type::exit_status, .channel = 0, .offset = microseconds(800000), .code = 0},
        {.type = event_type::session_end, .offset = microseconds(900000), .data = "client closed"},
    };
  }

  // Writes the recording and its rows; ends the session unless `live`.
  std::string record(const std::vector<event>& events, bool live = false,
                     const std::string& user = "alice") {
    file_header header;
    header.id = random_session_id();
    header.started_unix_us = 1764064800000000;
    std::string id = to_string(header.id);
    store_->start_session(
        {id,
         "test-node",
         {user, "web1", "deploy", "127.0.0.1:50000", "SSH-2.0-OpenSSH_9.2", "jump"},
         recording_file_name(header.id)});
    auto sink = posix_file_sink::create(dir() / "rec", recording_file_name(header.id));
    chunk_writer writer(std::move(*sink), header);
    for (std::size_t i = 0; i < events.size(); ++i) {
      writer.add(events[i]);
      if (i % 3 == 2) {
        EXPECT_TRUE(writer.flush());
      }
    }
    EXPECT_TRUE(writer.flush());
    if (!live) {
      store_->end_session(id, "client closed",
                          {to_hex(writer.head()), writer.raw_bytes(), writer.stored_bytes(),
                           writer.chunk_count(), 0});
    }
    return id;
  }

  run_result ctl_cfg(std::vector<std::string> args) const {
    args.insert(args.begin(), {bastion::test::bastionctl_path(), "--config", config_});
    return run(args);
  }

  std::filesystem::path file_of(const std::string& id) const {
    return dir() / "rec" / (id + ".brec");
  }

  std::string config_;
  std::unique_ptr<policy::store> store_;
};

TEST_F(recordings, sessions_are_listed_and_filtered) {
  const std::string a = record(pty_session());
  const std::string b = record(pty_session(), true, "bob");
  const auto all = nlohmann::json::parse(ctl_cfg({"sessions", "--json"}).out);
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0]["source"], "127.0.0.1:50000");
  const auto live = nlohmann::json::parse(ctl_cfg({"sessions", "--live", "--json"}).out);
  ASSERT_EQ(live.size(), 1U);
  EXPECT_EQ(live[0]["id"], b);
  EXPECT_TRUE(live[0]["ended_at"].is_null());
  const auto alice = nlohmann::json::parse(ctl_cfg({"sessions", "--user", "alice", "--json"}).out);
  ASSERT_EQ(alice.size(), 1U);
  EXPECT_EQ(alice[0]["id"], a);
  EXPECT_EQ(alice[0]["ended_reason"], "client closed");
  EXPECT_TRUE(
      nlohmann::json::parse(ctl_cfg({"sessions", "--target", "db9", "--json"}).out).empty());
  EXPECT_EQ(
      nlohmann::json::parse(ctl_cfg({"sessions", "--since", "2000-01-01", "--json"}).out).size(),
      2U);
  EXPECT_EQ(ctl_cfg({"sessions", "--since", "yesterday-ish"}).exit_code, 1);
  EXPECT_CONTAINS(ctl_cfg({"sessions"}).out, "live");
}

// Intact chunks are not a whole recording: bytes the session moved that were not recorded make
// verify say so, with its own exit code.
TEST_F(recordings, verify_calls_a_recording_with_lost_bytes_incomplete) {
  const std::string id = record(pty_session());
  postgres_cluster::instance().psql(
      dbname_, "UPDATE recordings SET lost_bytes = 1234 WHERE session_id = '" + id + "'");
  const auto r = ctl_cfg({"verify", id});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_CONTAINS(r.err, "incomplete: 1234 bytes were not recorded; the 3 chunks kept are intact");
  EXPECT_EQ(r.out.find("intact,"), std::string::npos);
}

TEST_F(recordings, verify_passes_then_names_the_tampered_chunk) {
  const std::string id = record(pty_session());
  const auto good = ctl_cfg({"verify", id});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_CONTAINS(good.out, "intact, 3 chunks");

  std::string bytes = read_file(file_of(id).string());
  bytes[bytes.size() - 5] ^= 0x20;  // inside the last chunk's body
  std::ofstream(file_of(id), std::ios::binary | std::ios::trunc) << bytes;
  const auto bad = ctl_cfg({"verify", id});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_CONTAINS(bad.err, "chunk 2 is bad");

  EXPECT_EQ(ctl_cfg({"verify", "not-an-id"}).exit_code, 1);
  EXPECT_EQ(ctl_cfg({"verify", "00000000-0000-4000-8000-000000000000"}).exit_code, 1);
}

TEST_F(recordings, a_row_pointing_elsewhere_is_refused) {
  const std::string id = record(pty_session());
  postgres_cluster::instance().psql(dbname_, "UPDATE recordings SET path = '../../../etc/passwd'");
  const auto r = ctl_cfg({"verify", id});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "the database row was altered");
}

TEST_F(recordings, replay_prints_sanitized_output) {
  const std::string id = record(pty_session());
  const auto r = ctl_cfg({"replay", id, "--speed", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ls\r\nfile-one  file-two\r\n");
  const auto later = ctl_cfg({"replay", id, "--speed", "0", "--from", "0.65"});
  EXPECT_EQ(later.out, "");
}

TEST_F(recordings, asciicast_export_plays_in_asciinema) {
  const std::string id = record(pty_session());
  const auto cast = (dir() / "s.cast").string();
  const auto r = ctl_cfg({"export", id, "--format", "asciicast", "-o", cast});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(cast);
  std::string line;
  std::vector<nlohmann::json> lines;
  while (std::getline(in, line)) {
    lines.push_back(nlohmann::json::parse(line));
  }
  ASSERT_EQ(lines.size(), 4U);
  EXPECT_EQ(lines[0]["version"], 2);
  EXPECT_EQ(lines[0]["width"], 120);
  EXPECT_EQ(lines[0]["height"], 40);
  EXPECT_EQ(lines[0]["env"]["TERM"], "xterm-256color");
  EXPECT_EQ(lines[1], nlohmann::json::parse(R"([0.5, "i", "ls\r"])"));
  EXPECT_EQ(lines[2][1], "o");
  EXPECT_EQ(lines[2][2], "ls\r\nfile-one  file-two\r\n");
  EXPECT_EQ(lines[3], nlohmann::json::parse(R"([0.7, "r", "100x30"])"));

  // asciinema reads keys from /dev/tty even for `cat`: give it a terminal with script(1).
  const auto cat = run({"script", "-qec", "asciinema cat " + cast, "/dev/null"},
                       {.extra_env = {"HOME=" + dir().path().string()}});
  EXPECT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_CONTAINS(cat.out, "file-one  file-two");
}

TEST_F(recordings, raw_export_keeps_exec_streams_apart) {
  const std::string id = record({
      {.type = event_type::channel_open, .channel = 3, .data = R"({"kind":"session"})"},
      {.type = event_type::channel_request,
       .channel = 3,
       .data = R"({"request":"exec","command":"tar cz /etc"})"},
      {.type = event_type::data,
       .channel = 3,
       .stream = stream::input,
       .data = std::string("in\0put", 6)},
      {.type = event_type::data,
       .channel = 3,
       .stream = stream::output,
       .data = std::string("\x1f\x8b\x08\x00", 4)},
      {.type = event_type::data,
       .channel = 3,
       .stream = stream::error,
       .data = "tar: removing leading /"},
      {.type = event_type::exit_status, .channel = 3, .code = 2},
  });
  const auto out = dir() / "streams";
  const auto r = ctl_cfg({"export", id, "--format", "raw", "-o", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file((out / "ch3.stdout").string()), std::string("\x1f\x8b\x08\x00", 4));
  EXPECT_EQ(read_file((out / "ch3.stderr").string()), "tar: removing leading /");
  EXPECT_EQ(read_file((out / "ch3.stdin").string()), std::string("in\0put", 6));
  const auto meta = nlohmann::json::parse(read_file((out / "ch3.json").string()));
  ASSERT_EQ(meta.size(), 3U);
  EXPECT_EQ(meta[1]["detail"]["command"], "tar cz /etc");
  EXPECT_EQ(meta[2]["event"], "exit_status");
  EXPECT_EQ(meta[2]["code"], 2);
}

TEST_F(recordings, bastiond_finalises_a_session_left_open_by_a_crash) {
  const std::string id = record(pty_session(), true);
  // A crash mid-write: half of a chunk at the end of the file.
  const std::string bytes = read_file(file_of(id).string());
  std::ofstream(file_of(id), std::ios::binary | std::ios::app) << bytes.substr(40, 70);
  EXPECT_EQ(ctl_cfg({"verify", id}).exit_code, 1) << "the torn tail must show before recovery";

  const std::string log = (dir() / "bastiond.log").string();
  child_process daemon({bastion::test::bastiond_path(), "--config", config_}, log);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (read_file(log).find("listening on") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_CONTAINS(read_file(log), "finalised 1 session(s) left open by a crash");
  EXPECT_EQ(daemon.stop(SIGTERM), 0);

  const auto sessions = nlohmann::json::parse(ctl_cfg({"sessions", "--json"}).out);
  ASSERT_EQ(sessions.size(), 1U);
  EXPECT_EQ(sessions[0]["ended_reason"], "crash");
  const auto verify = ctl_cfg({"verify", id});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_CONTAINS(verify.out, "intact, 3 chunks");
  EXPECT_EQ(read_file(file_of(id).string()), bytes) << "exactly the torn tail is cut";
}

}  // namespace
}  // namespace bastion::test
