// Pre-authentication limits: sshd's MaxStartups, PerSourceMaxStartups and PerSourcePenalties.
#include "preauth_guard.hpp"

#include <algorithm>

namespace bastion::proxy {

const char* to_string(preauth_verdict v) {
  switch (v) {
    case preauth_verdict::admit:
      return "admit";
    case preauth_verdict::max_startups:
      return "max_startups";
    case preauth_verdict::per_source:
      return "per_source";
    case preauth_verdict::penalty:
      return "penalty";
  }
  return "?";
}

preauth_guard::ticket::ticket(ticket&& other) noexcept
    : guard_(std::move(other.guard_)), block_(other.block_), exempt_(other.exempt_) {}

preauth_guard::ticket& preauth_guard::ticket::operator=(ticket&& other) noexcept {
  if (this != &other) {
    end(preauth_end::noauth);
    guard_ = std::move(other.guard_);
    block_ = other.block_;
    exempt_ = other.exempt_;
  }
  return *this;
}

preauth_guard::ticket::~ticket() {
  end(preauth_end::noauth);
}

void preauth_guard::ticket::end(preauth_end how, clock::time_point now) {
  if (const auto guard = std::move(guard_)) {
    guard->release(block_, exempt_, how, now);
  }
}

std::shared_ptr<preauth_guard> preauth_guard::make(const limits_config& limits, percent_roll roll) {
  if (!roll) {
    roll = [engine = std::make_shared<std::mt19937>(std::random_device{}())] {
      return std::uniform_int_distribution<unsigned>(0, 99)(*engine);
    };
  }
  return std::shared_ptr<preauth_guard>(new preauth_guard(limits, std::move(roll)));
}

preauth_guard::preauth_guard(const limits_config& limits, percent_roll roll)
    : limits_(limits),
      roll_(std::move(roll)),
      penalties_{penalty_table(static_cast<std::size_t>(limits.penalties.max_sources)),
                 penalty_table(static_cast<std::size_t>(limits.penalties.max_sources))} {}

// sshd's drop_connection(): below `start` never, at `full` always, and in between with a
// probability rising linearly from `rate`% to 100%.
bool preauth_guard::drop_early(std::size_t unauthenticated) {
  const auto& m = limits_.max_startups;
  const auto n = static_cast<long long>(unauthenticated);
  if (n >= m.full) {
    return true;
  }
  if (n < m.start) {
    return false;
  }
  const long long p = (100 - m.rate) * (n - m.start) / (m.full - m.start) + m.rate;
  return roll_() < p;
}

bool preauth_guard::exempt(const net_block& address) const {
  return std::any_of(limits_.penalty_exempt.begin(), limits_.penalty_exempt.end(),
                     [&](const net_block& b) { return b.contains(address); });
}

void preauth_guard::penalty_table::erase(std::map<net_block, penalty>::iterator it) {
  by_expiry_.erase({it->second.expiry, it->first});
  entries_.erase(it);
}

void preauth_guard::penalty_table::forget_expired(clock::time_point now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    erase(entries_.find(by_expiry_.begin()->second));
  }
}

const preauth_guard::penalty_table::penalty* preauth_guard::penalty_table::find(
    const net_block& block, clock::time_point now) {
  forget_expired(now);
  const auto it = entries_.find(block);
  return it == entries_.end() ? nullptr : &it->second;
}

bool preauth_guard::penalty_table::full(clock::time_point now) {
  forget_expired(now);
  return entries_.size() >= max_;
}

// sshd's srclimit_penalise(): a new block's penalty runs from now, a known one's is extended;
// either way at most `max` ahead, and refused once it exceeds `min`. A full table makes room in
// permissive mode by dropping the penalty that expires soonest; in deny-all mode it takes no new
// block (admit then refuses the family).
void preauth_guard::penalty_table::penalise(const net_block& block, clock::duration amount,
                                            const penalty_config& p, clock::time_point now) {
  if (amount <= clock::duration::zero()) {
    return;
  }
  forget_expired(now);  // an expired penalty starts again from now, not active
  auto it = entries_.find(block);
  if (it == entries_.end()) {
    if (full(now)) {
      if (p.overflow_deny_all) {
        return;
      }
      erase(entries_.find(by_expiry_.begin()->second));
    }
    it = entries_.emplace(block, penalty{now, false}).first;
    by_expiry_.emplace(now, block);
  }
  auto& entry = it->second;
  by_expiry_.erase({entry.expiry, block});
  entry.expiry = std::min(entry.expiry + amount, now + clock::duration(p.max));
  entry.active = entry.active || entry.expiry - now > p.min;
  by_expiry_.emplace(entry.expiry, block);
}

preauth_guard::admission preauth_guard::admit(const net_block& address, clock::time_point now) {
  const bool is_exempt = exempt(address);
  const net_block block =
      address.prefix(address.v6 ? limits_.netblock_v6_bits : limits_.netblock_v4_bits);
  const std::lock_guard lock(mutex_);
  admission out;
  out.block = block;
  out.unauthenticated = unauthenticated_;
  if (!is_exempt && limits_.penalties.enabled) {
    auto& table = table_of(block);
    if (const auto* p = table.find(block, now); p != nullptr && p->active) {
      out.verdict = preauth_verdict::penalty;
      out.penalty_left = p->expiry - now;
      return out;
    }
    if (limits_.penalties.overflow_deny_all && table.full(now)) {
      out.verdict = preauth_verdict::penalty;
      return out;
    }
  }
  const int cap = limits_.per_source_max_startups;
  auto& here = per_block_[block];
  if (!is_exempt && cap > 0 && here >= cap) {
    out.verdict = preauth_verdict::per_source;
  } else if (drop_early(unauthenticated_)) {
    out.verdict = preauth_verdict::max_startups;
  }
  if (out.verdict != preauth_verdict::admit) {
    if (here == 0) {
      per_block_.erase(block);
    }
    return out;
  }
  ++here;
  ++unauthenticated_;
  out.pass = ticket(shared_from_this(), block, is_exempt);
  return out;
}

void preauth_guard::release(const net_block& block, bool exempt, preauth_end how,
                            clock::time_point now) {
  const std::lock_guard lock(mutex_);
  --unauthenticated_;
  if (const auto it = per_block_.find(block); it != per_block_.end() && --it->second <= 0) {
    per_block_.erase(it);
  }
  if (exempt || !limits_.penalties.enabled) {
    return;
  }
  const auto& p = limits_.penalties;
  auto& table = table_of(block);
  switch (how) {
    case preauth_end::authenticated:
      return;
    case preauth_end::authfail:
      return table.penalise(block, p.authfail, p, now);
    case preauth_end::noauth:
      return table.penalise(block, p.noauth, p, now);
    case preauth_end::grace_exceeded:
      return table.penalise(block, p.grace_exceeded, p, now);
  }
}

std::size_t preauth_guard::unauthenticated() const {
  const std::lock_guard lock(mutex_);
  return unauthenticated_;
}

std::size_t preauth_guard::penalised_blocks() const {
  const std::lock_guard lock(mutex_);
  return penalties_[0].size() + penalties_[1].size();
}

}  // namespace bastion::proxy
