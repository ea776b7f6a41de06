// The journal (audit and session rows on their way to PostgreSQL) against a database that is away
// or slow: rows wait, none is dropped to make room, and past the backlog bound the bastion stops
// admitting new connections until the database has caught up. Rows that the database cannot take
// go to the spool on disk, and a later start replays them, once each, with their own times.
#include <csignal>
#include <filesystem>

#include <bastion/policy/journal.hpp>
#include <bastion/policy/store.hpp>

#include "bastionctl_support.hpp"

namespace bastion::test {
namespace {

class journal_behind : public bastionctl_test {
 public:
  static policy::audit_event row(int i) {
    return {"test", "ok", "actor-" + std::to_string(i), "127.0.0.1:1", "", "{}"};
  }

 protected:
  int rows_of(const std::string& kind) const {
    return count_rows("audit_events WHERE kind = '" + kind + "'");
  }
};

TEST_F(journal_behind, an_unreachable_database_keeps_every_row_and_closes_admission) {
  policy::journal journal("host=/nonexistent dbname=none", "test-node", journal_dir(), 10);
  for (int i = 0; i < 30; ++i) {
    journal.record(row(i));
    EXPECT_EQ(journal.accepting_connections(), i + 1 < 10) << i;
  }
  EXPECT_EQ(journal.backlog(), 30U);
  EXPECT_EQ(journal.dropped(), 0U);
}

TEST_F(journal_behind, rows_held_by_a_slow_database_all_land_once_it_takes_them) {
  auto lock = lock_audit_table();
  {
    policy::journal journal(conninfo_, "test-node", journal_dir(), 10);
    for (int i = 0; i < 30; ++i) {
      journal.record(row(i));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(journal.accepting_connections());
    EXPECT_EQ(rows_of("test"), 0);
    unlock_audit_table();
    EXPECT_TRUE(eventually([&] { return journal.backlog() == 0; }, std::chrono::seconds(20)));
    EXPECT_TRUE(journal.accepting_connections());
    EXPECT_EQ(journal.dropped(), 0U);
  }
  EXPECT_EQ(rows_of("test"), 30);
}

constexpr const char* unreachable = "host=/nonexistent dbname=none";
constexpr const char* spooled_session = "5d2f6c1e-8b3a-4c7d-9e0f-1a2b3c4d5e6f";

// 30 audit rows, and one session's start, channel and end, which must land in that order.
void record_outage_rows(policy::journal& journal) {
  journal.record(
      policy::session_start{spooled_session,
                            "test-node",
                            {"alice", "web", "deploy", "127.0.0.1:1", "SSH-2.0-t", "jump"},
                            "x.bsr"});
  for (int i = 0; i < 30; ++i) {
    auto r = journal_behind::row(i);
    r.kind = "spooled";
    journal.record(r);
  }
  journal.record(policy::channel_row{spooled_session, 0, "session", "{}", 1, 2, 0, "", 3, 4});
  journal.record(policy::session_end{spooled_session, "client closed", 0, {"ab", 5, 6, 1, 0}});
}

TEST_F(journal_behind, rows_spooled_through_an_outage_are_replayed_by_the_next_start) {
  {
    policy::journal journal(unreachable, "test-node", journal_dir(), 1000);
    record_outage_rows(journal);
    ASSERT_TRUE(eventually([&] { return journal.spooled() == 33; })) << journal.spooled();
    EXPECT_EQ(journal.backlog(), 33U);
  }  // as a restart would: the rows stay on disk
  EXPECT_GT(std::filesystem::file_size(journal_dir() / "journal.spool"), 33U * 40);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  {
    policy::journal journal(conninfo_, "test-node", journal_dir(), 1000);
    EXPECT_EQ(journal.spooled(), 33U);  // counted at open, before the first write
    ASSERT_TRUE(eventually([&] { return journal.backlog() == 0; }, std::chrono::seconds(20)));
    EXPECT_EQ(journal.written(), 33U);
    EXPECT_EQ(journal.dropped(), 0U);
  }
  EXPECT_EQ(rows_of("spooled"), 30);
  // Each row carries the time it happened, a second before it reached the database.
  EXPECT_EQ(count_rows("audit_events WHERE kind = 'spooled' AND at < now() - interval '1 second'"),
            30);
  EXPECT_EQ(count_rows(std::string("sessions WHERE id = '") + spooled_session +
                       "' AND ended_reason = 'client closed' AND ended_at < now() - "
                       "interval '1 second'"),
            1);
  EXPECT_EQ(count_rows(std::string("channels WHERE session_id = '") + spooled_session + "'"), 1);
  EXPECT_EQ(std::filesystem::file_size(journal_dir() / "journal.spool"), 8U);
}

// A crash in the middle of a replay leaves the spool whole (it is cut back only once every row is
// in): the next start writes the same rows again, and each still lands once.
TEST_F(journal_behind, a_replay_that_runs_twice_writes_each_row_once) {
  const auto spool = journal_dir() / "journal.spool";
  const auto copy = dir().path() / "spool-before-replay";
  {
    policy::journal journal(unreachable, "test-node", journal_dir(), 1000);
    record_outage_rows(journal);
    ASSERT_TRUE(eventually([&] { return journal.spooled() == 33; }));
  }
  std::filesystem::copy_file(spool, copy);
  for (int run = 0; run < 2; ++run) {
    std::filesystem::copy_file(copy, spool, std::filesystem::copy_options::overwrite_existing);
    policy::journal journal(conninfo_, "test-node", journal_dir(), 1000);
    ASSERT_TRUE(eventually([&] { return journal.backlog() == 0; }, std::chrono::seconds(20)));
    EXPECT_EQ(journal.dropped(), 0U) << run;
  }
  EXPECT_EQ(rows_of("spooled"), 30);
  EXPECT_EQ(count_rows(std::string("channels WHERE session_id = '") + spooled_session + "'"), 1);
}

// bastiond's start replays the spool before crash recovery, synchronously; with PostgreSQL still
// away it fails and leaves the spool whole for the next try.
TEST_F(journal_behind, the_replay_at_start_writes_what_a_crash_left_or_leaves_it_whole) {
  {
    policy::journal journal(unreachable, "test-node", journal_dir(), 1000);
    record_outage_rows(journal);
    ASSERT_TRUE(eventually([&] { return journal.spooled() == 33; }));
  }
  const auto spool = journal_dir() / "journal.spool";
  const auto size = std::filesystem::file_size(spool);
  EXPECT_THROW(policy::replay_journal_spool(unreachable, "test-node", journal_dir()),
               policy::store_error);
  EXPECT_EQ(std::filesystem::file_size(spool), size);
  EXPECT_EQ(policy::replay_journal_spool(conninfo_, "test-node", journal_dir()), 33U);
  EXPECT_EQ(rows_of("spooled"), 30);
  EXPECT_EQ(count_rows(std::string("sessions WHERE id = '") + spooled_session +
                       "' AND ended_at IS NOT NULL"),
            1);
  EXPECT_EQ(std::filesystem::file_size(spool), 8U);
  EXPECT_EQ(policy::replay_journal_spool(conninfo_, "test-node", journal_dir()), 0U);
}

// Rows that arrive while the spool is being replayed land after every spooled row, and the spool is
// cut back to empty even though rows keep arriving.
TEST_F(journal_behind, rows_recorded_during_a_replay_land_after_it_and_the_spool_empties) {
  constexpr int spooled = 3000;
  constexpr int during = 3000;
  {
    policy::journal journal(unreachable, "test-node", journal_dir(), 10000);
    for (int i = 0; i < spooled; ++i) {
      auto r = row(i);
      r.kind = "spooled";
      journal.record(r);
    }
    ASSERT_TRUE(eventually([&] { return journal.spooled() == spooled; }));
  }
  {
    policy::journal journal(conninfo_, "test-node", journal_dir(), 10000);
    for (int i = 0; i < during; ++i) {
      auto r = row(i);
      r.kind = "during";
      journal.record(r);
    }
    ASSERT_TRUE(eventually([&] { return journal.backlog() == 0; }, std::chrono::seconds(30)));
    EXPECT_EQ(journal.dropped(), 0U);
  }
  EXPECT_EQ(rows_of("spooled"), spooled);
  EXPECT_EQ(rows_of("during"), during);
  EXPECT_EQ(count_rows("audit_events a WHERE kind = 'during' AND id < (SELECT max(id) FROM "
                       "audit_events WHERE kind = 'spooled')"),
            0);
  EXPECT_EQ(std::filesystem::file_size(journal_dir() / "journal.spool"), 8U);
}

}  // namespace
}  // namespace bastion::test
