// One-time tickets for the live watch. A browser's WebSocket cannot send an Authorization header,
// and asciinema-player offers only its own subprotocols, so the console asks for a ticket with its
// bearer token (POST .../live-ticket) and puts it in the WebSocket's URL: it names one session,
// acts as the token's user, is good once and for 30 s, and lives only in this node's memory.
// Internal to admin/.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace bastion::admin {

class live_tickets {
 public:
  static constexpr auto lifetime = std::chrono::seconds(30);
  static constexpr std::size_t max_outstanding = 1024;

  struct holder {
    std::string user;
    std::int64_t token_id = 0;
  };

  // A new ticket for `session`; nullopt when max_outstanding unexpired ones wait already.
  std::optional<std::string> issue(const std::string& session, holder who);
  // The ticket's holder if it names `session` and has not expired. Shown once, it is used up.
  std::optional<holder> redeem(const std::string& ticket, const std::string& session);

 private:
  struct entry {
    std::string session;
    holder who;
    std::chrono::steady_clock::time_point expires;
  };
  void forget_expired();  // under mutex_

  std::mutex mutex_;
  std::map<std::string, entry, std::less<>> tickets_;  // by the ticket's SHA-256
};

}  // namespace bastion::admin
