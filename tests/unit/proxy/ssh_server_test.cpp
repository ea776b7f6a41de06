// The libssh boundary: accepting a socket closes its descriptor exactly once, and nothing thrown in
// a callback body unwinds through libssh.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <new>
#include <nlohmann/json.hpp>

#include <bastion/proxy/ssh_server.hpp>

#include "callback_guard.hpp"
#include "sshd.hpp"
#include "temp_dir.hpp"

namespace bastion::test {
namespace {

bool is_open(int fd) {
  return fcntl(fd, F_GETFD) != -1;
}

// libssh 0.10.6 takes the socket into the session before it checks that the bind has a host key:
// a bind without one makes the accept fail with the fd already owned.
TEST(accept_fd, a_failed_accept_closes_the_descriptor_exactly_once) {
  auto bind = proxy::make_server_bind({});
  ASSERT_TRUE(bind) << bind.error().text;

  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  ssh_session_ptr session(ssh_new());
  const auto accepted = proxy::accept_fd(bind->get(), session.get(), sp[0]);
  ASSERT_FALSE(accepted);
  EXPECT_NE(accepted.error().text.find("cannot start an SSH session"), std::string::npos);
  // A descriptor that another thread opens now takes the lowest free number: if accept_fd had
  // closed sp[0] while the session still holds it, that number is reused here, and freeing the
  // session would close this newcomer.
  const int newcomer = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(newcomer, 0);
  session.reset();
  EXPECT_TRUE(is_open(newcomer)) << "freeing the session closed a descriptor it did not own";
  EXPECT_FALSE(is_open(sp[0])) << "the session's descriptor must be closed once it is freed";
  ::close(newcomer);
  ::close(sp[1]);
}

TEST(accept_fd, an_accepted_descriptor_belongs_to_the_session) {
  temp_dir dir;
  auto bind = proxy::make_server_bind({make_ssh_key(dir, "host", "ed25519")});
  ASSERT_TRUE(bind) << bind.error().text;
  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  ssh_session_ptr session(ssh_new());
  ASSERT_TRUE(proxy::accept_fd(bind->get(), session.get(), sp[0]));
  EXPECT_EQ(ssh_get_fd(session.get()), sp[0]);
  session.reset();
  EXPECT_FALSE(is_open(sp[0]));
  ::close(sp[1]);
}

class owner : public proxy::callback_owner {
 public:
  void on_callback_failure() noexcept override { ++failures; }
  int failures = 0;
};

TEST(callback_guard, passes_the_result_through) {
  owner o;
  EXPECT_EQ(proxy::guarded(o, -1, [] { return 7; }), 7);
  EXPECT_EQ(o.failures, 0);
}

TEST(callback_guard, anything_thrown_becomes_the_refusal_and_fails_the_owner) {
  owner o;
  static_assert(noexcept(proxy::guarded(o, -1, [] { return 0; })));
  EXPECT_EQ(proxy::guarded(o, -1, []() -> int { throw std::bad_alloc(); }), -1);
  EXPECT_EQ(proxy::guarded(o, -1,
                           [] {
                             // A JSON error, with a client's bytes in its message.
                             return nlohmann::json::parse("{\"a\":\x1b]0;title\x07").get<int>();
                           }),
            -1);
  EXPECT_EQ(proxy::guarded(o, -1, []() -> int { throw 42; }), -1);
  bool ran = false;
  proxy::guarded(o, [&] {
    ran = true;
    throw std::runtime_error("in a void callback");
  });
  EXPECT_TRUE(ran);
  EXPECT_EQ(o.failures, 4);
}

}  // namespace
}  // namespace bastion::test
