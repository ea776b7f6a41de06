// The bastion's configuration (var/bastion.yaml): one struct that fills its defaults and checks
// itself, so that every later component can trust what it reads here.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <bastion/common/address.hpp>
#include <bastion/common/duration.hpp>

namespace bastion {

// A startup error in the config. what() is one line: "FILE:LINE: KEY: problem; fix".
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class failure_mode { fail_closed, fail_open };

// sshd's MaxStartups "start:rate:full": past `start` unauthenticated connections, refuse new ones
// with probability `rate`% rising linearly to 100% at `full`.
struct max_startups_config {
  int start = 10;
  int rate = 30;
  int full = 100;
  bool operator==(const max_startups_config&) const = default;
};

// sshd's PerSourcePenalties: how long a source netblock is refused after a connection of its ended
// without authenticating. Penalties add up per netblock; connections are refused once the total
// ahead exceeds `min`, for at most `max`.
struct penalty_config {
  bool enabled = true;
  duration authfail = std::chrono::seconds(5);         // authentication failed, never passed
  duration noauth = std::chrono::seconds(1);           // closed without trying to authenticate
  duration grace_exceeded = std::chrono::seconds(20);  // login_grace_time ran out
  duration min = std::chrono::seconds(15);
  duration max = std::chrono::minutes(10);
  // Netblocks remembered at most, per address family (sshd's max-sources4 and max-sources6). When
  // a family's table is full of live penalties, "permissive" makes room by forgetting the penalty
  // that would expire soonest, "deny-all" refuses every connection of that family that is not
  // exempt until one expires.
  int max_sources = 65536;
  bool overflow_deny_all = false;
  bool operator==(const penalty_config&) const = default;
};

struct limits_config {
  duration login_grace_time = std::chrono::seconds(120);
  int max_auth_tries = 6;
  max_startups_config max_startups;
  // Unauthenticated connections from one netblock at a time (sshd's PerSourceMaxStartups); 0: no
  // cap. Netblocks for it and for penalties: per_source_netblock "IPV4BITS:IPV6BITS".
  int per_source_max_startups = 10;
  int netblock_v4_bits = 32;
  int netblock_v6_bits = 64;
  penalty_config penalties;
  std::vector<net_block> penalty_exempt;  // sources never penalised nor capped per source
  int max_sessions = 10;
  // Forwarded TCP channels (-L, -D, -R) open at once in one session.
  int max_forwards = 64;
  duration idle_timeout{0};          // 0: never
  duration max_session_duration{0};  // 0: unlimited
  duration drain_timeout = std::chrono::seconds(30);
  duration connect_timeout = std::chrono::seconds(10);  // to a target
  // Audit and session rows waiting for the database past which new connections are refused
  // until it catches up (rows are never dropped to make room).
  int journal_backlog = 10000;
  bool operator==(const limits_config&) const = default;
};

struct recording_config {
  // Off only for measurements and labs: sessions are then neither recorded nor listed, and
  // bastiond says so at startup.
  bool enabled = true;
  std::filesystem::path dir = "var/recordings";
  bastion::failure_mode failure_mode = failure_mode::fail_closed;
  // fail_closed: what a session may relay before it is durable in its recording file; so at most
  // this much reaches a client unrecorded when the disk fills or fails.
  int max_unpersisted_kib = 1024;
  // Session search: what each session typed, ran and printed, indexed in PostgreSQL as it is
  // recorded; at most search_max_mib of it per session (past it, later output is not indexed).
  bool search = true;
  int search_max_mib = 16;
  bool operator==(const recording_config&) const = default;
};

struct config {
  std::filesystem::path source;  // the file this was read from, for messages
  std::vector<endpoint> listen{{"0.0.0.0", 2222}};
  std::vector<std::filesystem::path> host_keys{"var/keys/ssh_host_ed25519_key"};
  std::filesystem::path inner_host_key = "var/keys/inner_host_ed25519_key";
  std::filesystem::path upstream_key = "var/keys/upstream_ed25519_key";
  std::string database;  // libpq conninfo or URI; required
  // policy: { max_staleness }: while PostgreSQL is away, logins are decided on the last policy
  // read; once it is older than this, new connections are refused until the database is back
  // (sessions already in go on). 0s: never refuse.
  duration policy_max_staleness = std::chrono::minutes(5);
  // policy: { journal_spool }: the directory where audit and session rows wait on disk while
  // PostgreSQL cannot take them, replayed when it is back (also after a crash or a restart). One
  // per bastiond: it is locked while in use. Unset: `journal` beside recording.dir.
  std::filesystem::path journal_spool = "var/journal";
  recording_config recording;
  // The admin HTTP API and web console. Plain HTTP only on a loopback address: anywhere else it
  // needs tls_cert and tls_key (PEM files: the certificate chain and its private key).
  bool admin_enabled = true;
  endpoint admin_listen{"127.0.0.1", 8022};
  std::filesystem::path admin_tls_cert;
  std::filesystem::path admin_tls_key;
  int admin_max_connections = 64;             // past it, new connections are closed at once
  int admin_max_connections_per_source = 10;  // from one client address
  // The web console's files (index.html, js/, vendor/): read once at startup and served from
  // memory. Unset: the console that this build made (its build tree's web/ directory).
  std::filesystem::path admin_web_root;
  // The Prometheus metrics at http://metrics_listen/metrics; off only where nothing scrapes.
  bool metrics_enabled = true;
  endpoint metrics_listen{"127.0.0.1", 9122};
  limits_config limits;
  // Sent before authentication (SSH_MSG_USERAUTH_BANNER), which OpenSSH clients print; "" sends
  // none. banner_file, if set, replaces it with the file's text (read at startup, at most 4 KiB).
  std::string banner = "This session is recorded.";
  std::filesystem::path banner_file;
  std::string log_level = "info";
  bool log_json = false;       // log: { format: json }: one JSON object per line
  int log_queue_lines = 8192;  // log: { queue_lines: N }: past this many waiting, the oldest go
  std::string node_name;  // defaults to the host name; identifies this node in sessions and audit
};

// Reads and validates FILE. Throws config_error naming the file, line, key and fix.
config load_config(const std::filesystem::path& file);

// Parses YAML text as if it were read from `source` (used by load_config and by tests).
config parse_config(const std::string& yaml, const std::filesystem::path& source);

// Checks that the files the daemon needs exist and are readable private keys. Throws config_error.
void check_key_files(const config& cfg);

// The keys (or sections) that differ between a running config and a fresh read of its file,
// besides log_level, the one that bastiond applies on SIGHUP: they take effect at the next start.
std::vector<std::string> changed_until_restart(const config& running, const config& fresh);

}  // namespace bastion
