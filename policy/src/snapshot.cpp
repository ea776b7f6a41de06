// Indexes over the policy rows.
#include <bastion/policy/snapshot.hpp>

namespace bastion::policy {
namespace {

std::string grant_key(std::string_view user, std::string_view target, std::string_view login) {
  std::string k(user);
  k += '\0';
  k += target;
  k += '\0';
  k += login;
  return k;
}

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
  for (std::size_t i = 0; i < rows_.grants.size(); ++i) {
    const auto& g = rows_.grants[i];
    grants_.emplace(grant_key(g.user, g.target, g.login), i);
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

const snapshot_grant* policy_snapshot::find_grant(std::string_view user, std::string_view target,
                                                  std::string_view login) const {
  const auto i = index_of(grants_, grant_key(user, target, login));
  return i < rows_.grants.size() ? &rows_.grants[i] : nullptr;
}

bool policy_snapshot::has_grant_on(std::string_view user, std::string_view target) const {
  const std::string prefix = grant_key(user, target, {});  // "user\0target\0"
  const auto it = grants_.lower_bound(prefix);
  return it != grants_.end() && it->first.starts_with(prefix);
}

}  // namespace bastion::policy
