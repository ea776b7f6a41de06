#include "preauth_guard.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace bastion::proxy {
namespace {

using namespace std::chrono_literals;
using clock = preauth_guard::clock;

net_block ip(const char* text) {
  return *parse_ip(text);
}

limits_config no_penalties() {
  limits_config l;
  l.penalties.enabled = false;
  l.per_source_max_startups = 0;
  return l;
}

// Holds admitted tickets; the die always rolls `roll`.
struct fixture {
  explicit fixture(const limits_config& l, unsigned roll = 0)
      : guard(preauth_guard::make(l, [this] { return die; })), die(roll) {}
  preauth_verdict admit(const char* from, clock::time_point now = clock::now()) {
    auto a = guard->admit(ip(from), now);
    if (a.verdict == preauth_verdict::admit) {
      held.push_back(std::move(a.pass));
    }
    return a.verdict;
  }
  std::shared_ptr<preauth_guard> guard;
  unsigned die;
  std::vector<preauth_guard::ticket> held;
};

TEST(preauth_guard, max_startups_admits_below_start_and_drops_at_full) {
  auto l = no_penalties();
  l.max_startups = {3, 50, 5};
  fixture f(l, 99);  // the die never drops between start and full
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(f.admit("10.0.0.1"), preauth_verdict::admit) << i;
  }
  EXPECT_EQ(f.admit("10.0.0.1"), preauth_verdict::max_startups);
  EXPECT_EQ(f.guard->unauthenticated(), 5U);
  f.held.pop_back();
  EXPECT_EQ(f.guard->unauthenticated(), 4U);
  EXPECT_EQ(f.admit("10.0.0.1"), preauth_verdict::admit);
}

TEST(preauth_guard, early_drop_probability_rises_from_rate_to_full) {
  auto l = no_penalties();
  l.max_startups = {10, 30, 100};
  // With 10 held the chance is 30%: a roll of 29 drops, 30 does not. With 55 held it is
  // 30 + 70 * 45 / 90 = 65%.
  for (const auto& [held, roll, dropped] : std::vector<std::tuple<int, unsigned, bool>>{
           {9, 0, false}, {10, 29, true}, {10, 30, false}, {55, 64, true}, {55, 65, false}}) {
    fixture f(l, 99);
    for (int i = 0; i < held; ++i) {
      ASSERT_EQ(f.admit("10.0.0.1"), preauth_verdict::admit);
    }
    f.die = roll;
    EXPECT_EQ(f.admit("10.0.0.1") == preauth_verdict::max_startups, dropped)
        << held << " held, roll " << roll;
  }
}

TEST(preauth_guard, caps_each_netblock_and_frees_its_place_when_a_ticket_ends) {
  auto l = no_penalties();
  l.per_source_max_startups = 2;
  fixture f(l, 99);
  EXPECT_EQ(f.admit("192.0.2.1"), preauth_verdict::admit);
  EXPECT_EQ(f.admit("192.0.2.1"), preauth_verdict::admit);
  EXPECT_EQ(f.admit("192.0.2.1"), preauth_verdict::per_source);
  EXPECT_EQ(f.admit("192.0.2.2"), preauth_verdict::admit);  // another /32
  // IPv6 counts per /64: two addresses of one /64 share it.
  EXPECT_EQ(f.admit("2001:db8::1"), preauth_verdict::admit);
  EXPECT_EQ(f.admit("2001:db8::2"), preauth_verdict::admit);
  EXPECT_EQ(f.admit("2001:db8::3"), preauth_verdict::per_source);
  EXPECT_EQ(f.admit("2001:db8:0:1::1"), preauth_verdict::admit);
  f.held.front().end(preauth_end::authenticated);
  EXPECT_EQ(f.admit("192.0.2.1"), preauth_verdict::admit);
}

TEST(preauth_guard, penalties_add_up_to_min_then_refuse_until_they_expire) {
  limits_config l;  // authfail 5s, min 15s
  fixture f(l, 99);
  const auto t0 = clock::time_point{} + 1h;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(f.admit("198.51.100.7", t0), preauth_verdict::admit);
    f.held.back().end(preauth_end::authfail, t0);
  }
  EXPECT_EQ(f.admit("198.51.100.7", t0), preauth_verdict::admit);  // 15s ahead: not past min
  f.held.back().end(preauth_end::authfail, t0);
  auto refused = f.guard->admit(ip("198.51.100.7"), t0 + 1s);
  EXPECT_EQ(refused.verdict, preauth_verdict::penalty);
  EXPECT_EQ(refused.penalty_left, 19s);
  EXPECT_EQ(f.admit("198.51.100.8", t0), preauth_verdict::admit);  // its neighbour is not
  EXPECT_EQ(f.admit("198.51.100.7", t0 + 20s), preauth_verdict::admit);
  EXPECT_EQ(f.guard->penalised_blocks(), 0U);
}

TEST(preauth_guard, authenticated_connections_are_never_penalised_and_grace_costs_most) {
  limits_config l;
  fixture f(l, 99);
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(f.admit("203.0.113.5"), preauth_verdict::admit);
    f.held.back().end(preauth_end::authenticated);
  }
  EXPECT_EQ(f.guard->penalised_blocks(), 0U);
  ASSERT_EQ(f.admit("203.0.113.5"), preauth_verdict::admit);
  f.held.back().end(preauth_end::grace_exceeded);  // 20s: past min at once
  EXPECT_EQ(f.admit("203.0.113.5"), preauth_verdict::penalty);
}

TEST(preauth_guard, penalties_of_connections_admitted_together_are_capped_at_max) {
  limits_config l;
  l.penalties.max = 30s;
  fixture f(l, 99);
  const auto t0 = clock::time_point{} + 1h;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(f.admit("203.0.113.10", t0), preauth_verdict::admit);
  }
  for (auto& t : f.held) {
    t.end(preauth_end::grace_exceeded, t0);  // 5 x 20s
  }
  EXPECT_EQ(f.guard->admit(ip("203.0.113.10"), t0).penalty_left, 30s);
}

TEST(preauth_guard, exempt_blocks_are_neither_capped_nor_penalised) {
  limits_config l;
  l.per_source_max_startups = 1;
  l.penalty_exempt = {*parse_net_block("127.0.0.0/8")};
  fixture f(l, 99);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(f.admit("127.0.0.2"), preauth_verdict::admit);
  }
  for (auto& t : f.held) {
    t.end(preauth_end::grace_exceeded);
  }
  EXPECT_EQ(f.admit("127.0.0.2"), preauth_verdict::admit);
  EXPECT_EQ(f.guard->penalised_blocks(), 0U);
}

TEST(preauth_guard, a_dropped_ticket_ends_as_noauth) {
  limits_config l;
  l.penalties.noauth = 16s;
  fixture f(l, 99);
  const auto now = preauth_guard::clock::now();
  { auto a = f.guard->admit(ip("192.0.2.77"), now); }  // ends now, as noauth
  EXPECT_EQ(f.guard->unauthenticated(), 0U);
  EXPECT_EQ(f.admit("192.0.2.77", now), preauth_verdict::penalty);
}

// Sixteen IPv4 sources penalised at t0 + i seconds: the first expires soonest.
void fill_v4(fixture& f, clock::time_point t0) {
  for (int i = 0; i < 16; ++i) {
    const std::string from = "10.1.0." + std::to_string(i);
    ASSERT_EQ(f.admit(from.c_str(), t0), preauth_verdict::admit);
    f.held.back().end(preauth_end::authfail, t0 + std::chrono::seconds(i));
  }
}

limits_config small_table(bool deny_all) {
  limits_config l;
  l.penalties.max_sources = 16;
  l.penalties.overflow_deny_all = deny_all;
  l.penalties.authfail = 20s;  // past min at once: a penalised source is refused
  l.per_source_max_startups = 0;
  return l;
}

TEST(preauth_guard, a_full_table_forgets_the_penalty_that_expires_soonest_when_permissive) {
  const auto t0 = clock::time_point{} + 1h;
  fixture f(small_table(false), 99);
  fill_v4(f, t0);
  EXPECT_EQ(f.guard->penalised_blocks(), 16U);
  // A seventeenth source is penalised: 10.1.0.0, the soonest to expire, makes room.
  ASSERT_EQ(f.admit("10.2.0.1", t0 + 16s), preauth_verdict::admit);
  f.held.back().end(preauth_end::authfail, t0 + 16s);
  EXPECT_EQ(f.guard->penalised_blocks(), 16U);
  EXPECT_EQ(f.admit("10.1.0.0", t0 + 16s), preauth_verdict::admit);
  EXPECT_EQ(f.admit("10.1.0.1", t0 + 16s), preauth_verdict::penalty);
  EXPECT_EQ(f.admit("10.2.0.1", t0 + 16s), preauth_verdict::penalty);
}

// An extended penalty moves in the expiry order, so that the next one forgotten is another.
TEST(preauth_guard, an_extended_penalty_is_not_the_one_forgotten) {
  const auto t0 = clock::time_point{} + 1h;
  auto l = small_table(false);
  l.penalties.authfail = 10s;  // below min: one failure penalises without refusing yet
  fixture f(l, 99);
  const auto fail_from = [&](const char* from, clock::time_point at) {
    ASSERT_EQ(f.admit(from, at), preauth_verdict::admit) << from;
    f.held.back().end(preauth_end::authfail, at);
  };
  for (int i = 0; i < 16; ++i) {  // 10.1.0.i expires at t0 + 10s + i * 100ms
    fail_from(("10.1.0." + std::to_string(i)).c_str(), t0 + std::chrono::milliseconds(100 * i));
  }
  fail_from("10.1.0.0", t0 + 2s);  // extended to t0 + 20s, past min: refused from now
  fail_from("10.3.0.1", t0 + 2s);  // a 17th: 10.1.0.1 (t0 + 10.1s) is forgotten, not 10.1.0.0
  EXPECT_EQ(f.admit("10.1.0.0", t0 + 2s), preauth_verdict::penalty);
  // 10.1.0.1 starts afresh: one more failure leaves it below min. Had it been kept, that failure
  // would have taken it past min.
  fail_from("10.1.0.1", t0 + 2s);
  EXPECT_EQ(f.admit("10.1.0.1", t0 + 2s), preauth_verdict::admit);
}

TEST(preauth_guard, deny_all_refuses_only_the_family_whose_table_is_full) {
  const auto t0 = clock::time_point{} + 1h;
  fixture f(small_table(true), 99);
  fill_v4(f, t0);
  // The IPv4 table is full of live penalties: every IPv4 source is refused, IPv6 ones are not,
  // and IPv6 penalties have a table of their own.
  EXPECT_EQ(f.admit("10.2.0.1", t0 + 16s), preauth_verdict::penalty);
  for (int i = 0; i < 16; ++i) {
    const std::string from = "2001:db8:" + std::to_string(i) + "::1";
    ASSERT_EQ(f.admit(from.c_str(), t0 + 16s), preauth_verdict::admit) << from;
    f.held.back().end(preauth_end::authfail, t0 + 16s);
  }
  EXPECT_EQ(f.guard->penalised_blocks(), 32U);
  // Once penalties expire, room comes back and the family is admitted again.
  EXPECT_EQ(f.admit("10.2.0.2", t0 + 21s), preauth_verdict::admit);
}

TEST(preauth_guard, ipv4_mapped_peers_count_as_ipv4) {
  limits_config l;
  l.per_source_max_startups = 1;
  l.penalties.enabled = false;
  fixture f(l, 99);
  EXPECT_EQ(f.admit("::ffff:192.0.2.1"), preauth_verdict::admit);
  EXPECT_EQ(f.admit("192.0.2.1"), preauth_verdict::per_source);
}

}  // namespace
}  // namespace bastion::proxy
