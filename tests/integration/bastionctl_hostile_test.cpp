// SQL-hostile and terminal-hostile input: rejected with a bounded message, or stored verbatim and
// shown escaped, never executed.
#include <bastion/policy/store.hpp>

#include "bastionctl_support.hpp"
#include "sshd.hpp"

namespace bastion::test {
namespace {

using namespace std::string_literals;

class hostile : public bastionctl_test {
 protected:
  std::string users_table_count() const {
    return postgres_cluster::instance().psql(dbname_, "SELECT count(*) FROM users");
  }
};

TEST_F(hostile, sql_in_names_is_rejected_and_harmless) {
  ok({"user", "add", "alice"});
  for (const std::string& name :
       {"'; DROP TABLE users; --"s, "alice' OR '1'='1"s, "bob\"; DELETE FROM users; --"s,
        "robert'); DROP TABLE grants;--"s}) {
    const auto r = ctl({"user", "add", name});
    EXPECT_EQ(r.exit_code, 1) << name;
    EXPECT_CONTAINS(r.err, "may only hold letters, digits");
    EXPECT_EQ(ctl({"user", "disable", name}).exit_code, 1);
    EXPECT_EQ(ctl({"grants", "--user", name}).exit_code, 1);
    EXPECT_EQ(ctl({"target", "remove", name}).exit_code, 1);
    EXPECT_EQ(ctl({"key", "remove", name}).exit_code, 1);
  }
  EXPECT_EQ(users_table_count(), "1\n");
  EXPECT_EQ(json({"user", "list"})[0]["disabled"], false);
}

TEST_F(hostile, invalid_utf8_control_characters_and_huge_names_are_rejected_with_bounded_messages) {
  const std::string huge(std::size_t{64} * 1024, 'a');
  for (const std::string& name :
       {"al\xffice"s, "\xc0\xaf"s, "a\x1b]0;pwned\x07"s, "line\nbreak"s, huge, huge + "'"}) {
    const auto r = ctl({"user", "add", name});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_LT(r.err.size(), 600U) << "the message must be bounded";
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << "no raw escape may reach the terminal";
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(
        ctl({"target", "add", name, "--host", "h", "--host-key", "ssh-ed25519 AAAA"}).exit_code, 1);
  }
  EXPECT_EQ(users_table_count(), "0\n");
}

TEST_F(hostile, nul_bytes_never_cut_a_value_short) {
  // argv cannot carry NUL, but the library boundary can (the admin HTTP API will): a value with NUL
  // must be refused, not silently truncated to "alice".
  ok({"user", "add", "alice"});
  policy::store store(conninfo_, "test", "test-node");
  EXPECT_THROW(store.disable_user("alice\0x"s), policy::store_error);
  EXPECT_THROW(store.add_user("eve\0"s, false), policy::store_error);
  EXPECT_THROW(store.list_grants("alice\0"s), policy::store_error);
  EXPECT_EQ(json({"user", "list"})[0]["disabled"], false);
  const auto keyfile = make_ssh_key(dir(), "k", "ed25519");
  std::string line = read_file(keyfile + ".pub");
  line = line.substr(0, line.find('\n')) + " with\0nul"s;
  EXPECT_EQ(ctl({"key", "add", "alice", "-"}, line).exit_code, 1);
}

TEST_F(hostile, key_comments_are_stored_verbatim_and_printed_escaped) {
  ok({"user", "add", "alice"});
  const auto keyfile = make_ssh_key(dir(), "k", "ed25519");
  std::string line = read_file(keyfile + ".pub");
  line = line.substr(0, line.find(' ', line.find(' ') + 1));  // TYPE BASE64, without the comment
  const std::string comment = "'; DROP TABLE users; -- \x1b]52;c;ZXZpbA==\x07 \xe2\x9c\x93";
  ok({"key", "add", "alice", "-"}, line + " " + comment + "\n");
  const auto keys = json({"key", "list"});
  ASSERT_EQ(keys.size(), 1U);
  EXPECT_EQ(keys[0]["comment"], comment);
  const std::string table = ok({"key", "list"});
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << "the table must not carry raw escapes";
  EXPECT_CONTAINS(table, "\\x1b]52;c;ZXZpbA==\\x07");
  EXPECT_EQ(users_table_count(), "1\n");
}

}  // namespace
}  // namespace bastion::test
