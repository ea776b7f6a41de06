#include <gtest/gtest.h>

#include <fstream>

#include <bastion/common/config.hpp>

#include "temp_dir.hpp"

namespace bastion {
namespace {

const std::string minimal = "database: \"host=/tmp dbname=bastion\"\n";

std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "test.yaml");
  } catch (const config_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(config, fills_sshd_like_defaults) {
  const config c = parse_config(minimal, "test.yaml");
  EXPECT_EQ(c.listen, (std::vector<endpoint>{{"0.0.0.0", 2222}}));
  EXPECT_EQ(c.limits.login_grace_time, std::chrono::seconds(120));
  EXPECT_EQ(c.limits.max_auth_tries, 6);
  EXPECT_EQ(c.limits.max_sessions, 10);
  EXPECT_EQ(c.limits.max_startups.start, 10);
  EXPECT_EQ(c.limits.max_startups.rate, 30);
  EXPECT_EQ(c.limits.max_startups.full, 100);
  EXPECT_EQ(c.limits.connect_timeout, std::chrono::seconds(10));
  EXPECT_EQ(c.limits.per_source_max_startups, 10);
  EXPECT_EQ(c.limits.netblock_v4_bits, 32);
  EXPECT_EQ(c.limits.netblock_v6_bits, 64);
  EXPECT_TRUE(c.limits.penalties.enabled);
  EXPECT_EQ(c.limits.penalties.authfail, std::chrono::seconds(5));
  EXPECT_EQ(c.limits.penalties.noauth, std::chrono::seconds(1));
  EXPECT_EQ(c.limits.penalties.grace_exceeded, std::chrono::seconds(20));
  EXPECT_EQ(c.limits.penalties.min, std::chrono::seconds(15));
  EXPECT_EQ(c.limits.penalties.max, std::chrono::minutes(10));
  EXPECT_EQ(c.limits.penalties.max_sources, 65536);
  EXPECT_FALSE(c.limits.penalties.overflow_deny_all);
  EXPECT_TRUE(c.limits.penalty_exempt.empty());
  EXPECT_EQ(c.recording.failure_mode, failure_mode::fail_closed);
  EXPECT_TRUE(c.recording.enabled);
  EXPECT_EQ(c.recording.max_unpersisted_kib, 1024);
  EXPECT_EQ(c.admin_listen, (endpoint{"127.0.0.1", 8022}));
  EXPECT_EQ(c.metrics_listen, (endpoint{"127.0.0.1", 9122}));
  EXPECT_TRUE(c.metrics_enabled);
  EXPECT_FALSE(c.node_name.empty());
  EXPECT_EQ(c.policy_max_staleness, std::chrono::minutes(5));
  EXPECT_EQ(c.journal_spool, "var/journal");
  // Unset, it follows the recordings.
  EXPECT_EQ(
      parse_config("database: x\nrecording: { dir: /srv/bastion/rec/ }\n", "t.yaml").journal_spool,
      "/srv/bastion/journal");
}

TEST(config, reads_every_documented_key) {
  const config c = parse_config(R"(
listen: ["127.0.0.1:2222", "[::1]:2222"]
host_keys: ["/k/outer"]
inner_host_key: "/k/inner"
upstream_key: "/k/up"
database: "host=/run/pg dbname=b"
recording: { enabled: false, dir: "/rec", failure_mode: fail_open, max_unpersisted_kib: 64 }
admin:   { listen: "0.0.0.0:9000", tls_cert: "/k/cert.pem", tls_key: "/k/key.pem",
           max_connections: 8, max_connections_per_source: 3 }
metrics: { enabled: false, listen: "127.0.0.1:9001" }
policy:  { max_staleness: 30s, journal_spool: "/spool" }
limits:  { login_grace_time: 30s, max_auth_tries: 3, max_startups: "5:50:20", max_sessions: 4,
           idle_timeout: 15m, max_session_duration: 8h, drain_timeout: 5s, connect_timeout: 2s,
           per_source_max_startups: 3, per_source_netblock: "24:48",
           penalties: { enabled: true, authfail: 2s, noauth: 0s, grace_exceeded: 7s, min: 3s,
                        max: 1m, max_sources: 100, overflow: deny-all },
           penalty_exempt: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"] }
log_level: debug
log: { format: json, queue_lines: 64 }
node_name: node-a
)",
                                "test.yaml");
  EXPECT_EQ(c.listen.size(), 2U);
  EXPECT_EQ(c.listen[1], (endpoint{"::1", 2222}));
  EXPECT_EQ(c.host_keys, std::vector<std::filesystem::path>{"/k/outer"});
  EXPECT_EQ(c.inner_host_key, "/k/inner");
  EXPECT_EQ(c.upstream_key, "/k/up");
  EXPECT_EQ(c.recording.dir, "/rec");
  EXPECT_EQ(c.recording.failure_mode, failure_mode::fail_open);
  EXPECT_FALSE(c.recording.enabled);
  EXPECT_EQ(c.recording.max_unpersisted_kib, 64);
  EXPECT_EQ(c.admin_listen, (endpoint{"0.0.0.0", 9000}));
  EXPECT_EQ(c.admin_tls_cert, "/k/cert.pem");
  EXPECT_EQ(c.admin_tls_key, "/k/key.pem");
  EXPECT_EQ(c.admin_max_connections, 8);
  EXPECT_EQ(c.admin_max_connections_per_source, 3);
  EXPECT_EQ(c.metrics_listen.port, 9001);
  EXPECT_FALSE(c.metrics_enabled);
  EXPECT_EQ(c.policy_max_staleness, std::chrono::seconds(30));
  EXPECT_EQ(c.journal_spool, "/spool");
  EXPECT_EQ(c.limits.login_grace_time, std::chrono::seconds(30));
  EXPECT_EQ(c.limits.max_auth_tries, 3);
  EXPECT_EQ(c.limits.max_startups.start, 5);
  EXPECT_EQ(c.limits.max_startups.full, 20);
  EXPECT_EQ(c.limits.idle_timeout, std::chrono::minutes(15));
  EXPECT_EQ(c.limits.max_session_duration, std::chrono::hours(8));
  EXPECT_EQ(c.limits.drain_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.limits.connect_timeout, std::chrono::seconds(2));
  EXPECT_EQ(c.limits.per_source_max_startups, 3);
  EXPECT_EQ(c.limits.netblock_v4_bits, 24);
  EXPECT_EQ(c.limits.netblock_v6_bits, 48);
  const auto& p = c.limits.penalties;
  EXPECT_EQ(p.authfail, std::chrono::seconds(2));
  EXPECT_EQ(p.noauth, std::chrono::seconds(0));
  EXPECT_EQ(p.grace_exceeded, std::chrono::seconds(7));
  EXPECT_EQ(p.min, std::chrono::seconds(3));
  EXPECT_EQ(p.max, std::chrono::minutes(1));
  EXPECT_EQ(p.max_sources, 100);
  EXPECT_TRUE(p.overflow_deny_all);
  ASSERT_EQ(c.limits.penalty_exempt.size(), 3U);
  EXPECT_EQ(c.limits.penalty_exempt[1].to_string(), "2001:db8::/32");
  EXPECT_EQ(c.limits.penalty_exempt[2].to_string(), "192.0.2.7");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_TRUE(c.log_json);
  EXPECT_EQ(c.log_queue_lines, 64);
  EXPECT_EQ(c.node_name, "node-a");
}

struct bad_case {
  const char* yaml;
  const char* expected;  // substring of the message: the key, the line, the fix
};

void PrintTo(const bad_case& c, std::ostream* os) {
  *os << c.expected;
}

class config_errors : public ::testing::TestWithParam<bad_case> {};

TEST_P(config_errors, name_the_key_line_and_fix) {
  const std::string message = error_of(GetParam().yaml);
  EXPECT_NE(message.find(GetParam().expected), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
}

INSTANTIATE_TEST_SUITE_P(
    config, config_errors,
    ::testing::Values(
        bad_case{"database: x\nlisen: [\"1.2.3.4:22\"]\n",
                 "test.yaml:2: lisen: unknown key; remove it or use one of"},
        bad_case{"database: x\nlimits:\n  login_grace_time: 12x\n",
                 "test.yaml:3: limits.login_grace_time: \"12x\" is not a duration; write a number "
                 "with a unit"},
        bad_case{"database: x\nlimits: { idle_timeout: 120 }\n",
                 "limits.idle_timeout: \"120\" is not a duration"},
        bad_case{"database: x\nlimits:\n  max_auth_tries: 0\n",
                 "test.yaml:3: limits.max_auth_tries: \"0\" is not a whole number from 1 to 100"},
        bad_case{"database: x\nlimits:\n  max_sessions: ten\n",
                 "limits.max_sessions: \"ten\" is not a whole number"},
        bad_case{"database: x\nlimits:\n  max_startups: \"10:30\"\n",
                 "test.yaml:3: limits.max_startups: \"10:30\" must be START:RATE:FULL"},
        bad_case{"database: x\nlimits:\n  max_startups: \"50:30:10\"\n", "limits.max_startups"},
        bad_case{"database: x\nlimits:\n  per_source_netblock: \"33:64\"\n",
                 "test.yaml:3: limits.per_source_netblock: \"33:64\" must be IPV4BITS:IPV6BITS"},
        bad_case{"database: x\nlimits:\n  penalty_exempt: [\"10.0.0.0/33\"]\n",
                 "limits.penalty_exempt: \"10.0.0.0/33\" is not an address block"},
        bad_case{"database: x\nlimits:\n  penalties: { overflow: drop }\n",
                 "limits.penalties.overflow: \"drop\" is not an overflow policy; use permissive"},
        bad_case{"database: x\nlimits:\n  penalties: { min: 1m, max: 10s }\n",
                 "limits.penalties.max: must be at least min (1m)"},
        bad_case{"database: x\nlimits:\n  penalties: { authfial: 5s }\n",
                 "limits.penalties.authfial: unknown key"},
        bad_case{"database: x\nlimits:\n  bogus: 1\n", "test.yaml:3: limits.bogus: unknown key"},
        bad_case{"database: x\nlisten: [\"localhost:2222\"]\n",
                 "test.yaml:2: listen: \"localhost:2222\" is not an address; write IP:PORT"},
        bad_case{"database: x\nlisten: [\"127.0.0.1\"]\n",
                 "listen: \"127.0.0.1\" is not an address"},
        bad_case{"database: x\nlisten: []\n", "listen: must be a non-empty list"},
        bad_case{"database: x\nadmin: { listen: \"127.0.0.1:99999\" }\n",
                 "test.yaml:2: admin.listen: \"127.0.0.1:99999\" is not an address"},
        bad_case{"database: x\nadmin: { listen: \"0.0.0.0:8022\" }\n",
                 "test.yaml:2: admin.listen: \"0.0.0.0:8022\" is not a loopback address, and "
                 "tokens must not cross a network in clear text: set admin.tls_cert and "
                 "admin.tls_key, or listen on 127.0.0.1"},
        bad_case{"database: x\nadmin: { listen: \"[::2]:8022\" }\n", "is not a loopback address"},
        bad_case{"database: x\nadmin: { tls_cert: /c.pem }\n",
                 "admin.tls_key: set both tls_cert and tls_key (PEM files), or neither"},
        bad_case{"database: x\nrecording: { failure_mode: maybe }\n",
                 "recording.failure_mode: \"maybe\" is not a failure mode; use fail_closed or "
                 "fail_open"},
        bad_case{"database: x\nrecording: { enabled: maybe }\n",
                 "recording.enabled: \"maybe\" is not a boolean; write true or false"},
        bad_case{"database: x\nrecording: { max_unpersisted_kib: 8 }\n",
                 "recording.max_unpersisted_kib: \"8\" is not a whole number from 16 to 65536"},
        bad_case{"database: x\nrecording: [1]\n", "test.yaml:2: recording: must be a mapping"},
        bad_case{"listen: [\"127.0.0.1:22\"]\n", "database: missing; set a libpq conninfo"},
        bad_case{"database: x\nlog_level: loud\n", "log_level: \"loud\" is not a level"},
        bad_case{"database: x\nlog: { format: xml }\n",
                 "log.format: \"xml\" is not a log format; use text or json"},
        bad_case{"database: x\ndatabase: y\n", "test.yaml:2: database: given twice; keep one"},
        bad_case{"database: [x, y]\n", "test.yaml:1: database: must be a single value"},
        bad_case{"database: x\nlimits: { connect_timeout: 0s }\n",
                 "limits.connect_timeout: must be more than 0s"},
        bad_case{"database: x\nlisten: [\"1.2.3.4:22\"\n", "test.yaml:3: not valid YAML"},
        bad_case{"database: x\nbanner_file: /nonexistent/issue\n",
                 "banner_file: /nonexistent/issue: cannot open it; check the path"},
        bad_case{"database: x\nrecording: { dir: \"/var/lib\\0/x\" }\n",
                 "test.yaml:2: recording.dir: holds a NUL byte (\\0); remove it"},
        bad_case{"database: \"host=db\\0 password=x\"\n", "database: holds a NUL byte"},
        bad_case{"database: x\nhost_keys: [\"/k\\0\"]\n", "host_keys: holds a NUL byte"},
        // Found by config_fuzz: YAML's own message quoted the control byte it refused.
        bad_case{"database: \"\\\x02\"\n", "not valid YAML (unknown escape character: \\x02)"},
        bad_case{"database: x\npolicy: { max_staleness: 5 }\n",
                 "test.yaml:2: policy.max_staleness: \"5\" is not a duration"},
        bad_case{"database: x\npolicy: { staleness: 5m }\n", "policy.staleness: unknown key"},
        bad_case{"database: x\npolicy: { journal_spool: \"\" }\n",
                 "test.yaml:2: policy.journal_spool: must be a file or directory path"},
        bad_case{"", "test.yaml: the file is empty"}),
    [](const auto& param_info) { return "case_" + std::to_string(param_info.index); });

TEST(config, the_banner_is_text_or_a_bounded_file) {
  EXPECT_EQ(parse_config("database: x\n", "t.yaml").banner, "This session is recorded.");
  EXPECT_EQ(parse_config("database: x\nbanner: \"\"\n", "t.yaml").banner, "");
  test::temp_dir dir;
  const auto file = dir.write("issue", "Authorised use only.\n");
  EXPECT_EQ(parse_config("database: x\nbanner_file: " + file.string() + "\n", "t.yaml").banner,
            "Authorised use only.\n");
  const auto big = dir.write("big", std::string(4097, 'x'));
  const std::string message = error_of("database: x\nbanner_file: " + big.string() + "\n");
  EXPECT_NE(message.find("is over 4096 bytes"), std::string::npos) << message;
}

TEST(config, names_what_changes_only_at_the_next_start) {
  const config running = parse_config("database: x\nlog_level: info\n", "t.yaml");
  EXPECT_TRUE(
      changed_until_restart(running, parse_config("database: x\nlog_level: debug\n", "t.yaml"))
          .empty());
  const config fresh = parse_config(
      "database: y\nlimits: { max_sessions: 3 }\nbanner: hi\nmetrics: { enabled: false }\n",
      "t.yaml");
  EXPECT_EQ(changed_until_restart(running, fresh),
            (std::vector<std::string>{"database", "metrics", "limits", "banner"}));
}

TEST(config, missing_file_names_the_path_and_the_fix) {
  try {
    load_config("/nonexistent/bastion.yaml");
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/bastion.yaml: cannot read the config file"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("--config"), std::string::npos) << e.what();
  }
}

TEST(config, missing_key_files_name_the_key_and_how_to_create_them) {
  test::temp_dir dir;
  const auto file =
      dir.write("bastion.yaml", minimal + "host_keys: [\"" + (dir / "nope").string() + "\"]\n");
  const config c = load_config(file);
  try {
    check_key_files(c);
    FAIL() << "no error";
  } catch (const config_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("host_keys[0]"), std::string::npos) << m;
    EXPECT_NE(m.find("ssh-keygen -t ed25519"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace bastion
