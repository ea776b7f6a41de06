// What a conninfo looks like where the bastion shows it: everything but its secrets.
#include <gtest/gtest.h>

#include <bastion/policy/conninfo.hpp>

namespace bastion::policy {
namespace {

TEST(redact_conninfo, drops_the_password_and_the_key_passphrase) {
  const std::string shown = redact_conninfo(
      "host=db.internal dbname=bastion user=bastion password=hunter2 sslmode=verify-full "
      "sslkey=/etc/bastion/db.key sslpassword=s3cret");
  EXPECT_EQ(shown.find("hunter2"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("s3cret"), std::string::npos) << shown;
  EXPECT_NE(shown.find("host=db.internal"), std::string::npos) << shown;
  EXPECT_NE(shown.find("sslkey=/etc/bastion/db.key"), std::string::npos) << shown;
  EXPECT_EQ(redact_conninfo("postgresql://bastion:hunter2@db/bastion").find("hunter2"),
            std::string::npos);
  EXPECT_EQ(redact_conninfo("host='unterminated"), "(an unreadable conninfo)");
}

}  // namespace
}  // namespace bastion::policy
