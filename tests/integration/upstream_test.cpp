// The upstream dial against a real OpenSSH sshd: a trusted host key and an authorised bastion key
// give a working session; every other case ends with a reason that names the target.
#include <boost/asio/steady_timer.hpp>
#include <future>

#include <bastion/proxy/upstream.hpp>

#include "bastionctl_support.hpp"
#include "sshd.hpp"

namespace bastion::test {
namespace {

using proxy::upstream_request;
using proxy::upstream_result;

class upstream : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto key_path = make_ssh_key(dir_, "upstream", "ed25519");
    auto key = load_private_key(key_path);
    ASSERT_TRUE(key);
    key_ = std::move(*key);
    const std::string pub = read_file(key_path + ".pub");
    pub_line_ = pub.substr(0, pub.find('\n'));
  }

  upstream_request request_for(int port, std::vector<policy::host_key> trusted) const {
    upstream_request r;
    r.target = "web1";
    r.host = "127.0.0.1";
    r.port = port;
    r.login = current_login();
    r.trusted_keys = std::move(trusted);
    r.client_key = key_.get();
    r.timeout = std::chrono::seconds(5);
    return r;
  }

  // Dials on a private io_context and returns the result.
  static upstream_result dial(upstream_request request) {
    boost::asio::io_context io;
    std::promise<upstream_result> promise;
    auto future = promise.get_future();
    auto dialer = std::make_shared<proxy::upstream_dialer>(
        boost::asio::make_strand(io), std::move(request),
        [&](upstream_result r) { promise.set_value(std::move(r)); });
    dialer->start();
    io.run_for(std::chrono::seconds(30));
    if (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      ADD_FAILURE() << "the dial did not report within 30 s";
      upstream_result none;
      none.error = "no report";
      return none;
    }
    return future.get();
  }

  temp_dir dir_;
  ssh_key_ptr key_;
  std::string pub_line_;
};

policy::host_key trusted(const sshd_server& sshd) {
  const auto space = sshd.host_key().find(' ');
  return {sshd.host_key().substr(0, space), sshd.host_key().substr(space + 1),
          sshd.host_key_fingerprint()};
}

TEST_F(upstream, a_trusted_target_gives_an_authenticated_session) {
  sshd_server sshd;
  sshd.authorize(pub_line_);
  auto result = dial(request_for(sshd.port(), {trusted(sshd)}));
  ASSERT_TRUE(result.session) << result.error;
  EXPECT_EQ(result.host_key_fingerprint, sshd.host_key_fingerprint());
  // Prove the login by running a command on it (blocking is fine in a test).
  ssh_session s = result.session.get();
  ssh_set_blocking(s, 1);
  ssh_channel_ptr channel(ssh_channel_new(s));
  ASSERT_EQ(ssh_channel_open_session(channel.get()), SSH_OK) << ssh_get_error(s);
  ASSERT_EQ(ssh_channel_request_exec(channel.get(), "echo upstream-ok"), SSH_OK);
  char buf[64] = {};
  const int n = ssh_channel_read(channel.get(), buf, sizeof buf - 1, 0);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(std::max(n, 0))), "upstream-ok\n");
  ssh_channel_close(channel.get());
}

// The owner cancels from inside its own teardown: an answer then would call back into an object
// that is half destroyed.
TEST_F(upstream, a_cancelled_dial_never_reports) {
  sshd_server sshd;
  sshd.authorize(pub_line_);
  for (const auto delay : {std::chrono::milliseconds(0), std::chrono::milliseconds(30)}) {
    boost::asio::io_context io;
    const auto strand = boost::asio::make_strand(io);
    int reports = 0;
    auto request = request_for(sshd.port(), {trusted(sshd)});
    request.login.clear();  // the dial then waits for the login after the host key check
    auto dialer = std::make_shared<proxy::upstream_dialer>(
        strand, std::move(request), [&](const upstream_result&) { ++reports; });
    dialer->start();
    boost::asio::steady_timer timer(strand, delay);
    timer.async_wait([&](const boost::system::error_code&) { dialer->cancel(); });
    io.run_for(std::chrono::seconds(2));
    EXPECT_EQ(reports, 0) << "cancelled after " << delay.count() << " ms";
  }
}

TEST_F(upstream, an_unknown_host_key_is_never_trusted) {
  sshd_server sshd;
  sshd.authorize(pub_line_);
  const auto result =
      dial(request_for(sshd.port(), {{"ssh-ed25519", "AAAA", "SHA256:not-this-one"}}));
  EXPECT_FALSE(result.session);
  EXPECT_CONTAINS(result.error, "the host key of web1 is " + sshd.host_key_fingerprint());
  EXPECT_CONTAINS(result.error, "not a key stored for it");
  EXPECT_FALSE(dial(request_for(sshd.port(), {})).session) << "no stored key: nothing is trusted";
}

TEST_F(upstream, a_refused_upstream_key_is_named) {
  sshd_server sshd;  // nothing authorised
  const auto result = dial(request_for(sshd.port(), {trusted(sshd)}));
  EXPECT_FALSE(result.session);
  EXPECT_CONTAINS(result.error, "web1 refused the bastion's upstream key");
}

TEST_F(upstream, a_target_that_is_down_is_reported) {
  const auto result = dial(request_for(free_port(), {}));
  EXPECT_FALSE(result.session);
  EXPECT_CONTAINS(result.error, "cannot connect to web1 (127.0.0.1:");
}

TEST_F(upstream, a_silent_target_times_out) {
  const silent_listener silent;
  auto request = request_for(silent.port(), {});
  request.timeout = std::chrono::seconds(1);
  const auto start = std::chrono::steady_clock::now();
  const auto result = dial(std::move(request));
  EXPECT_FALSE(result.session);
  EXPECT_CONTAINS(result.error, "connecting to web1 timed out after 1s");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace bastion::test
