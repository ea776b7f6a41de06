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

}  // namespace
}  // namespace bastion
