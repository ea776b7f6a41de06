// PostgreSQL going away while sessions run and coming back: sessions go on, logins go on from the
// last good policy snapshot, and the rows that wait meanwhile (the sessions' starts and ends)
// are written once the database is back, without a restart of bastiond. They wait in the journal
// spool on disk, so that a bastiond killed during the outage loses none of them either.
#include <cstdio>
#include <thread>

#include <bastion/common/metrics.hpp>

#include "build_paths.hpp"
#include "target_support.hpp"

namespace bastion::test {
namespace {

using namespace std::chrono_literals;

class database_fault : public jump_session {
 protected:
  void TearDown() override {
    if (stopped_) {
      postgres_cluster::instance().start();  // for the tests after this one
    }
    jump_session::TearDown();
  }
  // Every row a journal entry becomes: an audit row, a session's start and its end, a channel.
  int journal_rows() const {
    return count_rows("audit_events") + count_rows("sessions") +
           count_rows("sessions WHERE ended_at IS NOT NULL") + count_rows("channels") +
           count_rows("search_documents");
  }
  bool stopped_ = false;
};

TEST_F(database_fault, a_restart_mid_session_loses_no_row_and_policy_follows_again) {
  auto& pg = postgres_cluster::instance();
  ASSERT_EQ(exec(login() + "@t1", "echo warm").out, "warm\n");
  const int ended_before = count_rows("sessions WHERE ended_at IS NOT NULL");

  run_result spanning;
  // A jthread: an assertion that returns early still waits for the session.
  std::jthread session(
      [&] { spanning = exec(login() + "@t1", "echo before; sleep 5; echo after"); });
  ASSERT_TRUE(eventually([&] { return count_rows("sessions") == ended_before + 1; }, 20s));
  stopped_ = true;  // first: a stop that fails half way is still undone in TearDown
  pg.stop();
  // Logins go on from the last good snapshot while the database is away.
  const auto during = exec(login() + "@t1", "echo during");
  std::this_thread::sleep_for(2s);
  const int reloads_while_down = count_in_log("policy reloaded");  // none can succeed now
  pg.start();
  stopped_ = false;
  const auto back = std::chrono::steady_clock::now();
  session.join();

  EXPECT_EQ(spanning.out, "before\nafter\n") << spanning.err;
  EXPECT_EQ(during.out, "during\n") << during.err;
  // Every row that waited is written: the second session's start, and both sessions' ends.
  EXPECT_TRUE(eventually(
      [&] { return count_rows("sessions WHERE ended_at IS NOT NULL") == ended_before + 2; }, 60s))
      << json({"sessions"}).dump() << read_file(log_);
  const std::chrono::duration<double> landed = std::chrono::steady_clock::now() - back;
  const std::string scrape = this->scrape();
  std::printf(
      "database restart: the rows that waited landed %.1fs after PostgreSQL was back; "
      "%.0f database errors counted, %.0f rows dropped\n",
      landed.count(), metrics::value_of(scrape, "bastion_db_errors_total").value_or(-1),
      metrics::value_of(scrape, "bastion_journal_dropped_rows_total").value_or(-1));
  EXPECT_EQ(metrics::value_of(scrape, "bastion_journal_dropped_rows_total"), 0);
  for (const auto& s : json({"sessions"})) {
    const auto verified = run({bastion::test::bastionctl_path(), "--config", config_, "verify",
                               s["id"].get<std::string>()});
    EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  }
  // bastiond follows policy changes again. It reloads once on reconnecting; only a change after
  // that shows that it follows the database again.
  ASSERT_TRUE(
      eventually([&] { return count_in_log("policy reloaded") > reloads_while_down; }, 30s));
  change_policy([&] { ok({"grant", "alice", "t1", "--login", "other"}); });
}

TEST_F(database_fault, a_crash_during_an_outage_loses_no_row) {
  auto& pg = postgres_cluster::instance();
  ASSERT_EQ(exec(login() + "@t1", "echo warm").out, "warm\n");
  const auto gauge = [&](const char* name) {
    return metrics::value_of(scrape(), name).value_or(-1);
  };
  ASSERT_TRUE(eventually([&] { return gauge("bastion_journal_queue_rows") == 0; }, 20s));
  const int rows_before = journal_rows();
  const int sessions_before = count_rows("sessions");
  const int channels_before = count_rows("channels");

  stopped_ = true;
  pg.stop();
  constexpr int sessions = 6;
  for (int i = 0; i < sessions; ++i) {
    const auto r = exec(login() + "@t1", "echo outage-" + std::to_string(i));
    ASSERT_EQ(r.out, "outage-" + std::to_string(i) + "\n") << r.err;
  }
  // Every row of those sessions is on disk once the spool holds all that waits and stops growing
  // (a session's end row follows its recording's last write) past `above`.
  const auto settled = [&](double above) {
    double spooled = 0;
    EXPECT_TRUE(eventually(
        [&] {
          const double before = gauge("bastion_journal_spool_rows");
          std::this_thread::sleep_for(500ms);
          spooled = gauge("bastion_journal_spool_rows");
          return spooled > above && spooled == before &&
                 gauge("bastion_journal_queue_rows") == spooled;
        },
        30s))
        << read_file(log_);
    return spooled;
  };
  const double ended_sessions = settled(0);
  // One more, live when bastiond is killed: only its start is in the spool, and crash recovery at
  // the next start must find it there and end it.
  std::jthread live([&] { exec(login() + "@t1", "sleep 60"); });
  ASSERT_TRUE(
      eventually([&] { return gauge("bastion_channels_active{kind=\"exec\"}") == 1; }, 20s));
  const double spooled = settled(ended_sessions);
  const int code = daemon_->stop(SIGKILL);
  EXPECT_EQ(code, 128 + SIGKILL);
  pg.start();
  stopped_ = false;

  const auto restarted = std::chrono::steady_clock::now();
  log_ = (dir() / "bastiond-after-crash.log").string();
  daemon_ = start_bastiond(config_, log_);
  ASSERT_TRUE(daemon_);
  EXPECT_TRUE(eventually([&] { return journal_rows() - rows_before >= spooled; }, 30s))
      << read_file(log_);
  const std::chrono::duration<double> replayed = std::chrono::steady_clock::now() - restarted;
  std::printf(
      "crash during an outage: %d sessions ran with PostgreSQL away and one was live; %.0f journal "
      "rows were in the spool when bastiond was killed; %d rows landed %.1fs after the restart\n",
      sessions, spooled, journal_rows() - rows_before, replayed.count());
  // Exactly those rows, none lost, none written twice, and the live session's end, from crash
  // recovery.
  EXPECT_EQ(journal_rows() - rows_before, static_cast<int>(spooled) + 1);
  EXPECT_EQ(count_rows("sessions"), sessions_before + sessions + 1);
  EXPECT_EQ(count_rows("sessions WHERE ended_reason = 'crash'"), 1);
  EXPECT_EQ(count_rows("channels"), channels_before + sessions);
  EXPECT_LOGGED("holds " + std::to_string(static_cast<int>(spooled)) +
                " rows from before this start; replaying them");
  EXPECT_LOGGED("journal spool replayed: " + std::to_string(static_cast<int>(spooled)) + " rows");
  EXPECT_LOGGED("finalised 1 session(s) left open by a crash");
  for (const auto& s : json({"sessions"})) {
    EXPECT_FALSE(s["ended_at"].is_null()) << s.dump();
    const auto verified = run({bastion::test::bastionctl_path(), "--config", config_, "verify",
                               s["id"].get<std::string>()});
    EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  }
}

// Away for longer than policy.max_staleness: new logins are refused with the reason while
// sessions already in go on, and admitted again once the database is back.
class database_stale : public database_fault {
 protected:
  std::string policy() const override { return "max_staleness: 3s"; }
};

TEST_F(database_stale, logins_wait_for_the_database_past_max_staleness) {
  auto& pg = postgres_cluster::instance();
  ASSERT_EQ(exec(login() + "@t1", "echo warm").out, "warm\n");
  run_result spanning;
  std::jthread session([&] { spanning = exec(login() + "@t1", "echo in; sleep 7; echo still"); });
  std::this_thread::sleep_for(1s);
  stopped_ = true;
  const auto down = std::chrono::steady_clock::now();  // staleness runs from about here
  pg.stop();
  const auto early = exec(login() + "@t1", "echo early");  // within max_staleness
  const std::chrono::duration<double> early_at = std::chrono::steady_clock::now() - down;
  std::this_thread::sleep_for(4s);
  // Without -q: the refusal comes before the SSH banner, and ssh prints it as a diagnostic.
  const auto late = ssh(login() + "@t1", {alice_key_}, {}, "echo late");
  pg.start();
  stopped_ = false;
  const auto up = std::chrono::steady_clock::now();
  session.join();
  run_result again;
  ASSERT_TRUE(eventually(
      [&] {
        again = exec(login() + "@t1", "echo again");
        return again.out == "again\n";
      },
      40s))
      << again.err << read_file(log_);
  const std::chrono::duration<double> recovered = std::chrono::steady_clock::now() - up;
  std::printf(
      "stale policy: a login %.1fs into the outage went in; one past max_staleness (3s) "
      "was refused; logins came back %.1fs after PostgreSQL did\n",
      early_at.count(), recovered.count());
  EXPECT_EQ(early.out, "early\n") << early.err;
  EXPECT_EQ(late.exit_code, 255);
  EXPECT_CONTAINS(late.err,
                  "the bastion cannot reach its policy database, so it cannot check "
                  "logins; try again later");
  EXPECT_EQ(late.out.find("late"), std::string::npos);
  EXPECT_EQ(spanning.out, "in\nstill\n") << spanning.err;
  EXPECT_LOGGED("(policy.max_staleness 3s); check the database");
  EXPECT_GE(metrics::value_of(scrape(), "bastion_preauth_rejects_total{reason=\"policy_stale\"}"),
            1);
}

}  // namespace
}  // namespace bastion::test
