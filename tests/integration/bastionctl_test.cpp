// Every bastionctl command against a real PostgreSQL, with --json output parsed and checked.
#include "bastionctl_support.hpp"
#include "build_paths.hpp"
#include "sshd.hpp"

namespace bastion::test {
namespace {

std::string pub_line(const std::string& key_path) {
  const std::string text = read_file(key_path + ".pub");
  return text.substr(0, text.find('\n'));
}

class bastionctl : public bastionctl_test {
 protected:
  std::string key(const std::string& name, const std::string& type = "ed25519", int bits = 0) {
    return make_ssh_key(dir(), name, type, bits, name + "@laptop");
  }
};

TEST_F(bastionctl, usage_errors_exit_2) {
  EXPECT_EQ(ctl({}).exit_code, 2);
  EXPECT_EQ(ctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(ctl({"user", "add"}).exit_code, 2);
  EXPECT_EQ(ctl({"grant", "alice", "web1"}).exit_code, 2);  // --login missing
  const auto help = ctl({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_CONTAINS(help.out, "known-hosts");
}

TEST_F(bastionctl, migrate_reports_up_to_date) {
  EXPECT_EQ(ok({"migrate"}), "schema at version 7 (up to date)\n");
}

TEST_F(bastionctl, users_add_list_disable) {
  EXPECT_EQ(ok({"user", "add", "alice"}), "added user alice\n");
  ok({"user", "add", "bob", "--admin", "--key", key("bob") + ".pub"});
  const auto dup = ctl({"user", "add", "alice"});
  EXPECT_EQ(dup.exit_code, 1);
  EXPECT_CONTAINS(dup.err, "user \"alice\" exists already");
  const auto root = ctl({"user", "add", "root"});
  EXPECT_EQ(root.exit_code, 1);
  EXPECT_CONTAINS(root.err, "PermitRootLogin no");
  ok({"user", "disable", "alice"});
  EXPECT_EQ(ctl({"user", "disable", "carol"}).exit_code, 1);

  const auto users = json({"user", "list"});
  ASSERT_EQ(users.size(), 2U);
  EXPECT_EQ(users[0]["name"], "alice");
  EXPECT_EQ(users[0]["disabled"], true);
  EXPECT_EQ(users[0]["admin"], false);
  EXPECT_EQ(users[0]["keys"], 0);
  EXPECT_EQ(users[1]["name"], "bob");
  EXPECT_EQ(users[1]["admin"], true);
  EXPECT_EQ(users[1]["keys"], 1);
  EXPECT_TRUE(users[1]["created_at"].get<std::string>().ends_with("Z"));
  const std::string table = ok({"user", "list"});
  EXPECT_CONTAINS(table, "NAME   ADMIN  STATUS    KEYS");
  EXPECT_CONTAINS(table, "alice  no     disabled  0");
}

TEST_F(bastionctl, keys_add_list_remove) {
  ok({"user", "add", "alice"});
  ok({"user", "add", "bob"});
  const std::string ed = key("ed");
  const std::string ec = key("ec", "ecdsa", 384);
  const std::string rsa = key("rsa", "rsa", 3072);
  const std::string out = ok({"key", "add", "alice", ed + ".pub"});
  EXPECT_CONTAINS(out, "added key SHA256:");
  // From stdin, an authorized_keys file with options and comments.
  ok({"key", "add", "alice", "-"},
     "# alice's other keys\nno-pty " + pub_line(ec) + "\n\n" + pub_line(rsa) + "\n");

  const auto keys = json({"key", "list"});
  ASSERT_EQ(keys.size(), 3U);
  const std::string expected_fp = ssh_keygen_fingerprint_line(ed + ".pub");
  EXPECT_CONTAINS(expected_fp, keys[0]["fingerprint"].get<std::string>());
  EXPECT_EQ(keys[0]["user"], "alice");
  EXPECT_EQ(keys[0]["type"], "ssh-ed25519");
  EXPECT_EQ(keys[0]["comment"], "ed@laptop");
  EXPECT_EQ(keys[1]["type"], "ecdsa-sha2-nistp384");
  EXPECT_EQ(keys[1]["bits"], 384);
  EXPECT_EQ(keys[1]["options"], "no-pty");
  EXPECT_EQ(keys[2]["bits"], 3072);
  EXPECT_TRUE(json({"key", "list", "bob"}).empty());

  // Options the bastion cannot honour are refused by name, and nothing is stored.
  const auto unhonoured = ctl({"key", "add", "bob", "-"}, "environment=\"A=1\" " + pub_line(ed));
  EXPECT_EQ(unhonoured.exit_code, 1);
  EXPECT_CONTAINS(unhonoured.err, "option environment= cannot be honoured by the bastion");
  const auto by_name = ctl({"key", "add", "bob", "-"}, "from=\"*.example.com\" " + pub_line(ed));
  EXPECT_EQ(by_name.exit_code, 1);
  EXPECT_CONTAINS(by_name.err, "does not look up client host names");
  EXPECT_TRUE(json({"key", "list", "bob"}).empty());

  const auto dup = ctl({"key", "add", "bob", ed + ".pub"});
  EXPECT_EQ(dup.exit_code, 1);
  EXPECT_CONTAINS(dup.err, "already registered to user \"alice\"");

  ok({"key", "remove", keys[0]["fingerprint"]});
  EXPECT_EQ(json({"key", "list", "alice"}).size(), 2U);
  EXPECT_EQ(ctl({"key", "remove", keys[0]["fingerprint"]}).exit_code, 1);
  EXPECT_EQ(ctl({"key", "list", "nobody-here"}).exit_code, 1);
}

TEST_F(bastionctl, bad_keys_are_refused_with_the_fix_and_nothing_is_stored) {
  ok({"user", "add", "alice"});
  const std::string ed = key("ed");
  struct bad {
    std::string input;
    std::string message;
  };
  for (const auto& b : std::vector<bad>{
           {read_file(ed), "this is a private key"},
           {pub_line(key("short", "rsa", 1024)), "at least 2048"},
           {"ssh-foo AAAA x", "unknown key type"},
           {"ssh-ed25519 AAAA%%%% x", "not valid base64"},
           {pub_line(ed) + "\nssh-ed25519 garbage\n", "line 2: "},
       }) {
    const auto r = ctl({"key", "add", "alice", "-"}, b.input);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_CONTAINS(r.err, b.message);
  }
  EXPECT_TRUE(json({"key", "list"}).empty()) << "a rejected file must store nothing";
  const auto missing = ctl({"key", "add", "alice", "/nonexistent.pub"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_CONTAINS(missing.err, "cannot read /nonexistent.pub");
}

TEST_F(bastionctl, targets_need_a_trusted_host_key) {
  const std::string host_key = pub_line(key("hk"));
  EXPECT_EQ(ctl({"target", "add", "web1", "--host", "10.0.0.5"}).exit_code, 2);
  ok({"target", "add", "web1", "--host", "10.0.0.5", "--host-key", host_key});
  ok({"target", "add", "db1", "--host", "db1.corp.example", "--port", "2200", "--host-key",
      host_key});
  EXPECT_EQ(ctl({"target", "add", "web1", "--host", "10.0.0.6", "--host-key", host_key}).exit_code,
            1);
  EXPECT_EQ(ctl({"target", "add", "bad", "--host", "10.0.0.6", "--host-key", "ssh-ed25519 nope"})
                .exit_code,
            1);
  EXPECT_EQ(
      ctl({"target", "add", "bad", "--host", "-oProxyCommand=x", "--host-key", host_key}).exit_code,
      1);

  const auto targets = json({"target", "list"});
  ASSERT_EQ(targets.size(), 2U);
  EXPECT_EQ(targets[0]["name"], "db1");
  EXPECT_EQ(targets[0]["port"], 2200);
  EXPECT_EQ(targets[1]["host"], "10.0.0.5");
  ASSERT_EQ(targets[1]["host_keys"].size(), 1U);
  EXPECT_EQ(targets[1]["host_keys"][0]["type"].get<std::string>() + " " +
                targets[1]["host_keys"][0]["key"].get<std::string>(),
            host_key.substr(0, host_key.rfind(' ')));
  ok({"target", "remove", "db1"});
  EXPECT_EQ(json({"target", "list"}).size(), 1U);
  EXPECT_EQ(ctl({"target", "remove", "db1"}).exit_code, 1);
}

// --scan prints; only --expect with the fingerprint the admin checked stores, and only a key that
// has it. The old --yes stored a second scan that nobody saw.
TEST_F(bastionctl, target_scan_stores_only_the_key_the_admin_checked) {
  sshd_server sshd;
  const std::string port = std::to_string(sshd.port());
  const std::vector<std::string> add{"target",    "add",    "t1", "--host",
                                     "127.0.0.1", "--port", port, "--scan"};
  const auto unconfirmed = ctl(add);
  EXPECT_EQ(unconfirmed.exit_code, 1);
  EXPECT_CONTAINS(unconfirmed.out, sshd.host_key_fingerprint());
  EXPECT_CONTAINS(unconfirmed.err, "not stored");
  EXPECT_CONTAINS(unconfirmed.err, "--scan --expect " + sshd.host_key_fingerprint());
  EXPECT_TRUE(json({"target", "list"}).empty());

  auto with = [&](std::vector<std::string> extra) {
    auto argv = add;
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  };
  const auto yes = ctl(with({"--yes"}));
  EXPECT_EQ(yes.exit_code, 1);
  EXPECT_CONTAINS(yes.err, "--yes is refused");
  const auto other = ctl(with({"--expect", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}));
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_CONTAINS(other.err, "not stored: the target now presents " + sshd.host_key_fingerprint());
  EXPECT_TRUE(json({"target", "list"}).empty());

  EXPECT_CONTAINS(ok(with({"--expect", sshd.host_key_fingerprint()})), "added target t1");
  const auto targets = json({"target", "list"});
  ASSERT_EQ(targets.size(), 1U);
  EXPECT_EQ(targets[0]["host_keys"][0]["fingerprint"], sshd.host_key_fingerprint());

  const auto down = ctl({"target", "add", "t2", "--host", "127.0.0.1", "--port",
                         std::to_string(free_port()), "--scan"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_CONTAINS(down.err, "cannot fetch the host key");
}

TEST_F(bastionctl, grants_replace_list_and_revoke) {
  ok({"user", "add", "alice"});
  ok({"user", "add", "bob"});
  const std::string host_key = pub_line(key("hk"));
  ok({"target", "add", "web1", "--host", "10.0.0.5", "--host-key", host_key});
  EXPECT_EQ(ok({"grant", "alice", "web1", "--login", "deploy"}),
            "granted alice on web1 as deploy: shell,exec,sftp\n");
  ok({"grant", "alice", "web1", "--login", "deploy", "--allow", "x11,shell,agent"});
  EXPECT_EQ(ok({"grant", "alice", "web1", "--login", "ops", "--allow", "exec,forward",
                "--upstream-auth", "agent", "--record-forward-data", "--allow-ssh-inside"}),
            "granted alice on web1 as ops: exec,forward; record-forward-data,ssh-inside,"
            "upstream-auth agent\n");
  EXPECT_EQ(
      ctl({"grant", "alice", "web1", "--login", "ops", "--upstream-auth", "password"}).exit_code,
      2);  // a usage error: the choices are bastion-key and agent
  ok({"grant", "alice", "web1", "--login", "ops", "--allow", "exec"});
  ok({"grant", "bob", "web1", "--login", "deploy"});
  EXPECT_EQ(ctl({"grant", "alice", "web1", "--login", "deploy", "--allow", "shell,root"}).exit_code,
            1);
  EXPECT_EQ(ctl({"grant", "alice", "nowhere", "--login", "deploy"}).exit_code, 1);
  EXPECT_EQ(ctl({"grant", "alice", "web1", "--login", "bad login"}).exit_code, 1);

  const auto grants = json({"grants", "--user", "alice"});
  ASSERT_EQ(grants.size(), 2U);
  EXPECT_EQ(grants[0]["login"], "deploy");
  EXPECT_EQ(grants[0]["kinds"], (nlohmann::json{"shell", "agent", "x11"}));
  EXPECT_EQ(grants[1]["kinds"], (nlohmann::json{"exec"}));
  EXPECT_EQ(grants[0]["upstream_auth"], "bastion-key");
  EXPECT_EQ(grants[1]["upstream_auth"], "bastion-key");  // granting again replaced it
  EXPECT_EQ(json({"grants"}).size(), 3U);

  EXPECT_EQ(ok({"revoke", "alice", "web1", "--login", "ops"}),
            "revoked 1 grant of alice on web1\n");
  EXPECT_EQ(ctl({"revoke", "alice", "web1", "--login", "ops"}).exit_code, 1);
  ok({"revoke", "bob", "web1"});
  EXPECT_EQ(json({"grants"}).size(), 1U);
}

TEST_F(bastionctl, groups_patterns_labels_windows_and_sources) {
  ok({"user", "add", "alice"});
  ok({"user", "add", "bob"});
  const std::string host_key = pub_line(key("hk"));
  ok({"target", "add", "web1", "--host", "10.0.0.5", "--host-key", host_key, "--label", "env=prod",
      "--label", "team/owner=web"});
  EXPECT_EQ(json({"target", "list"})[0]["labels"],
            (nlohmann::json{{"env", "prod"}, {"team/owner", "web"}}));
  const auto bad_label = ctl(
      {"target", "add", "web2", "--host", "10.0.0.6", "--host-key", host_key, "--label", "env"});
  EXPECT_EQ(bad_label.exit_code, 1);
  EXPECT_CONTAINS(bad_label.err, "give KEY=VALUE");

  EXPECT_EQ(ok({"group", "add", "ops", "alice", "bob"}), "group ops: added 2 users\n");
  EXPECT_EQ(json({"group", "members", "ops"})[0]["members"], (nlohmann::json{"alice", "bob"}));
  EXPECT_EQ(ctl({"group", "add", "ops", "carol"}).exit_code, 1) << "no such user";
  EXPECT_EQ(ctl({"group", "add", "ops!"}).exit_code, 1);
  EXPECT_EQ(
      ok({"grant", "--group", "ops", "label:env=prod", "--login", "deploy", "--allow", "exec"}),
      "granted group ops on label:env=prod as deploy: exec\n");
  EXPECT_EQ(ok({"grant", "alice", "web-*", "--login", "deploy", "--valid-from", "2026-01-01Z",
                "--valid-until", "2027-01-01T00:00Z", "--source", "10.0.0.0/8", "--source",
                "2001:db8::/32"}),
            "granted alice on web-* as deploy: shell,exec,sftp; valid "
            "2026-01-01Z..2027-01-01T00:00Z; from 10.0.0.0/8,2001:db8::/32\n");
  // Refused before anything is stored, each naming its fix.
  const auto host_bits =
      ctl({"grant", "bob", "web1", "--login", "deploy", "--source", "10.1.2.3/8"});
  EXPECT_EQ(host_bits.exit_code, 1);
  EXPECT_CONTAINS(host_bits.err, "did you mean 10.0.0.0/8?");
  const auto backwards = ctl({"grant", "bob", "web1", "--login", "deploy", "--valid-from",
                              "2027-01-01", "--valid-until", "2026-01-01"});
  EXPECT_EQ(backwards.exit_code, 1);
  EXPECT_CONTAINS(backwards.err, "is not before --valid-until");
  EXPECT_EQ(ctl({"grant", "--group", "ops", "alice", "web1", "--login", "deploy"}).exit_code, 2);
  const auto forever =
      ctl({"grant", "bob", "web1", "--login", "deploy", "--valid-until", "infinity"});
  EXPECT_EQ(forever.exit_code, 1);
  EXPECT_CONTAINS(forever.err, "is not a point in time; leave it out for no bound");
  EXPECT_EQ(ctl({"grant", "--group", "nobody", "web1", "--login", "deploy"}).exit_code, 1);
  EXPECT_EQ(ctl({"grant", "alice", "web/1*", "--login", "deploy"}).exit_code, 1);

  // bob's grants are his group's; alice's are hers and her group's.
  const auto bobs = json({"grants", "--user", "bob"});
  ASSERT_EQ(bobs.size(), 1U);
  EXPECT_EQ(bobs[0]["group"], "ops");
  EXPECT_TRUE(bobs[0]["user"].is_null());
  EXPECT_EQ(bobs[0]["target"], "label:env=prod");
  const auto alices = json({"grants", "--user", "alice"});
  ASSERT_EQ(alices.size(), 2U);
  EXPECT_EQ(alices[0]["target"], "web-*");
  EXPECT_EQ(alices[0]["valid_from"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(alices[0]["valid_until"], "2027-01-01T00:00:00Z");
  EXPECT_EQ(alices[0]["sources"], (nlohmann::json{"10.0.0.0/8", "2001:db8::/32"}));
  EXPECT_CONTAINS(ok({"grants"}), "group:ops");

  EXPECT_EQ(ok({"group", "remove", "ops", "bob"}), "group ops: took out 1 user\n");
  EXPECT_TRUE(json({"grants", "--user", "bob"}).empty());
  EXPECT_EQ(ctl({"group", "remove", "ops", "bob"}).exit_code, 1) << "not in it any more";
  EXPECT_EQ(ok({"revoke", "alice", "web-*"}), "revoked 1 grant of alice on web-*\n");
  EXPECT_EQ(ctl({"group", "remove", "ops"}).exit_code, 2) << "naming no user is not a delete";
  EXPECT_EQ(ok({"group", "add", "ops", "alice"}), "group ops: added 0 users\n");
  EXPECT_EQ(ok({"group", "delete", "ops"}), "removed group ops and its 1 grant\n");
  EXPECT_TRUE(json({"grants"}).empty()) << "a group's grants go with it";
  EXPECT_TRUE(json({"group", "list"}).empty());
}

TEST_F(bastionctl, known_hosts_and_upstream_key_come_from_the_configured_keys) {
  const std::string config = write_config(2222);
  const std::string host_key = pub_line(key("hk"));
  ok({"target", "add", "web1", "--host", "10.0.0.5", "--host-key", host_key});
  ok({"target", "add", "db1", "--host", "db1", "--port", "2200", "--host-key", host_key});
  const auto inner = pub_line((dir() / "inner").string());
  const auto outer = pub_line((dir() / "outer").string());
  const auto strip = [](const std::string& line) { return line.substr(0, line.rfind(' ')); };

  const auto r = run({bastion::test::bastionctl_path(), "--config", config, "known-hosts"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_CONTAINS(r.out, "\nweb1,10.0.0.5 " + strip(inner) + "\n");
  EXPECT_CONTAINS(r.out, "\ndb1,[db1]:2200 " + strip(inner) + "\n");
  EXPECT_CONTAINS(r.out, "\n[127.0.0.1]:2222 " + strip(outer) + "\n");

  const auto one =
      run({bastion::test::bastionctl_path(), "--config", config, "known-hosts", "web1", "--json"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto doc = nlohmann::json::parse(one.out);
  ASSERT_EQ(doc.size(), 2U);
  EXPECT_EQ(doc[0]["target"], "web1");
  EXPECT_EQ(doc[1]["kind"], "outer");
  EXPECT_EQ(
      run({bastion::test::bastionctl_path(), "--config", config, "known-hosts", "nope"}).exit_code,
      1);

  const auto up = run({bastion::test::bastionctl_path(), "--config", config, "upstream-key"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(up.out,
            strip(pub_line((dir() / "upstream").string())) + " bastion-upstream@test-node\n");
  const auto no_config = ctl({"upstream-key"}, "");
  EXPECT_EQ(no_config.exit_code, 1);
}

}  // namespace
}  // namespace bastion::test
