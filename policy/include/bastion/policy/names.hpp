// What a user name, target name, login and channel kind may look like. Names travel into SSH user
// names ("login@target"), known_hosts patterns and log lines, so they are checked here once,
// before they reach the database.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <bastion/common/result.hpp>

namespace bastion::policy {

// Bastion users: 1-64 of [A-Za-z0-9._-], starting with a letter or digit. "root" is refused: the
// bastion never admits root, as with sshd's PermitRootLogin no.
result<void> check_user_name(std::string_view name);

// Targets: 1-253 of [A-Za-z0-9._-], starting with a letter or digit (a DNS-like label list, so
// it can stand in a known_hosts line).
result<void> check_target_name(std::string_view name);

// Logins on a target: 1-32 of [A-Za-z0-9._-], not starting with '-' (POSIX portable user names).
result<void> check_login(std::string_view login);

// Group names: as user names (1-64 of [A-Za-z0-9._-], starting with a letter or digit).
result<void> check_group_name(std::string_view name);

// Target labels: keys 1-63 of [A-Za-z0-9._/-], starting with a letter or digit; values 0-63 of
// [A-Za-z0-9._-].
result<void> check_label(std::string_view key, std::string_view value);

// The characters of every name: letters, digits, '.', '_' and '-'.
bool is_name_char(char c);

// A host name or IP literal for a target: 1-253 bytes of [A-Za-z0-9.:-], not starting with '-'.
result<void> check_host(std::string_view host);

enum class channel_kind : std::uint8_t {
  shell,
  exec,
  sftp,
  forward,
  remote_forward,
  agent,
  x11,
};

std::string_view to_string(channel_kind kind);

// "shell,exec,sftp" -> kinds, sorted and without duplicates. The error lists the valid kinds.
result<std::vector<channel_kind>> parse_channel_kinds(std::string_view text);

// The kinds a grant gets when --allow is not given.
std::vector<channel_kind> default_channel_kinds();

}  // namespace bastion::policy
