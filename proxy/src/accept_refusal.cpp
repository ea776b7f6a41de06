// Refusals at accept: a plaintext reason, a bounded linger, and throttled log lines.
#include "accept_refusal.hpp"

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <functional>

#include <bastion/common/log.hpp>
#include <bastion/proxy/ssh_server.hpp>

#include "proxy_metrics.hpp"

namespace bastion::proxy {

namespace asio = boost::asio;

namespace {

constexpr auto log_interval = std::chrono::seconds(10);

// One refusal in flight: the reason is sent with FIN, and the client's own version line is read
// and dropped, so that the close does not become a reset that loses the reason.
struct lingering_refusal {
  lingering_refusal(asio::ip::tcp::socket s, const std::string& reason,
                    std::shared_ptr<std::size_t> n)
      : socket(std::move(s)),
        timer(socket.get_executor()),
        bytes(plaintext_disconnect(reason)),
        count(std::move(n)) {
    ++*count;
  }
  ~lingering_refusal() { --*count; }
  lingering_refusal(const lingering_refusal&) = delete;
  lingering_refusal& operator=(const lingering_refusal&) = delete;

  void close() {
    timer.cancel();
    boost::system::error_code ignored;
    socket.close(ignored);
  }

  asio::ip::tcp::socket socket;
  asio::steady_timer timer;
  std::string bytes;
  std::array<char, 512> sink{};
  std::shared_ptr<std::size_t> count;
};

// Reads until the client closes, a read fails or the timer closes the socket.
void drain(const std::shared_ptr<lingering_refusal>& r) {
  r->socket.async_read_some(asio::buffer(r->sink),
                            [r](const boost::system::error_code& ec, std::size_t) {
                              if (ec) {
                                return r->close();
                              }
                              drain(r);
                            });
}

struct explained {
  prometheus::Counter& counter;
  std::string tell;  // to the client
  std::string why;   // to the log
};

explained explain(const preauth_guard::admission& a, const limits_config& l) {
  const auto& m = proxy_metrics::get();
  const auto& s = l.max_startups;
  const auto left = std::chrono::ceil<std::chrono::seconds>(a.penalty_left).count();
  switch (a.verdict) {
    case preauth_verdict::max_startups:
      return {m.preauth_max_startups,
              "the bastion has too many connections authenticating at once; try again shortly",
              fmt::format("{} connections are authenticating (limits.max_startups {}:{}:{})",
                          a.unauthenticated, s.start, s.rate, s.full)};
    case preauth_verdict::per_source:
      return {m.preauth_per_source,
              "too many connections from your address are authenticating at once; try again "
              "shortly",
              fmt::format("{} connections from {} are authenticating "
                          "(limits.per_source_max_startups)",
                          l.per_source_max_startups, a.block.to_string())};
    case preauth_verdict::penalty:
    case preauth_verdict::admit:
      break;
  }
  if (left == 0) {
    return {m.preauth_penalty, "too many failed or abandoned logins at once; try again shortly",
            "the penalty table is full (limits.penalties.overflow deny-all)"};
  }
  return {
      m.preauth_penalty,
      fmt::format("too many failed or abandoned logins from your address; try again in {}s", left),
      fmt::format("{} is penalised for {}s more for connections that ended without "
                  "authenticating (limits.penalties)",
                  a.block.to_string(), left)};
}

}  // namespace

void accept_refusals::refuse(asio::ip::tcp::socket socket, const std::string& peer,
                             const preauth_guard::admission& a, const limits_config& limits) {
  const auto e = explain(a, limits);
  e.counter.Increment();
  proxy_metrics::get().connections_refused.Increment();
  refuse(std::move(socket), e.tell);
  // Early drops are one decision for all sources: they share one line.
  const net_block key = a.verdict == preauth_verdict::max_startups ? net_block{} : a.block;
  if (const auto unlogged = log_now(to_string(a.verdict), key)) {
    spdlog::warn("src={} refused: {}; {} more refused for this since the last line", peer, e.why,
                 *unlogged);
  }
}

void accept_refusals::refuse(asio::ip::tcp::socket socket, const std::string& reason) {
  if (*lingering_ >= max_lingering) {
    boost::system::error_code ignored;
    socket.close(ignored);
    return;
  }
  auto r = std::make_shared<lingering_refusal>(std::move(socket), reason, lingering_);
  r->timer.expires_after(std::chrono::seconds(2));
  r->timer.async_wait([r](const boost::system::error_code& ec) {
    if (!ec) {
      boost::system::error_code ignored;
      r->socket.close(ignored);
    }
  });
  asio::async_write(r->socket, asio::buffer(r->bytes),
                    [r](const boost::system::error_code& ec, std::size_t) {
                      boost::system::error_code ignored;
                      r->socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
                      if (ec) {
                        return r->close();
                      }
                      drain(r);
                    });
}

std::optional<std::uint64_t> accept_refusals::log_now(const std::string& reason,
                                                      const net_block& block,
                                                      clock::time_point now) {
  if (logged_.size() >= max_logged_blocks && now - purged_ >= std::chrono::seconds(1)) {
    purged_ = now;
    std::erase_if(logged_, [now](const auto& kv) { return now - kv.second.at >= log_interval; });
  }
  // Past the bound, every further block shares one line per reason.
  const bool room = logged_.size() < max_logged_blocks;
  const auto key = std::make_pair(reason, room ? block : net_block{});
  auto [it, fresh] = logged_.try_emplace(key, logged{now, 0});
  if (fresh) {
    return 0;
  }
  if (now - it->second.at < log_interval) {
    ++it->second.unlogged;
    return std::nullopt;
  }
  const auto unlogged = it->second.unlogged;
  it->second = logged{now, 0};
  return unlogged;
}

}  // namespace bastion::proxy
