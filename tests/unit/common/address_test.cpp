#include <gtest/gtest.h>

#include <bastion/common/address.hpp>

namespace bastion {
namespace {

TEST(address, reads_ipv4_and_bracketed_ipv6) {
  EXPECT_EQ(parse_endpoint("127.0.0.1:2222"), (endpoint{"127.0.0.1", 2222}));
  EXPECT_EQ(parse_endpoint("0.0.0.0:22"), (endpoint{"0.0.0.0", 22}));
  EXPECT_EQ(parse_endpoint("[::1]:2222"), (endpoint{"::1", 2222}));
  EXPECT_EQ(parse_endpoint("[::]:65535"), (endpoint{"::", 65535}));
}

TEST(address, prints_what_it_reads) {
  EXPECT_EQ(parse_endpoint("[::1]:2222")->to_string(), "[::1]:2222");
  EXPECT_EQ(parse_endpoint("10.1.2.3:8022")->to_string(), "10.1.2.3:8022");
}

TEST(address, rejects_names_missing_ports_and_bad_ports) {
  for (const char* bad :
       {"", "2222", "localhost:2222", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
        "127.0.0.1:22x", "::1:2222", "[::1]2222", "[::1]:", "300.0.0.1:22", "[127.0.0.1:22"}) {
    EXPECT_FALSE(parse_endpoint(bad).has_value()) << bad;
  }
}

TEST(net_block, reads_blocks_and_clears_the_host_bits) {
  EXPECT_EQ(parse_net_block("10.1.2.3/8")->to_string(), "10.0.0.0/8");
  EXPECT_EQ(parse_net_block("2001:db8:1:2::5/64")->to_string(), "2001:db8:1:2::/64");
  EXPECT_EQ(parse_net_block("192.0.2.9")->to_string(), "192.0.2.9");
  EXPECT_EQ(parse_net_block("10.0.0.0/0")->to_string(), "0.0.0.0/0");
  EXPECT_EQ(parse_net_block("10.255.0.0/9")->to_string(), "10.128.0.0/9");
  for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
                          "host.example", "10.0.0/8", "10.0.0.0//8", "::1/0008"}) {
    EXPECT_FALSE(parse_net_block(bad).has_value()) << bad;
  }
  // Found by values_fuzz: inet_pton stops at a NUL, so these read as 10.0.0.0 before the check.
  using namespace std::string_view_literals;
  EXPECT_FALSE(parse_net_block("10.0.0.0\0junk/8"sv).has_value());
  EXPECT_FALSE(parse_ip("10.0.0.1\0"sv).has_value());
  EXPECT_FALSE(parse_endpoint("10.0.0.1\0:22"sv).has_value());
  EXPECT_FALSE(parse_endpoint("[fe80::1%eth0\0x]:22"sv).has_value());
  // A link-local listener names its interface.
  EXPECT_EQ(parse_endpoint("[fe80::1%lo]:2222")->host, "fe80::1%lo");
  EXPECT_FALSE(parse_endpoint("[fe80::1%]:2222").has_value());
}

TEST(net_block, contains_its_addresses_only_in_its_family) {
  const auto block = *parse_net_block("10.0.0.0/8");
  EXPECT_TRUE(block.contains(*parse_ip("10.200.3.4")));
  EXPECT_FALSE(block.contains(*parse_ip("11.0.0.1")));
  EXPECT_TRUE(block.contains(*parse_ip("::ffff:10.0.0.1")));  // a dual-stack listener's peer
  EXPECT_FALSE(block.contains(*parse_ip("a00::1")));          // same leading bits, IPv6
  const auto v6 = *parse_net_block("2001:db8::/32");
  EXPECT_TRUE(v6.contains(*parse_ip("2001:db8:ffff::1")));
  EXPECT_FALSE(v6.contains(*parse_ip("2001:db9::1")));
  EXPECT_TRUE(parse_net_block("0.0.0.0/0")->contains(*parse_ip("203.0.113.1")));
  // A block holds a narrower block, not a wider one.
  EXPECT_TRUE(block.contains(*parse_net_block("10.1.0.0/16")));
  EXPECT_FALSE(parse_net_block("10.1.0.0/16")->contains(block));
}

}  // namespace
}  // namespace bastion
