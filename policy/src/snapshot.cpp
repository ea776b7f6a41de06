// Indexes over the policy rows.
#include <algorithm>

#include <bastion/policy/snapshot.hpp>

namespace bastion::policy {
namespace {

template <class Map>
std::size_t index_of(const Map& map, std::string_view key) {
  const auto it = map.find(key);
  return it == map.end() ? static_cast<std::size_t>(-1) : it->second;
}

}  // namespace

policy_snapshot::policy_snapshot(snapshot_rows rows) : rows_(std::move(rows)) {
  for (std::size_t i = 0; i < rows_.users.size(); ++i) {
    users_.emplace(rows_.users[i].name, i);
  }
  for (std::size_t i = 0; i < rows_.keys.size(); ++i) {
    keys_.emplace(rows_.keys[i].fingerprint, i);
  }
  for (std::size_t i = 0; i < rows_.targets.size(); ++i) {
    targets_.emplace(rows_.targets[i].name, i);
  }
  for (const auto& [user, group] : rows_.memberships) {
    groups_[user].push_back(group);
  }
}

const snapshot_user* policy_snapshot::find_user(std::string_view name) const {
  const auto i = index_of(users_, name);
  return i < rows_.users.size() ? &rows_.users[i] : nullptr;
}

const snapshot_key* policy_snapshot::find_key(std::string_view fingerprint) const {
  const auto i = index_of(keys_, fingerprint);
  return i < rows_.keys.size() ? &rows_.keys[i] : nullptr;
}

const target_info* policy_snapshot::find_target_by_name(std::string_view name) const {
  const auto i = index_of(targets_, name);
  return i < rows_.targets.size() ? &rows_.targets[i] : nullptr;
}

const target_info* policy_snapshot::find_target_by_address(std::string_view host, int port) const {
  const target_info* found = nullptr;
  for (const auto& t : rows_.targets) {
    if (t.host == host && t.port == port) {
      if (found != nullptr) {
        return nullptr;  // ambiguous: two names for one address; the user must use a name
      }
      found = &t;
    }
  }
  return found;
}

std::span<const std::string> policy_snapshot::groups_of(std::string_view user) const {
  const auto it = groups_.find(user);
  return it == groups_.end() ? std::span<const std::string>{} : std::span(it->second);
}

grant_decision policy_snapshot::decide_grant(std::string_view user, const target_info& target,
                                             std::string_view login, std::string_view source_ip,
                                             std::int64_t now_unix) const {
  return evaluate_grants(rows_.grants, {user, groups_of(user), target.name, &target.labels, login,
                                        source_ip, now_unix});
}

grant_decision policy_snapshot::decide_reach(std::string_view user, const target_info& target,
                                             std::string_view source_ip,
                                             std::int64_t now_unix) const {
  return evaluate_reach(
      rows_.grants, {user, groups_of(user), target.name, &target.labels, {}, source_ip, now_unix});
}

}  // namespace bastion::policy
