// The config schema: which keys exist, their defaults and the checks across keys.
#include <unistd.h>

#include <array>
#include <charconv>
#include <fstream>
#include <sstream>

#include <bastion/common/config.hpp>
#include <bastion/common/escape.hpp>
#include <bastion/common/ssh.hpp>

#include "config_reader.hpp"

namespace bastion {
namespace {

using detail::config_section;

max_startups_config parse_max_startups(config_section& limits) {
  max_startups_config out;
  const auto text = limits.scalar("max_startups");
  if (!text) {
    return out;
  }
  std::array<int, 3> parts{};
  std::size_t n = 0;
  const char* p = text->data();
  const char* end = p + text->size();
  bool ok = true;
  while (ok && n < parts.size()) {
    const auto r = std::from_chars(p, end, parts[n]);
    ok = r.ec == std::errc{};
    p = r.ptr;
    ++n;
    if (p == end) {
      break;
    }
    ok = ok && *p == ':';
    ++p;
  }
  ok = ok && p == end && (n == 1 || n == 3);
  if (n == 1) {
    parts = {parts[0], 100, parts[0]};  // sshd: a single number means refuse all past it
  }
  const auto [start, rate, full] = parts;
  if (!ok || start < 1 || full < start || full > 100000 || rate < 1 || rate > 100) {
    limits.fail_value(
        "max_startups",
        "\"" + escape(*text, 64) +
            "\" must be START:RATE:FULL as in sshd, e.g. \"10:30:100\" (1 <= START <= "
            "FULL, RATE a percentage from 1 to 100)");
  }
  return {start, rate, full};
}

// "32:64" (sshd's PerSourceNetBlockSize), or one number for IPv4 alone.
void parse_netblock(config_section& limits, limits_config& l) {
  const auto text = limits.scalar("per_source_netblock");
  if (!text) {
    return;
  }
  const auto colon = text->find(':');
  const auto number = [](std::string_view digits, int max) {
    int value = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    return ec == std::errc{} && end == digits.data() + digits.size() && value >= 1 && value <= max
               ? value
               : -1;
  };
  const std::string_view all = *text;
  l.netblock_v4_bits = number(all.substr(0, colon), 32);
  if (colon != std::string_view::npos) {
    l.netblock_v6_bits = number(all.substr(colon + 1), 128);
  }
  if (l.netblock_v4_bits < 0 || l.netblock_v6_bits < 0) {
    limits.fail_value("per_source_netblock",
                      "\"" + escape(*text, 64) +
                          "\" must be IPV4BITS:IPV6BITS as sshd's PerSourceNetBlockSize, e.g. "
                          "\"32:64\" (1 to 32, 1 to 128)");
  }
}

void read_penalties(config_section& s, penalty_config& p) {
  s.read("enabled", p.enabled);
  s.read("authfail", p.authfail);
  s.read("noauth", p.noauth);
  s.read("grace_exceeded", p.grace_exceeded);
  s.read("min", p.min);
  s.read("max", p.max);
  s.read("max_sources", p.max_sources, 16, 1000000);
  if (const auto overflow = s.scalar("overflow")) {
    if (*overflow != "permissive" && *overflow != "deny-all") {
      s.fail_value("overflow", "\"" + escape(*overflow, 64) +
                                   "\" is not an overflow policy; use permissive or deny-all");
    }
    p.overflow_deny_all = *overflow == "deny-all";
  }
  if (p.max < p.min) {
    s.fail_value("max", "must be at least min (" + format_duration(p.min) + ")");
  }
  s.finish();
}

void read_limits(config_section& s, limits_config& l) {
  s.read("login_grace_time", l.login_grace_time);
  s.read("max_auth_tries", l.max_auth_tries, 1, 100);
  l.max_startups = parse_max_startups(s);
  s.read("per_source_max_startups", l.per_source_max_startups, 0, 100000);
  parse_netblock(s, l);
  auto penalties = s.child("penalties");
  read_penalties(penalties, l.penalties);
  s.read("penalty_exempt", l.penalty_exempt);
  s.read("max_sessions", l.max_sessions, 1, 1000);
  s.read("max_forwards", l.max_forwards, 1, 10000);
  s.read("idle_timeout", l.idle_timeout);
  s.read("max_session_duration", l.max_session_duration);
  s.read("drain_timeout", l.drain_timeout);
  s.read("connect_timeout", l.connect_timeout);
  s.read("journal_backlog", l.journal_backlog, 10, 1000000);
  s.finish();
}

void read_recording(config_section& s, recording_config& r) {
  s.read("enabled", r.enabled);
  s.read("dir", r.dir);
  s.read("max_unpersisted_kib", r.max_unpersisted_kib, 16, 65536);
  s.read("search", r.search);
  s.read("search_max_mib", r.search_max_mib, 1, 1024);
  if (const auto mode = s.scalar("failure_mode")) {
    if (*mode == "fail_closed") {
      r.failure_mode = failure_mode::fail_closed;
    } else if (*mode == "fail_open") {
      r.failure_mode = failure_mode::fail_open;
    } else {
      s.fail_value("failure_mode", "\"" + escape(*mode, 64) +
                                       "\" is not a failure mode; use fail_closed or fail_open");
    }
  }
  s.finish();
}

void read_listener(config_section& s, endpoint& out) {
  s.read("listen", out);
  s.finish();
}

void read_admin(config_section& s, config& c) {
  s.read("enabled", c.admin_enabled);
  s.read("listen", c.admin_listen);
  s.read("tls_cert", c.admin_tls_cert);
  s.read("tls_key", c.admin_tls_key);
  s.read("max_connections", c.admin_max_connections, 1, 10000);
  s.read("max_connections_per_source", c.admin_max_connections_per_source, 1, 10000);
  s.read("web_root", c.admin_web_root);
  if (c.admin_tls_cert.empty() != c.admin_tls_key.empty()) {
    s.fail_value(c.admin_tls_cert.empty() ? "tls_cert" : "tls_key",
                 "set both tls_cert and tls_key (PEM files), or neither");
  }
  // Tokens and recordings must not cross a network in clear text.
  const auto address = parse_ip(c.admin_listen.host);
  if (c.admin_enabled && c.admin_tls_cert.empty() && !(address && address->is_loopback())) {
    s.fail_value("listen", "\"" + c.admin_listen.to_string() +
                               "\" is not a loopback address, and tokens must not cross a "
                               "network in clear text: set admin.tls_cert and admin.tls_key, or "
                               "listen on 127.0.0.1");
  }
  s.finish();
}

// Checks across keys, once every value is read.
void validate(const config& c, config_section& top) {
  const auto fail = [&](std::string_view key, std::string_view problem) {
    top.fail(YAML::Node(), key, problem);
  };
  if (c.database.empty()) {
    fail("database",
         "missing; set a libpq conninfo, e.g. database: \"host=/var/run/postgresql "
         "dbname=bastion\"");
  }
  static constexpr std::array<std::string_view, 5> levels{"trace", "debug", "info", "warn",
                                                          "error"};
  if (std::find(levels.begin(), levels.end(), c.log_level) == levels.end()) {
    fail("log_level", "\"" + escape(c.log_level, 64) +
                          "\" is not a level; use trace, debug, info, warn or error");
  }
  if (c.limits.connect_timeout.count() == 0) {
    fail("limits.connect_timeout", "must be more than 0s, e.g. 10s");
  }
  if (c.limits.login_grace_time.count() == 0) {
    fail("limits.login_grace_time", "must be more than 0s, e.g. 120s");
  }
}

// The banner is the admin's text, but it reaches every client's terminal: bounded, and read once.
std::string read_banner_file(const std::filesystem::path& file, config_section& top) {
  constexpr std::size_t max_banner = 4096;
  std::ifstream in(file, std::ios::binary);
  if (!in.is_open()) {
    top.fail_value(
        "banner_file",
        file.string() + ": cannot open it; check the path and that bastiond may read it");
  }
  std::string text(max_banner + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    top.fail_value("banner_file", file.string() + ": cannot read it");
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.empty()) {
    top.fail_value("banner_file", file.string() +
                                      " is empty; write the banner in it, or remove banner_file "
                                      "and set banner: \"\" to send none");
  }
  if (text.find('\0') != std::string::npos) {
    top.fail_value("banner_file", file.string() + " holds a NUL byte; a banner is text");
  }
  if (text.size() > max_banner) {
    top.fail_value("banner_file", file.string() +
                                      " is over 4096 bytes; shorten it (clients print it at "
                                      "every login)");
  }
  return text;
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0 || buf[0] == '\0') {
    return "bastion";
  }
  return buf.data();
}

// policy.journal_spool when unset: beside the recordings ("var/recordings" gives "var/journal"),
// so that a config from before the key existed finds a place that bastiond may write to.
std::filesystem::path beside_recordings(const std::filesystem::path& recording_dir) {
  auto recordings = recording_dir.lexically_normal();
  if (!recordings.has_filename()) {
    recordings = recordings.parent_path();  // "var/recordings/"
  }
  return recordings.parent_path() / "journal";
}

}  // namespace

config parse_config(const std::string& yaml, const std::filesystem::path& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::ParserException& e) {
    throw config_error(source.string() + ":" + std::to_string(e.mark.line + 1) +
                       ": not valid YAML (" + escape(e.msg, 200) +
                       "); fix the syntax on that line");
  }
  if (!root.IsDefined() || root.IsNull()) {
    throw config_error(source.string() +
                       ": the file is empty; at least `database:` must be set (see README.md)");
  }
  config c;
  c.source = source;
  config_section top(source, root, "");
  top.read("listen", c.listen);
  top.read("host_keys", c.host_keys);
  top.read("inner_host_key", c.inner_host_key);
  top.read("upstream_key", c.upstream_key);
  top.read("database", c.database);
  top.read("banner", c.banner);
  top.read("banner_file", c.banner_file);
  top.read("log_level", c.log_level);
  auto log = top.child("log");
  if (const auto format = log.scalar("format")) {
    if (*format != "text" && *format != "json") {
      log.fail_value("format",
                     "\"" + escape(*format, 64) + "\" is not a log format; use text or json");
    }
    c.log_json = *format == "json";
  }
  log.read("queue_lines", c.log_queue_lines, 16, 1000000);
  log.finish();
  top.read("node_name", c.node_name);
  auto recording = top.child("recording");
  read_recording(recording, c.recording);
  auto admin = top.child("admin");
  read_admin(admin, c);
  auto metrics = top.child("metrics");
  metrics.read("enabled", c.metrics_enabled);
  read_listener(metrics, c.metrics_listen);
  auto limits = top.child("limits");
  read_limits(limits, c.limits);
  auto policy = top.child("policy");
  policy.read("max_staleness", c.policy_max_staleness);
  c.journal_spool = beside_recordings(c.recording.dir);
  policy.read("journal_spool", c.journal_spool);
  policy.finish();
  top.finish();
  validate(c, top);
  if (!c.banner_file.empty()) {
    c.banner = read_banner_file(c.banner_file, top);
  }
  if (c.node_name.empty()) {
    c.node_name = host_name();
  }
  return c;
}

config load_config(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) {
    throw config_error(file.string() +
                       ": cannot read the config file; check the path, or pass --config FILE "
                       "(scripts/run writes var/bastion.yaml)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), file);
}

std::vector<std::string> changed_until_restart(const config& running, const config& fresh) {
  std::vector<std::string> changed;
  const auto note = [&](bool differs, const char* key) {
    if (differs) {
      changed.emplace_back(key);
    }
  };
  note(running.listen != fresh.listen, "listen");
  note(running.host_keys != fresh.host_keys, "host_keys");
  note(running.inner_host_key != fresh.inner_host_key, "inner_host_key");
  note(running.upstream_key != fresh.upstream_key, "upstream_key");
  note(running.database != fresh.database, "database");
  note(!(running.recording == fresh.recording), "recording");
  note(running.admin_enabled != fresh.admin_enabled || running.admin_listen != fresh.admin_listen ||
           running.admin_tls_cert != fresh.admin_tls_cert ||
           running.admin_tls_key != fresh.admin_tls_key ||
           running.admin_web_root != fresh.admin_web_root,
       "admin");
  note(running.metrics_enabled != fresh.metrics_enabled ||
           running.metrics_listen != fresh.metrics_listen,
       "metrics");
  note(!(running.limits == fresh.limits), "limits");
  note(running.policy_max_staleness != fresh.policy_max_staleness ||
           running.journal_spool != fresh.journal_spool,
       "policy");
  note(running.banner != fresh.banner, "banner");
  note(running.node_name != fresh.node_name, "node_name");
  return changed;
}

void check_key_files(const config& cfg) {
  const auto check = [&](const std::filesystem::path& path, std::string_view key) {
    auto loaded = load_private_key(path);
    if (!loaded) {
      throw config_error(cfg.source.string() + ": " + std::string(key) + ": " +
                         loaded.error().text + "; create it with: ssh-keygen -t ed25519 -N '' -f " +
                         path.string());
    }
  };
  for (std::size_t i = 0; i < cfg.host_keys.size(); ++i) {
    check(cfg.host_keys[i], "host_keys[" + std::to_string(i) + "]");
  }
  check(cfg.inner_host_key, "inner_host_key");
  check(cfg.upstream_key, "upstream_key");
  for (const auto& [path, key] : {std::pair{cfg.admin_tls_cert, "admin.tls_cert"},
                                  std::pair{cfg.admin_tls_key, "admin.tls_key"}}) {
    if (!path.empty() && !std::ifstream(path)) {
      throw config_error(cfg.source.string() + ": " + key + ": cannot read " + path.string() +
                         "; give a PEM file that bastiond's user can read");
    }
  }
}

}  // namespace bastion
