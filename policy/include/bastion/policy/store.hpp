// The PostgreSQL store behind administration: users, groups, keys, targets, host keys and grants.
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
#include <bastion/policy/grants.hpp>
#include <bastion/policy/journal.hpp>
#include <bastion/policy/names.hpp>
#include <bastion/policy/sessions.hpp>
#include <bastion/policy/tokens.hpp>

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
  target_labels labels;
};

// A grant as bastionctl gives it (grant, revoke) and lists it (grants). `target` is a target
// name, a glob over names or label:KEY=VALUE (grants.hpp); the window's ends are timestamps as
// PostgreSQL reads them ("2026-12-31", "2026-12-31T18:00Z") and are listed in ISO 8601, UTC.
struct grant_info {
  std::int64_t id = 0;
  std::string user;  // exactly one of user and group
  std::string group;
  std::string target;
  std::string login;  // for revoke: "" is every login
  std::vector<channel_kind> kinds;
  std::optional<std::string> valid_from;
  std::optional<std::string> valid_until;
  std::vector<std::string> sources;  // CIDR blocks; empty: from anywhere
  // Session limits beside the node's limits.* (the tighter holds); nullopt: none.
  std::optional<std::int64_t> max_session_seconds;
  std::optional<std::int64_t> idle_timeout_seconds;
  bool record_forward_data = false;           // forwards' bytes are recorded, not only counted
  bool forward_ssh_inside = false;            // a forward may carry an SSH connection
  std::string upstream_auth = "bastion-key";  // or "agent": the user's forwarded agent
  std::string created_at;
};

struct group_info {
  std::string name;
  std::vector<std::string> members;
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

  // Granting the same subject, target and login again replaces the kinds, window and sources.
  void grant(const grant_info& grant);
  // The grants of `which` subject on its target (with its login, or every login). Returns how many
  // were removed; 0 is store_error(not_found).
  int revoke(const grant_info& which);
  // Every grant, or those naming `user` directly or through a group.
  std::vector<grant_info> list_grants(const std::optional<std::string>& user);

  // Groups (store_groups.cpp). Adding creates the group if needed; users already in it are left.
  // Returns how many users joined.
  int add_to_group(const std::string& group, const std::vector<std::string>& users);
  // Takes `users` out of the group; one who is not in it is store_error(not_found). Returns how
  // many left.
  int remove_from_group(const std::string& group, const std::vector<std::string>& users);
  // Removes the group and its grants; returns how many grants went.
  int delete_group(const std::string& group);
  std::vector<group_info> list_groups();

  // Sessions and recordings (store_sessions.cpp). Ending is idempotent: a retry after the
  // database came back writes the same row.
  void start_session(const session_start& s);
  void end_session(const std::string& id, const std::string& reason, const recording_end& rec);
  // Newest first. A filter with a cursor continues a listing after the row it names, so that
  // pages stay free of duplicates and gaps while sessions start.
  std::vector<session_info> list_sessions(const session_filter& filter);
  // The search index's documents that hold filter.text (at least 3 bytes), newest sessions first.
  std::vector<search_row> search_documents(const search_filter& filter);
  std::optional<session_info> find_session(const std::string& id);
  // The channel rows of a session, in channel order.
  std::vector<channel_info> list_channels(const std::string& session_id);
  // Asks the node that holds live session `id` to end it (NOTIFY bastion_control, which every node
  // hears), and audits the request. Returns the session as it was; one that had already ended is
  // not asked. store_error(not_found) if there is none. `reason`, if given, goes to the audit row.
  session_info request_kill(const std::string& id, const std::string& reason = "");
  // The audit trail (store_audit.cpp).
  std::vector<audit_row> list_audit(const audit_filter& filter);
  // Sessions of `node` that never ended: left by a crash when this node starts.
  std::vector<session_info> unfinished_sessions(const std::string& node);

  // Admin API tokens (store_tokens.cpp). Only the token's hash reaches the database.
  // create_token refuses a user who is not an admin or is disabled; a ttl gives it an expiry.
  token_info create_token(const std::string& user, const std::string& hash,
                          std::optional<std::int64_t> ttl_seconds);
  std::vector<token_info> list_tokens();
  void revoke_token(std::int64_t id);
  // Whether the token with this hash lets its holder in now, and whose it is; marks it used.
  token_check check_token(const std::string& hash);
  // The same for the token with this id (a live ticket's, when it is redeemed).
  token_check check_token_id(std::int64_t id);

  // Who the following changes are audited as: the admin API acts for each request's token user
  // on one pooled connection.
  void set_actor(std::string actor);

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
