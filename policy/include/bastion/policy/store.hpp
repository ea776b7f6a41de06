// The PostgreSQL store behind administration: users, keys, targets, host keys and grants.
// Every query is parameterised. libpqxx exceptions never leave this adapter: they become
// store_error, whose message is one line for a person and never holds a password.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <bastion/policy/authorized_key.hpp>
#include <bastion/policy/journal.hpp>
#include <bastion/policy/names.hpp>
#include <bastion/policy/sessions.hpp>

namespace bastion::policy {

class store_error : public std::runtime_error {
 public:
  enum class kind {
    unavailable,  // cannot reach PostgreSQL
    not_found,    // a named user, key, target or grant does not exist
    conflict,     // it exists already
    invalid,      // the database refused the value
    failed,       // anything else
  };
  store_error(kind k, const std::string& message) : std::runtime_error(message), kind_(k) {}
  kind code() const { return kind_; }

 private:
  kind kind_;
};

struct user_info {
  std::string name;
  bool is_admin = false;
  bool disabled = false;
  int key_count = 0;
  std::string created_at;  // ISO 8601, UTC
};

struct key_info {
  std::string fingerprint;
  std::string user;
  std::string type;
  int bits = 0;
  std::string comment;
  std::string options;
  std::string created_at;
};

struct host_key {
  std::string type;
  std::string base64;
  std::string fingerprint;
};

struct target_info {
  std::string name;
  std::string host;
  int port = 22;
  std::vector<host_key> host_keys;
  std::string created_at;
};

struct grant_info {
  std::string user;
  std::string target;
  std::string login;
  std::vector<channel_kind> kinds;
  std::string created_at;
};

class store {
 public:
  // Connects at once. `actor` (the OS user running bastionctl) and `node` (config node_name) are
  // written to audit_events. Throws store_error(unavailable) naming the redacted conninfo.
  store(const std::string& conninfo, std::string actor, std::string node);
  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // The user and their keys (possibly none) in one transaction.
  void add_user(const std::string& name, bool is_admin, const std::vector<public_key>& keys = {});
  std::vector<user_info> list_users();
  void disable_user(const std::string& name);

  // All keys or none: a fingerprint that is already registered fails the whole call, naming its
  // owner.
  void add_keys(const std::string& user, const std::vector<public_key>& keys);
  std::vector<key_info> list_keys(const std::optional<std::string>& user);
  void remove_key(const std::string& fingerprint);

  void add_target(const target_info& target);
  std::vector<target_info> list_targets();
  void remove_target(const std::string& name);

  // Granting the same user, target and login again replaces the kinds.
  void grant(const std::string& user, const std::string& target, const std::string& login,
             const std::vector<channel_kind>& kinds);
  // Returns how many grants were removed; 0 is store_error(not_found).
  int revoke(const std::string& user, const std::string& target,
             const std::optional<std::string>& login);
  std::vector<grant_info> list_grants(const std::optional<std::string>& user);

  // Sessions and recordings (store_sessions.cpp). Ending is idempotent: a retry after the
  // database came back writes the same row.
  void start_session(const session_start& s);
  void end_session(const std::string& id, const std::string& reason, const recording_end& rec);
  std::vector<session_info> list_sessions(const session_filter& filter);
  std::optional<session_info> find_session(const std::string& id);
  // Sessions of `node` that never ended: left by a crash when this node starts.
  std::vector<session_info> unfinished_sessions(const std::string& node);

  // Users, keys, targets and grants as one consistent read (store_snapshot.cpp).
  struct snapshot_rows load_snapshot_rows();
  // The policy version, in one cheap round trip: proof that the database answers.
  std::int64_t policy_version();

  // Applies audit events and session, channel and recording rows in order, in one transaction
  // (store_journal.cpp). A batch may be retried after the database came back: session, channel
  // and recording rows are written idempotently, audit rows at least once.
  void write_journal(const std::vector<journal_entry>& entries);

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace bastion::policy
