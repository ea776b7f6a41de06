// Validation of names that admins type and clients send.
#include <algorithm>
#include <array>

#include <bastion/common/escape.hpp>
#include <bastion/policy/names.hpp>

namespace bastion::policy {
namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

result<void> check_name(std::string_view what, std::string_view name, std::size_t max,
                        bool (*allowed)(char)) {
  if (name.empty()) {
    return make_error(std::string(what) + " is empty");
  }
  if (name.size() > max) {
    return make_error(std::string(what) + " is " + std::to_string(name.size()) +
                      " bytes long; the limit is " + std::to_string(max));
  }
  if (!is_alnum(name.front()) || !std::all_of(name.begin(), name.end(), allowed)) {
    return make_error(std::string(what) + " \"" + escape(name, 64) +
                      "\" may only hold letters, digits, '.', '_' and '-', and must start with a "
                      "letter or digit");
  }
  return {};
}

constexpr std::array<std::pair<channel_kind, std::string_view>, 7> kind_names{{
    {channel_kind::shell, "shell"},
    {channel_kind::exec, "exec"},
    {channel_kind::sftp, "sftp"},
    {channel_kind::forward, "forward"},
    {channel_kind::remote_forward, "remote-forward"},
    {channel_kind::agent, "agent"},
    {channel_kind::x11, "x11"},
}};

}  // namespace

bool is_name_char(char c) {
  return is_alnum(c) || c == '.' || c == '_' || c == '-';
}

result<void> check_user_name(std::string_view name) {
  auto r = check_name("user name", name, 64, is_name_char);
  if (r && name == "root") {
    return make_error(
        "user name \"root\" is refused: the bastion never admits root (PermitRootLogin no); "
        "give the person their own name");
  }
  return r;
}

result<void> check_target_name(std::string_view name) {
  return check_name("target name", name, 253, is_name_char);
}

result<void> check_login(std::string_view login) {
  return check_name("login", login, 32, is_name_char);
}

result<void> check_group_name(std::string_view name) {
  return check_name("group name", name, 64, is_name_char);
}

result<void> check_label(std::string_view key, std::string_view value) {
  const auto key_char = [](char c) { return is_name_char(c) || c == '/'; };
  if (key.empty() || key.size() > 63 || !is_alnum(key.front()) ||
      !std::all_of(key.begin(), key.end(), key_char)) {
    return make_error("label key \"" + escape(key, 64) +
                      "\" must be 1-63 letters, digits, '.', '_', '-' or '/', starting with a "
                      "letter or digit");
  }
  if (value.size() > 63 || !std::all_of(value.begin(), value.end(), is_name_char)) {
    return make_error("label value \"" + escape(value, 64) +
                      "\" must be at most 63 letters, digits, '.', '_' or '-'");
  }
  return {};
}

result<void> check_host(std::string_view host) {
  return check_name("host", host, 253,
                    [](char c) { return is_alnum(c) || c == '.' || c == '-' || c == ':'; });
}

std::string_view to_string(channel_kind kind) {
  for (const auto& [k, name] : kind_names) {
    if (k == kind) {
      return name;
    }
  }
  return "?";
}

result<std::vector<channel_kind>> parse_channel_kinds(std::string_view text) {
  std::vector<channel_kind> kinds;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const auto it = std::find_if(kind_names.begin(), kind_names.end(),
                                 [&](const auto& kn) { return kn.second == item; });
    if (it == kind_names.end()) {
      return make_error("\"" + escape(item, 64) +
                        "\" is not a channel kind; use a comma list of "
                        "shell,exec,sftp,forward,remote-forward,agent,x11");
    }
    kinds.push_back(it->first);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  if (kinds.empty()) {
    return make_error("no channel kinds given; use a comma list such as shell,exec,sftp");
  }
  std::sort(kinds.begin(), kinds.end());
  kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
  return kinds;
}

std::vector<channel_kind> default_channel_kinds() {
  return {channel_kind::shell, channel_kind::exec, channel_kind::sftp};
}

}  // namespace bastion::policy
