// Migrations against a real PostgreSQL: from empty, re-run, concurrent nodes, and the refusals.
#include <gtest/gtest.h>

#include <thread>

#include <bastion/policy/migrate.hpp>
#include <bastion/policy/store.hpp>

#include "bastionctl_support.hpp"
#include "build_paths.hpp"

namespace bastion::test {
namespace {

using policy::migrate;
using policy::store_error;

class migrations : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = postgres_cluster::instance().fresh_database();
    db_ = conninfo_.substr(conninfo_.find("dbname=") + 7);
    db_ = db_.substr(0, db_.find(' '));
  }
  std::string sql(const std::string& query) const {
    return postgres_cluster::instance().psql(db_, query);
  }
  std::string conninfo_;
  std::string db_;
};

TEST_F(migrations, apply_from_empty_then_rerun_is_a_no_op) {
  const auto first = migrate(conninfo_);
  EXPECT_EQ(first.from_version, 0);
  EXPECT_EQ(first.to_version, 7);
  EXPECT_EQ(first.applied,
            (std::vector<std::string>{"0001_init", "0002_policy_version", "0003_audit_event_id",
                                      "0004_groups_labels_grant_limits",
                                      "0005_grant_session_and_forward_options", "0006_admin_tokens",
                                      "0007_search_index"}));
  EXPECT_EQ(
      sql("SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables "
          "WHERE table_schema = 'public'"),
      "admin_tokens,audit_events,channels,grants,group_members,groups,policy_version,recordings,"
      "schema_migrations,search_documents,sessions,target_host_keys,target_labels,targets,"
      "user_keys,users\n");
  const auto again = migrate(conninfo_);
  EXPECT_EQ(again.from_version, 7);
  EXPECT_EQ(again.to_version, 7);
  EXPECT_TRUE(again.applied.empty());
  EXPECT_EQ(sql("SELECT count(*) FROM schema_migrations"), "7\n");
}

TEST_F(migrations, two_nodes_migrating_at_once_apply_each_migration_once) {
  for (int round = 0; round < 3; ++round) {
    SetUp();  // a fresh database each round
    run_result a;
    run_result b;
    std::thread ta([&] {
      a = run({bastion::test::bastionctl_path(), "--db", conninfo_, "migrate"});
    });
    std::thread tb([&] {
      b = run({bastion::test::bastionctl_path(), "--db", conninfo_, "migrate"});
    });
    ta.join();
    tb.join();
    EXPECT_EQ(a.exit_code, 0) << a.err;
    EXPECT_EQ(b.exit_code, 0) << b.err;
    // Exactly one of them applied the migration; the other found it done.
    EXPECT_EQ((a.out.find("applied 0001_init") != std::string::npos) +
                  (b.out.find("applied 0001_init") != std::string::npos),
              1)
        << a.out << b.out;
    EXPECT_EQ(sql("SELECT count(*) FROM schema_migrations"), "7\n");
  }
}

TEST_F(migrations, an_edited_migration_is_refused) {
  migrate(conninfo_);
  sql("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1");
  try {
    migrate(conninfo_);
    FAIL() << "no error";
  } catch (const store_error& e) {
    EXPECT_CONTAINS(e.what(), "0001_init was changed after it was applied");
  }
}

TEST_F(migrations, a_newer_schema_is_refused) {
  migrate(conninfo_);
  sql("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, '9999_future', 'x')");
  try {
    migrate(conninfo_);
    FAIL() << "no error";
  } catch (const store_error& e) {
    EXPECT_CONTAINS(e.what(), "version 9999, newer than this build");
  }
}

TEST_F(migrations, an_unreachable_database_names_the_conninfo_but_never_the_password) {
  const std::string bad = "host=/nonexistent/socket dbname=bastion user=bastion password=sekret-pw";
  try {
    migrate(bad);
    FAIL() << "no error";
  } catch (const store_error& e) {
    EXPECT_EQ(e.code(), store_error::kind::unavailable);
    EXPECT_CONTAINS(e.what(), "host=/nonexistent/socket");
    EXPECT_EQ(std::string(e.what()).find("sekret-pw"), std::string::npos) << e.what();
  }
  const auto r = run({bastion::test::bastionctl_path(), "--db",
                      "postgresql://bastion:sekret-pw@/bastion?host=/nonexistent", "user", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "cannot reach PostgreSQL");
  EXPECT_EQ(r.err.find("sekret-pw"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace bastion::test
