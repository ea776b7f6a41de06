#include <gtest/gtest.h>

#include <bastion/policy/authorized_key.hpp>

#include "process.hpp"
#include "sshd.hpp"
#include "temp_dir.hpp"

namespace bastion::policy {
namespace {

using test::make_ssh_key;
using test::read_file;
using test::ssh_keygen_fingerprint_line;
using test::temp_dir;

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

struct key_case {
  const char* type;
  int bits;
  const char* label;  // as ssh-keygen -lf prints it in parentheses
};

class fingerprints : public ::testing::TestWithParam<key_case> {};

// The fingerprint and size must be exactly what `ssh-keygen -lf` prints, since admins compare them.
TEST_P(fingerprints, match_ssh_keygen) {
  temp_dir dir;
  const auto& c = GetParam();
  const std::string path = make_ssh_key(dir, "key", c.type, c.bits, "user@host");
  const auto key = parse_public_key(first_line(read_file(path + ".pub")));
  ASSERT_TRUE(key) << key.error().text;
  const std::string expected = ssh_keygen_fingerprint_line(path + ".pub");
  EXPECT_EQ(std::to_string(key->bits) + " " + key->fingerprint + " " + key->comment + " (" +
                c.label + ")",
            expected);
}

INSTANTIATE_TEST_SUITE_P(
    keys, fingerprints,
    ::testing::Values(key_case{"ed25519", 0, "ED25519"}, key_case{"ecdsa", 256, "ECDSA"},
                      key_case{"ecdsa", 384, "ECDSA"}, key_case{"ecdsa", 521, "ECDSA"},
                      key_case{"rsa", 2048, "RSA"}, key_case{"rsa", 3072, "RSA"}),
    [](const auto& param_info) {
      return std::string(param_info.param.type) + std::to_string(param_info.param.bits);
    });

class parsing : public ::testing::Test {
 protected:
  void SetUp() override {
    ed25519_ = first_line(read_file(make_ssh_key(dir_, "ed", "ed25519", 0, "a@b") + ".pub"));
  }
  temp_dir dir_;
  std::string ed25519_;
};

TEST_F(parsing, keeps_options_and_comment_verbatim) {
  const std::string options = R"(from="10.0.0.0/8",command="echo \"hi there\"",no-pty)";
  const auto key = parse_public_key(options + " " + ed25519_.substr(0, ed25519_.rfind(' ')) +
                                    " laptop key; '; DROP TABLE users; --");
  ASSERT_TRUE(key) << key.error().text;
  EXPECT_EQ(key->options, options);
  EXPECT_EQ(key->type, "ssh-ed25519");
  EXPECT_EQ(key->comment, "laptop key; '; DROP TABLE users; --");
}

TEST_F(parsing, refuses_private_keys_without_echoing_them) {
  const std::string priv = read_file((dir_ / "ed").string());
  const auto key = parse_public_key(priv);
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().text.find("private key"), std::string::npos);
  EXPECT_EQ(key.error().text.find("OPENSSH"), std::string::npos) << "must not echo key material";
  EXPECT_FALSE(parse_authorized_keys(priv));
}

TEST_F(parsing, refuses_short_rsa) {
  const auto path = make_ssh_key(dir_, "rsa1024", "rsa", 1024);
  const auto key = parse_public_key(first_line(read_file(path + ".pub")));
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().text.find("1024 bits; at least 2048"), std::string::npos)
      << key.error().text;
}

TEST_F(parsing, refuses_unknown_types_dsa_and_certificates) {
  const std::string blob = ed25519_.substr(ed25519_.find(' ') + 1);
  EXPECT_NE(parse_public_key("ssh-foo " + blob).error().text.find("unknown key type \"ssh-foo\""),
            std::string::npos);
  EXPECT_NE(parse_public_key("ssh-dss AAAAB3NzaC1kc3M=").error().text.find("DSA keys are refused"),
            std::string::npos);
  EXPECT_NE(
      parse_public_key("ssh-ed25519-cert-v01@openssh.com AAAA").error().text.find("certificates"),
      std::string::npos);
}

TEST_F(parsing, refuses_malformed_base64_and_mismatched_types) {
  const std::string blob =
      ed25519_.substr(ed25519_.find(' ') + 1, ed25519_.rfind(' ') - ed25519_.find(' ') - 1);
  EXPECT_NE(parse_public_key("ssh-ed25519 " + blob.substr(0, blob.size() - 3))
                .error()
                .text.find("not valid base64"),
            std::string::npos);
  EXPECT_NE(parse_public_key("ssh-ed25519 AAAA!!!!").error().text.find("not valid base64"),
            std::string::npos);
  EXPECT_NE(parse_public_key("ssh-rsa " + blob).error().text.find("not a ssh-rsa key"),
            std::string::npos);
  EXPECT_NE(
      parse_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==").error().text.find("malformed"),
      std::string::npos);
}

TEST_F(parsing, refuses_comments_that_are_not_text) {
  const std::string base = ed25519_.substr(0, ed25519_.rfind(' '));
  EXPECT_FALSE(parse_public_key(base + " bad\xff"));
  EXPECT_FALSE(parse_public_key(base + " " + std::string(2000, 'c')));
}

TEST_F(parsing, reads_authorized_keys_files) {
  const std::string second = first_line(read_file(make_ssh_key(dir_, "ec", "ecdsa", 256) + ".pub"));
  const auto keys = parse_authorized_keys("# team keys\n\n" + ed25519_ + "\n" + second + "\n");
  ASSERT_TRUE(keys) << keys.error().text;
  ASSERT_EQ(keys->size(), 2U);
  EXPECT_EQ((*keys)[1].type, "ecdsa-sha2-nistp256");
  const auto bad = parse_authorized_keys(ed25519_ + "\nssh-ed25519 AAAA\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().text.rfind("line 2: ", 0), 0U) << bad.error().text;
  EXPECT_NE(parse_authorized_keys("# nothing\n").error().text.find("no key found"),
            std::string::npos);
}

}  // namespace
}  // namespace bastion::policy
