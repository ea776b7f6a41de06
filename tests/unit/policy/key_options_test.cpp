// authorized_keys options: what the bastion honours, what it refuses by name, and the from= match
// as sshd makes it without DNS.
#include <gtest/gtest.h>

#include <bastion/policy/evaluator.hpp>
#include <bastion/policy/key_options.hpp>

namespace bastion::policy {
namespace {

key_options parsed(std::string_view text) {
  auto o = parse_key_options(text);
  EXPECT_TRUE(o) << text << ": " << (o ? "" : o.error().text);
  return o ? *o : key_options{};
}

TEST(key_options, none_means_no_restriction) {
  const auto o = parsed("");
  EXPECT_TRUE(o.pty && o.port_forwarding && o.agent_forwarding && o.x11_forwarding);
  EXPECT_FALSE(o.command);
  EXPECT_TRUE(source_allowed(o, "192.0.2.1"));
}

TEST(key_options, restrict_then_positive_twins_reenable) {
  const auto r = parsed("restrict");
  EXPECT_FALSE(r.pty || r.port_forwarding || r.agent_forwarding || r.x11_forwarding);
  const auto rp = parsed("restrict,pty,X11-forwarding");
  EXPECT_TRUE(rp.pty);
  EXPECT_TRUE(rp.x11_forwarding);
  EXPECT_FALSE(rp.agent_forwarding);
  const auto n =
      parsed("no-pty,NO-AGENT-FORWARDING,no-port-forwarding,no-x11-forwarding,no-user-rc");
  EXPECT_FALSE(n.pty || n.port_forwarding || n.agent_forwarding || n.x11_forwarding);
}

TEST(key_options, quoted_values_keep_commas_and_escaped_quotes) {
  const auto o =
      parsed(R"(command="echo \"a, b\"",from="10.0.0.0/8,!10.1.0.0/16",permitopen="db:5432")");
  EXPECT_EQ(o.command, "echo \"a, b\"");
  EXPECT_EQ(o.from, (std::vector<std::string>{"10.0.0.0/8", "!10.1.0.0/16"}));
  EXPECT_EQ(o.permitopen, std::vector<std::string>{"db:5432"});
}

TEST(key_options, expiry_time_reads_as_sshd_does) {
  EXPECT_EQ(parsed(R"(expiry-time="20300101Z")").expires_unix, 1893456000);
  EXPECT_EQ(parsed(R"(expiry-time="203001010130Z")").expires_unix, 1893456000 + 5400);
  EXPECT_EQ(parsed(R"(expiry-time="20300101013005Z")").expires_unix, 1893456000 + 5405);
  EXPECT_FALSE(parse_key_options(R"(expiry-time="2030")"));
  EXPECT_FALSE(parse_key_options(R"(expiry-time="20301301Z")"));
}

TEST(key_options, what_cannot_be_honoured_is_refused_by_name) {
  struct refused {
    const char* options;
    const char* named;
  };
  for (const auto& c : std::vector<refused>{
           {R"(environment="A=1")", "environment"},
           {R"(tunnel="1")", "tunnel"},
           {R"(permitlisten="8080")", "permitlisten"},
           {R"(principals="alice")", "principals"},
           {"cert-authority", "cert-authority"},
           {"no-touch-required", "no-touch-required"},
           {"verify-required", "verify-required"},
           {"frobnicate", "frobnicate"},
           {R"(from="web.example.com")", "does not look up client host names"},
           {R"(permitopen="nohostport")", "HOST:PORT"},
           // Found by key_options_fuzz: entries that could never match were stored.
           {R"(permitopen="db:,pe-n")", "a port from 1 to 65535 or *"},
           {R"(permitopen="db:0")", "HOST:PORT"},
           {R"(permitopen="db:65536")", "HOST:PORT"},
           {R"(permitopen="[10:1:22")", "HOST:PORT"},
           {R"(permitopen="[10.0.0.1]:22")", "an IPv6 address in brackets"},
           {R"(permitopen="2001:db8::1:22")", "HOST:PORT"},
           {R"(permitopen="db*:22")", "HOST:PORT"},
           {R"(permitopen=":22")", "HOST:PORT"},
           {R"(command=unquoted)", "needs a quoted value"},
           {R"(command="open)", "no closing quote"},
           {"no-pty,,no-pty", "empty option"},
       }) {
    const auto o = parse_key_options(c.options);
    ASSERT_FALSE(o) << c.options;
    EXPECT_NE(o.error().text.find(c.named), std::string::npos) << o.error().text;
  }
}

TEST(key_options, from_matches_addresses_blocks_patterns_and_negations) {
  const auto o = parsed(R"(from="10.0.0.0/8,!10.1.0.0/16,192.0.2.7,198.51.100.*,2001:db8::/32")");
  EXPECT_TRUE(source_allowed(o, "10.200.3.4"));
  EXPECT_FALSE(source_allowed(o, "10.1.2.3")) << "a negated match denies whatever else matches";
  EXPECT_TRUE(source_allowed(o, "192.0.2.7"));
  EXPECT_FALSE(source_allowed(o, "192.0.2.8"));
  EXPECT_TRUE(source_allowed(o, "198.51.100.99"));
  EXPECT_TRUE(source_allowed(o, "2001:db8:1::5"));
  EXPECT_FALSE(source_allowed(o, "2001:db9::5"));
  EXPECT_FALSE(source_allowed(o, "127.0.0.1"));
  EXPECT_FALSE(source_allowed(o, "")) << "an unknown source never passes a from= list";
  EXPECT_TRUE(source_allowed(parsed(R"(from="10.0.0.1/31")"), "10.0.0.0"));
  EXPECT_FALSE(source_allowed(parsed(R"(from="10.0.0.1/31")"), "10.0.0.2"));
}

// Nothing in one key line may widen what an earlier option of it allowed.
TEST(key_options, repeats_never_widen) {
  EXPECT_FALSE(parse_key_options(R"(from="10.0.0.0/8",from="*")"));
  EXPECT_FALSE(parse_key_options(R"(command="true",command="bash")"));
  EXPECT_EQ(parsed(R"(expiry-time="20300101Z",expiry-time="20990101Z")").expires_unix, 1893456000);
  EXPECT_EQ(parsed(R"(expiry-time="20990101Z",expiry-time="20300101Z")").expires_unix, 1893456000);
  const auto o = parsed(R"(from="2001:DB8::/32,!2001:DB8:0:BAD:*")");
  EXPECT_TRUE(source_allowed(o, "2001:db8::1"));
  EXPECT_FALSE(source_allowed(o, "2001:db8:0:bad::1")) << "the negation holds in any case";
}

TEST(key_options, permitopen_allows_only_the_destinations_it_names) {
  EXPECT_TRUE(open_permitted(parsed(""), "anything", 22));
  const auto o = parsed(R"(permitopen="t1:22",permitopen="DB:*",permitopen="[2001:db8::1]:2222")");
  EXPECT_TRUE(open_permitted(o, "t1", 22));
  EXPECT_FALSE(open_permitted(o, "t1", 2222));
  EXPECT_FALSE(open_permitted(o, "t2", 22));
  EXPECT_FALSE(open_permitted(o, "t", 22)) << "no prefixes";
  EXPECT_TRUE(open_permitted(o, "db", 5432)) << "any port, any case";
  EXPECT_TRUE(open_permitted(o, "2001:db8::1", 2222));
  EXPECT_FALSE(open_permitted(o, "2001:db8::1", 22));
  // A port is a number, as sshd reads it: leading zeros name the same port (found by fuzzing).
  const auto zeros = parsed(R"(permitopen="web:00000000000000000008080")");
  EXPECT_TRUE(open_permitted(zeros, "web", 8080));
  EXPECT_FALSE(open_permitted(zeros, "web", 80));
  // No patterns: one is refused when the key is added, rather than stored never to match.
  EXPECT_FALSE(parse_key_options(R"(permitopen="t*:22")")) << "no patterns";
}

TEST(key_options, restrict_access_narrows_the_grant) {
  access_decision a{true,
                    {channel_kind::shell, channel_kind::forward, channel_kind::agent,
                     channel_kind::x11, channel_kind::remote_forward},
                    {}};
  restrict_access(a, parsed(R"(no-port-forwarding,no-agent-forwarding,no-pty,command="uptime")"));
  EXPECT_EQ(a.kinds, (std::vector<channel_kind>{channel_kind::shell, channel_kind::x11}));
  EXPECT_FALSE(a.pty);
  EXPECT_EQ(a.forced_command, "uptime");
  EXPECT_TRUE(a.allowed);
  restrict_access(a, parsed(R"(command="date")"));
  EXPECT_FALSE(a.allowed) << "two keys forcing different commands";

  access_decision b{true, {}, {}};
  restrict_access(b, parsed(R"(permitopen="db:5432",permitopen="cache:6379")"));
  restrict_access(b, parsed(R"(permitopen="db:5432")"));
  EXPECT_EQ(b.permitopen, std::vector<std::string>{"db:5432"});
}

}  // namespace
}  // namespace bastion::policy
