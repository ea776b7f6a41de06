// Targets with their host keys, and grants.
#include <fmt/format.h>

#include <map>

#include "store_impl.hpp"

namespace bastion::policy {
namespace {

using kind = store_error::kind;

// A source block as PostgreSQL's cidr takes it: no bits set past the prefix.
std::string source_block(const std::string& text) {
  require_text("source", text);
  const auto block = parse_net_block(text);
  if (!block) {
    throw store_error(kind::invalid, "--source " + shown(text) +
                                         " is not an address or a CIDR block (10.0.0.0/8, "
                                         "2001:db8::/32)");
  }
  // parse_net_block clears the bits past the prefix; PostgreSQL's cidr refuses them, and a person
  // who wrote 10.1.2.3/8 may have meant 10.1.2.3/32: ask.
  if (parse_ip(text.substr(0, text.find('/')))->bytes != block->bytes) {
    throw store_error(kind::invalid, "--source " + shown(text) +
                                         " has bits set past its prefix; did you mean " +
                                         block->to_string() + "?");
  }
  return block->to_string();
}

std::string sources_literal(const std::vector<std::string>& sources) {
  if (sources.size() > 64) {
    throw store_error(kind::invalid, "a grant takes at most 64 --source blocks");
  }
  std::string out = "{";
  for (const auto& s : sources) {
    out += (out.size() > 1 ? "," : "") + source_block(s);
  }
  return out + "}";
}

// The subject and target columns of a grant: (user_id, group_id, target_id, target_pattern).
struct grant_columns {
  std::optional<std::int64_t> user_id;
  std::optional<std::int64_t> group_id;
  std::optional<std::int64_t> target_id;
  std::optional<std::string> pattern;
};

grant_columns columns_of(pqxx::work& txn, const grant_info& g) {
  if (g.user.empty() == g.group.empty()) {
    throw store_error(kind::invalid, "a grant is to a user or to a group (--group), not both");
  }
  grant_columns c;
  if (g.group.empty()) {
    c.user_id = id_of(txn, "users", g.user);
  } else {
    c.group_id = id_of(txn, "groups", g.group);
  }
  require_text("target", g.target);
  auto selector = parse_target_selector(g.target);
  require(selector ? result<void>{} : result<void>{selector.error()});
  if (selector->by == target_selector::kind::name) {
    c.target_id = id_of(txn, "targets", g.target);
  } else {
    c.pattern = g.target;
  }
  return c;
}

// A time without an offset ("2026-12-31") is read as UTC, as listings show it, whatever the
// server's TimeZone. Both ends must be finite ("infinity" is what leaving one out means).
void check_window(pqxx::work& txn, const grant_info& g) {
  txn.exec("SET LOCAL TIME ZONE 'UTC'");
  for (const auto& [option, value] :
       {std::pair{"--valid-from", g.valid_from}, std::pair{"--valid-until", g.valid_until}}) {
    if (value && !txn.exec_params1("SELECT isfinite($1::timestamptz)", *value)[0].as<bool>()) {
      throw store_error(kind::invalid, std::string(option) + " " + shown(*value) +
                                           " is not a point in time; leave it out for no bound");
    }
  }
  if (g.valid_from && g.valid_until &&
      txn.exec_params1("SELECT $1::timestamptz >= $2::timestamptz", *g.valid_from,
                       *g.valid_until)[0]
          .as<bool>()) {
    throw store_error(kind::invalid, "--valid-from " + shown(*g.valid_from) +
                                         " is not before --valid-until " + shown(*g.valid_until));
  }
}

std::string subject_of(const grant_info& g) {
  return g.group.empty() ? shown(g.user) : "group " + shown(g.group);
}

std::string kinds_literal(const std::vector<channel_kind>& kinds) {
  std::string out = "{";
  for (const auto k : kinds) {
    out += (out.size() > 1 ? "," : "") + std::string(to_string(k));
  }
  return out + "}";
}

std::vector<channel_kind> kinds_from_db(const std::string& text) {
  auto kinds = parse_channel_kinds(text);
  if (!kinds) {
    throw store_error(kind::invalid, "a grant row holds unknown kinds: " + kinds.error().text);
  }
  return *kinds;
}

grant_info grant_from(const pqxx::row& r) {
  grant_info g;
  g.id = r[0].as<std::int64_t>();
  g.user = r[1].as<std::string>();
  g.group = r[2].as<std::string>();
  g.target = r[3].as<std::string>();
  g.login = r[4].as<std::string>();
  g.kinds = kinds_from_db(r[5].as<std::string>());
  if (!r[6].is_null()) {
    g.valid_from = r[6].as<std::string>();
  }
  if (!r[7].is_null()) {
    g.valid_until = r[7].as<std::string>();
  }
  for (const auto& s : split_commas(r[8].as<std::string>())) {
    g.sources.push_back(s);
  }
  g.created_at = r[9].as<std::string>();
  if (!r[10].is_null()) {
    g.max_session_seconds = r[10].as<std::int64_t>();
  }
  if (!r[11].is_null()) {
    g.idle_timeout_seconds = r[11].as<std::int64_t>();
  }
  g.record_forward_data = r[12].as<bool>();
  g.forward_ssh_inside = r[13].as<bool>();
  g.upstream_auth = r[14].as<std::string>();
  return g;
}

}  // namespace

void store::add_target(const target_info& target) {
  require_text("target name", target.name);
  require(check_target_name(target.name));
  require_text("host", target.host);
  require(check_host(target.host));
  if (target.port < 1 || target.port > 65535) {
    throw store_error(kind::invalid,
                      "port " + std::to_string(target.port) + " is not from 1 to 65535");
  }
  if (target.host_keys.empty()) {
    throw store_error(kind::invalid,
                      "target " + shown(target.name) +
                          " needs a host key: pass --host-key 'TYPE BASE64' or --scan --yes");
  }
  for (const auto& [key, value] : target.labels) {
    require_text("label", key + value);
    require(check_label(key, value));
  }
  impl_->transact("add target " + shown(target.name), [&](pqxx::work& txn) {
    const auto rows = txn.exec_params(
        "INSERT INTO targets (name, host, port) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING "
        "RETURNING id",
        target.name, target.host, target.port);
    if (rows.empty()) {
      throw store_error(
          kind::conflict,
          "target " + shown(target.name) + " exists already; remove it first or pick another name");
    }
    const auto id = rows[0][0].as<std::int64_t>();
    for (const auto& key : target.host_keys) {
      txn.exec_params(
          "INSERT INTO target_host_keys (target_id, key_type, public_key, fingerprint) "
          "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
          id, key.type, key.base64, key.fingerprint);
    }
    for (const auto& [key, value] : target.labels) {
      txn.exec_params("INSERT INTO target_labels (target_id, key, value) VALUES ($1, $2, $3)", id,
                      key, value);
    }
    impl_->audit(txn, "admin.target_add",
                 {{"target", target.name},
                  {"host", target.host},
                  {"port", target.port},
                  {"labels", target.labels}});
  });
}

std::vector<target_info> store::list_targets() {
  return impl_->transact("list targets", [](pqxx::work& txn) {
    const auto rows = txn.exec(
        fmt::format("SELECT t.name, t.host, t.port, {}, h.key_type, h.public_key, h.fingerprint "
                    "FROM targets t LEFT JOIN target_host_keys h ON h.target_id = t.id "
                    "ORDER BY t.name, h.id",
                    fmt::format(iso_time_sql, "t.created_at")));
    std::vector<target_info> out;
    for (const auto& r : rows) {
      if (out.empty() || out.back().name != r[0].c_str()) {
        out.push_back({r[0].as<std::string>(),
                       r[1].as<std::string>(),
                       r[2].as<int>(),
                       {},
                       r[3].as<std::string>()});
      }
      if (!r[4].is_null()) {
        out.back().host_keys.push_back(
            {r[4].as<std::string>(), r[5].as<std::string>(), r[6].as<std::string>()});
      }
    }
    attach_labels(txn, out);
    return out;
  });
}

void attach_labels(pqxx::work& txn, std::vector<target_info>& targets) {
  std::map<std::string, target_info*, std::less<>> by_name;
  for (auto& t : targets) {
    by_name.emplace(t.name, &t);
  }
  for (const auto& r : txn.exec("SELECT t.name, l.key, l.value FROM target_labels l JOIN targets "
                                "t ON t.id = l.target_id")) {
    if (const auto it = by_name.find(r[0].c_str()); it != by_name.end()) {
      it->second->labels.emplace(r[1].as<std::string>(), r[2].as<std::string>());
    }
  }
}

void store::remove_target(const std::string& name) {
  impl_->transact("remove target " + shown(name), [&](pqxx::work& txn) {
    const auto id = id_of(txn, "targets", name);
    txn.exec_params("DELETE FROM targets WHERE id = $1", id);
    impl_->audit(txn, "admin.target_remove", {{"target", name}});
  });
}

void store::grant(const grant_info& g) {
  require_text("login", g.login);
  require(check_login(g.login));
  if (g.kinds.empty()) {
    throw store_error(kind::invalid, "a grant needs at least one channel kind");
  }
  require_text("--valid-from", g.valid_from.value_or(""));
  require_text("--valid-until", g.valid_until.value_or(""));
  const std::string sources = sources_literal(g.sources);
  impl_->transact("grant " + subject_of(g) + " on " + shown(g.target), [&](pqxx::work& txn) {
    const auto c = columns_of(txn, g);
    check_window(txn, g);
    txn.exec_params(
        "INSERT INTO grants (user_id, group_id, target_id, target_pattern, login, kinds, "
        "valid_from, valid_until, sources, max_session_seconds, idle_timeout_seconds, "
        "record_forward_data, forward_ssh_inside, upstream_auth) VALUES ($1, $2, $3, $4, $5, "
        "$6::text[], $7::timestamptz, $8::timestamptz, $9::cidr[], $10, $11, $12, $13, $14) ON "
        "CONFLICT ON "
        "CONSTRAINT grants_unique DO UPDATE SET kinds = EXCLUDED.kinds, valid_from = "
        "EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until, sources = EXCLUDED.sources, "
        "max_session_seconds = EXCLUDED.max_session_seconds, idle_timeout_seconds = "
        "EXCLUDED.idle_timeout_seconds, record_forward_data = EXCLUDED.record_forward_data, "
        "forward_ssh_inside = EXCLUDED.forward_ssh_inside, upstream_auth = EXCLUDED.upstream_auth",
        c.user_id, c.group_id, c.target_id, c.pattern, g.login, kinds_literal(g.kinds),
        g.valid_from, g.valid_until, sources, g.max_session_seconds, g.idle_timeout_seconds,
        g.record_forward_data, g.forward_ssh_inside, g.upstream_auth);
    impl_->audit(txn, "admin.grant",
                 {{"user", g.user},
                  {"group", g.group},
                  {"target", g.target},
                  {"login", g.login},
                  {"kinds", kinds_literal(g.kinds)},
                  {"valid_from", g.valid_from.value_or("")},
                  {"valid_until", g.valid_until.value_or("")},
                  {"sources", sources},
                  {"max_session_seconds", g.max_session_seconds.value_or(0)},
                  {"idle_timeout_seconds", g.idle_timeout_seconds.value_or(0)},
                  {"record_forward_data", g.record_forward_data},
                  {"forward_ssh_inside", g.forward_ssh_inside},
                  {"upstream_auth", g.upstream_auth}});
  });
}

int store::revoke(const grant_info& which) {
  require_text("login", which.login);
  return impl_->transact(
      "revoke " + subject_of(which) + " on " + shown(which.target), [&](pqxx::work& txn) {
        const auto c = columns_of(txn, which);
        const auto rows = txn.exec_params(
            "DELETE FROM grants WHERE user_id IS NOT DISTINCT FROM $1 AND group_id IS NOT "
            "DISTINCT FROM $2 AND target_id IS NOT DISTINCT FROM $3 AND target_pattern IS NOT "
            "DISTINCT FROM $4 AND ($5 = '' OR login = $5) RETURNING login",
            c.user_id, c.group_id, c.target_id, c.pattern, which.login);
        if (rows.empty()) {
          throw store_error(
              kind::not_found,
              "no grant for " + subject_of(which) + " on " + shown(which.target) +
                  (which.login.empty() ? std::string() : " as " + shown(which.login)) +
                  "; `bastionctl grants` shows them");
        }
        impl_->audit(txn, "admin.revoke",
                     {{"user", which.user},
                      {"group", which.group},
                      {"target", which.target},
                      {"login", which.login.empty() ? "*" : which.login}});
        return static_cast<int>(rows.size());
      });
}

std::vector<grant_info> store::list_grants(const std::optional<std::string>& user) {
  return impl_->transact("list grants", [&](pqxx::work& txn) {
    if (user) {
      id_of(txn, "users", *user);
    }
    const auto rows = txn.exec_params(
        fmt::format(
            "SELECT g.id, coalesce(u.name, ''), coalesce(gr.name, ''), "
            "coalesce(t.name, g.target_pattern), g.login, array_to_string(g.kinds, ','), {}, {}, "
            "array_to_string(g.sources, ','), {}, g.max_session_seconds, "
            "g.idle_timeout_seconds, g.record_forward_data, g.forward_ssh_inside, "
            "g.upstream_auth FROM grants g "
            "LEFT JOIN users u ON u.id = g.user_id LEFT JOIN groups gr ON gr.id = g.group_id "
            "LEFT JOIN targets t ON t.id = g.target_id "
            "WHERE $1 = '' OR u.name = $1 OR g.group_id IN (SELECT m.group_id FROM group_members "
            "m JOIN users mu ON mu.id = m.user_id WHERE mu.name = $1) "
            "ORDER BY coalesce(u.name, gr.name), u.name IS NULL, 4, g.login",
            fmt::format(iso_time_sql, "g.valid_from"), fmt::format(iso_time_sql, "g.valid_until"),
            fmt::format(iso_time_sql, "g.created_at")),
        user.value_or(""));
    std::vector<grant_info> out;
    for (const auto& r : rows) {
      out.push_back(grant_from(r));
    }
    return out;
  });
}

}  // namespace bastion::policy
