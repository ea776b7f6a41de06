// The journal (audit and session rows on their way to PostgreSQL) against a database that is away
// or slow: rows wait, none is dropped to make room, and past the backlog bound the bastion stops
// admitting new connections until the database has caught up.
#include <csignal>

#include <bastion/policy/journal.hpp>

#include "bastionctl_support.hpp"

namespace bastion::test {
namespace {

class journal_behind : public bastionctl_test {
 protected:
  static policy::audit_event row(int i) {
    return {"test", "ok", "actor-" + std::to_string(i), "127.0.0.1:1", "", "{}"};
  }
  int rows_of(const std::string& kind) const {
    return count_rows("audit_events WHERE kind = '" + kind + "'");
  }
};

TEST_F(journal_behind, an_unreachable_database_keeps_every_row_and_closes_admission) {
  policy::journal journal("host=/nonexistent dbname=none", "test-node", 10);
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
    policy::journal journal(conninfo_, "test-node", 10);
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

}  // namespace
}  // namespace bastion::test
