// Groups of users, which grants may name instead of a user.
#include <fmt/format.h>

#include "store_impl.hpp"

namespace bastion::policy {

int store::add_to_group(const std::string& group, const std::vector<std::string>& users) {
  require_text("group name", group);
  require(check_group_name(group));
  return impl_->transact("add to group " + shown(group), [&](pqxx::work& txn) {
    txn.exec_params("INSERT INTO groups (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", group);
    const auto gid = id_of(txn, "groups", group);
    int joined = 0;
    for (const auto& user : users) {
      joined += static_cast<int>(
          txn.exec_params("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON "
                          "CONFLICT DO NOTHING",
                          gid, id_of(txn, "users", user))
              .affected_rows());
    }
    impl_->audit(txn, "admin.group_add", {{"group", group}, {"users", users}});
    return joined;
  });
}

int store::remove_from_group(const std::string& group, const std::vector<std::string>& users) {
  return impl_->transact("remove from group " + shown(group), [&](pqxx::work& txn) {
    const auto gid = id_of(txn, "groups", group);
    int removed = 0;
    for (const auto& user : users) {
      const auto rows =
          txn.exec_params("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2", gid,
                          id_of(txn, "users", user));
      if (rows.affected_rows() == 0) {
        throw store_error(store_error::kind::not_found,
                          "user " + shown(user) + " is not in group " + shown(group) +
                              "; `bastionctl group members " + shown(group) + "` lists them");
      }
      removed += static_cast<int>(rows.affected_rows());
    }
    impl_->audit(txn, "admin.group_leave", {{"group", group}, {"users", users}});
    return removed;
  });
}

int store::delete_group(const std::string& group) {
  return impl_->transact("delete group " + shown(group), [&](pqxx::work& txn) {
    const auto gid = id_of(txn, "groups", group);
    const auto grants =
        txn.exec_params1("SELECT count(*) FROM grants WHERE group_id = $1", gid)[0].as<int>();
    txn.exec_params("DELETE FROM groups WHERE id = $1", gid);  // its grants and members cascade
    impl_->audit(txn, "admin.group_delete", {{"group", group}, {"grants", grants}});
    return grants;
  });
}

std::vector<group_info> store::list_groups() {
  return impl_->transact("list groups", [](pqxx::work& txn) {
    const auto rows = txn.exec(fmt::format(
        "SELECT gr.name, {}, u.name FROM groups gr LEFT JOIN group_members m ON m.group_id = gr.id "
        "LEFT JOIN users u ON u.id = m.user_id ORDER BY gr.name, u.name",
        fmt::format(iso_time_sql, "gr.created_at")));
    std::vector<group_info> out;
    for (const auto& r : rows) {
      if (out.empty() || out.back().name != r[0].c_str()) {
        out.push_back({r[0].as<std::string>(), {}, r[1].as<std::string>()});
      }
      if (!r[2].is_null()) {
        out.back().members.push_back(r[2].as<std::string>());
      }
    }
    return out;
  });
}

}  // namespace bastion::policy
