// Clients that break the SSH protocol: messages out of state (the CVE-2018-10933 class: a
// client's USERAUTH_SUCCESS, channels and forwards before authentication), an oversized packet,
// malformed fields, garbage before the key exchange, and data for a channel never opened. Each
// connection must end within seconds, never reach a session, and leave bastiond serving with
// what it held given back.
#include <cstdio>

#include "build_paths.hpp"
#include "target_support.hpp"

namespace bastion::test {
namespace {

using namespace std::chrono_literals;

// A short grace time: libssh drops a malformed USERAUTH_REQUEST without a reply (messages.c,
// ssh_packet_userauth_request returns on the failed unpack), so that connection ends when its
// login grace time runs out, as one that sends nothing does.
class protocol_fault : public jump_session {
 protected:
  static constexpr double grace_seconds = 4;
  std::string limits() const override {
    return "login_grace_time: 4s, max_auth_tries: 6, connect_timeout: 60s, "
           "max_startups: \"200\", per_source_max_startups: 200";
  }
};

// The seconds the case `name` took to end ("CASE: closed 0.05s"), or -1 if it did not close.
double closed_after(const std::string& out, const std::string& name) {
  const std::string mark = name + ": closed ";
  const auto at = out.find(mark);
  return at == std::string::npos ? -1 : std::strtod(out.c_str() + at + mark.size(), nullptr);
}

TEST_F(protocol_fault, out_of_state_oversized_and_malformed_messages_end_the_connection) {
  const pid_t pid = daemon_->pid();
  ASSERT_EQ(exec(login() + "@t1", "echo warm").out,
            "warm\n");  // what a first session opens for good
  const std::size_t fds_before = open_fds(pid);
  const long rss_before = rss_kib(pid);
  const int sessions_before = count_rows("sessions");

  // From 127.0.5.N: the penalties these connections earn fall on those addresses alone.
  const auto r =
      run({"/usr/bin/python3", bastion::test::clients_dir() + "/paramiko_hostile_protocol.py",
           std::to_string(port_), "127.0.5.", known_hosts_, alice_key_, "t1"},
          {.timeout = 180s});
  std::printf("%s", r.out.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << read_file(log_);
  // Refused by libssh's state checks and packet limits at once, well inside the grace time.
  for (const char* c : {"success_before_auth", "channel_before_auth", "forward_before_auth",
                        "oversized_packet", "garbage_length", "long_version_line"}) {
    const double took = closed_after(r.out, c);
    EXPECT_GE(took, 0) << c << " was not closed:\n" << r.out;
    EXPECT_LT(took, grace_seconds / 2) << c;
  }
  EXPECT_GE(closed_after(r.out, "malformed_userauth"), grace_seconds - 0.5) << r.out;
  EXPECT_CONTAINS(r.out, "unknown_channel_after_auth: ");
  // None of them became a session, and bastiond still serves.
  EXPECT_EQ(count_rows("sessions"), sessions_before);
  EXPECT_EQ(exec(login() + "@t1", "echo still-serving").out, "still-serving\n") << read_file(log_);
  EXPECT_TRUE(eventually([&] { return open_fds(pid) <= fds_before; }, 20s))
      << open_fds(pid) << " fds, " << fds_before << " before:\n"
      << fd_targets(pid);
  std::printf("protocol: fds %zu (before %zu), rss %ld KiB (before %ld KiB)\n", open_fds(pid),
              fds_before, rss_kib(pid), rss_before);
}

}  // namespace
}  // namespace bastion::test
