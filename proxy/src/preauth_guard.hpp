// The limits on connections that have not authenticated yet, decided at accept before any libssh
// session exists, as sshd decides them: MaxStartups' random early drop, PerSourceMaxStartups, and
// PerSourcePenalties. Pure (time and randomness come in) and thread-safe: the main thread admits,
// the io threads end tickets. Internal to proxy/.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>

#include <bastion/common/address.hpp>
#include <bastion/common/config.hpp>

namespace bastion::proxy {

enum class preauth_verdict { admit, max_startups, per_source, penalty };
enum class preauth_end { authenticated, authfail, noauth, grace_exceeded };

// The metric label and log word of a refusal.
const char* to_string(preauth_verdict v);

class preauth_guard : public std::enable_shared_from_this<preauth_guard> {
 public:
  using clock = std::chrono::steady_clock;
  // A uniform integer in [0, 100): the early drop's die. Tests pass their own.
  using percent_roll = std::function<unsigned()>;

  // One admitted connection's place among the unauthenticated ones, until it authenticates or
  // ends. Not ending it explicitly ends it as `noauth`.
  class ticket {
   public:
    ticket() = default;
    ticket(ticket&& other) noexcept;
    ticket& operator=(ticket&& other) noexcept;
    ticket(const ticket&) = delete;
    ticket& operator=(const ticket&) = delete;
    ~ticket();
    // The first call counts; later ones do nothing.
    void end(preauth_end how, clock::time_point now = clock::now());

   private:
    friend class preauth_guard;
    ticket(std::shared_ptr<preauth_guard> guard, const net_block& block, bool exempt)
        : guard_(std::move(guard)), block_(block), exempt_(exempt) {}
    std::shared_ptr<preauth_guard> guard_;
    net_block block_;
    bool exempt_ = false;
  };

  struct admission {
    preauth_verdict verdict = preauth_verdict::admit;
    ticket pass;                      // held while unauthenticated, when admitted
    net_block block;                  // the source's netblock
    clock::duration penalty_left{};   // when refused for a penalty
    std::size_t unauthenticated = 0;  // at the decision, this connection not counted
  };

  static std::shared_ptr<preauth_guard> make(const limits_config& limits, percent_roll roll = {});

  admission admit(const net_block& address, clock::time_point now = clock::now());

  std::size_t unauthenticated() const;
  // Penalties held, of both address families (expired ones go at the next lookup).
  std::size_t penalised_blocks() const;

 private:
  // One address family's penalties (sshd keeps one table per family, each max_sources long),
  // indexed by netblock and by expiry: expired entries and, when the table is full and the
  // overflow is permissive, the one expiring soonest are found without a scan.
  class penalty_table {
   public:
    struct penalty {
      clock::time_point expiry;
      bool active = false;  // went past `min`: the block is refused until expiry
    };
    explicit penalty_table(std::size_t max) : max_(max) {}
    const penalty* find(const net_block& block, clock::time_point now);
    // Full of live entries: with overflow deny-all, the family is refused.
    bool full(clock::time_point now);
    void penalise(const net_block& block, clock::duration amount, const penalty_config& p,
                  clock::time_point now);
    std::size_t size() const { return entries_.size(); }

   private:
    void forget_expired(clock::time_point now);
    void erase(std::map<net_block, penalty>::iterator it);
    std::map<net_block, penalty> entries_;
    std::set<std::pair<clock::time_point, net_block>> by_expiry_;
    std::size_t max_;
  };

  preauth_guard(const limits_config& limits, percent_roll roll);
  bool drop_early(std::size_t unauthenticated);
  void release(const net_block& block, bool exempt, preauth_end how, clock::time_point now);
  bool exempt(const net_block& address) const;
  penalty_table& table_of(const net_block& block) { return penalties_.at(block.v6 ? 1 : 0); }

  const limits_config limits_;
  percent_roll roll_;
  mutable std::mutex mutex_;
  std::size_t unauthenticated_ = 0;
  std::map<net_block, int> per_block_;
  std::array<penalty_table, 2> penalties_;  // IPv4, IPv6
};

}  // namespace bastion::proxy
