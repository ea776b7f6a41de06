// One-time live watch tickets.
#include "live_tickets.hpp"

#include <bastion/policy/tokens.hpp>

namespace bastion::admin {

std::optional<std::string> live_tickets::issue(const std::string& session, holder who) {
  const std::lock_guard lock(mutex_);
  forget_expired();
  if (tickets_.size() >= max_outstanding) {
    return std::nullopt;
  }
  std::string ticket = policy::new_admin_token();
  tickets_[policy::admin_token_hash(ticket)] = {session, std::move(who),
                                                std::chrono::steady_clock::now() + lifetime};
  return ticket;
}

std::optional<live_tickets::holder> live_tickets::redeem(const std::string& ticket,
                                                         const std::string& session) {
  const std::lock_guard lock(mutex_);
  forget_expired();
  // Looked up by its hash (no compare of the secret itself), and used up whenever it is shown.
  const auto it = tickets_.find(policy::admin_token_hash(ticket));
  if (it == tickets_.end()) {
    return std::nullopt;
  }
  const entry found = std::move(it->second);
  tickets_.erase(it);
  if (found.session != session) {
    return std::nullopt;
  }
  return found.who;
}

void live_tickets::forget_expired() {
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(tickets_, [&](const auto& t) { return t.second.expires <= now; });
}

}  // namespace bastion::admin
