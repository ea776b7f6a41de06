// The in-memory copy of identity and policy that every login is decided against, so that a login
// costs no database round trip. Built from PostgreSQL (store::load_snapshot) and replaced whole
// when the policy changes; read-only once built, so many io threads may share one.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <bastion/policy/grants.hpp>
#include <bastion/policy/key_options.hpp>
#include <bastion/policy/names.hpp>
#include <bastion/policy/store.hpp>

namespace bastion::policy {

struct snapshot_user {
  std::string name;
  bool is_admin = false;
  bool disabled = false;
};

struct snapshot_key {
  std::string fingerprint;
  std::string user;
  std::string type;
  std::string base64;
  key_options options;  // its authorized_keys options, as the bastion honours them
};

// What the store reads; the snapshot indexes it.
struct snapshot_rows {
  std::vector<snapshot_user> users;
  std::vector<snapshot_key> keys;
  std::vector<target_info> targets;
  std::vector<grant_rule> grants;  // only the rows that passed make_grant_rule
  std::vector<std::pair<std::string, std::string>> memberships;  // (user, group)
  std::int64_t version = 0;  // the policy_version the rows were read at
};

class policy_snapshot {
 public:
  policy_snapshot() = default;
  explicit policy_snapshot(snapshot_rows rows);

  const snapshot_user* find_user(std::string_view name) const;
  const snapshot_key* find_key(std::string_view fingerprint) const;
  const target_info* find_target_by_name(std::string_view name) const;
  // A registered target at host:port (as a -J destination names it), if exactly one matches.
  const target_info* find_target_by_address(std::string_view host, int port) const;
  // The grants' decision on `user` logging in to `target` as `login` from `source_ip` at `now`.
  grant_decision decide_grant(std::string_view user, const target_info& target,
                              std::string_view login, std::string_view source_ip,
                              std::int64_t now_unix) const;
  // Whether some login on `target` is open to `user` from `source_ip` at `now` (evaluate_reach).
  grant_decision decide_reach(std::string_view user, const target_info& target,
                              std::string_view source_ip, std::int64_t now_unix) const;
  std::span<const std::string> groups_of(std::string_view user) const;
  std::span<const target_info> targets() const { return rows_.targets; }
  std::span<const grant_rule> grants() const { return rows_.grants; }

  std::size_t user_count() const { return rows_.users.size(); }
  std::int64_t version() const { return rows_.version; }

 private:
  snapshot_rows rows_;
  std::map<std::string, std::size_t, std::less<>> users_;
  std::map<std::string, std::size_t, std::less<>> keys_;
  std::map<std::string, std::size_t, std::less<>> targets_;
  std::map<std::string, std::vector<std::string>, std::less<>> groups_;  // user -> groups
};

}  // namespace bastion::policy
