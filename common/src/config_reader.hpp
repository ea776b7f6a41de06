// Reading one YAML mapping of the config with errors that name file, line and key. Internal to
// common: config.cpp declares the schema with it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <set>
#include <string>
#include <string_view>

#include <bastion/common/config.hpp>

namespace bastion::detail {

class config_section {
 public:
  // `prefix` is the dotted path of this section ("limits."), empty at the top level.
  config_section(const std::filesystem::path& source, const YAML::Node& node, std::string prefix);

  // Each read leaves `out` unchanged when the key is absent, so defaults stay in the struct.
  void read(std::string_view key, std::string& out);
  void read(std::string_view key, std::filesystem::path& out);
  void read(std::string_view key, duration& out);
  void read(std::string_view key, int& out, int min, int max);
  void read(std::string_view key, bool& out);
  void read(std::string_view key, endpoint& out);
  void read(std::string_view key, std::vector<endpoint>& out);
  void read(std::string_view key, std::vector<std::filesystem::path>& out);
  void read(std::string_view key, std::vector<net_block>& out);

  // The value of `key` as a scalar string for callers that parse it themselves, if present.
  std::optional<std::string> scalar(std::string_view key);
  // Whether `key` is present (it then counts as known).
  bool has(std::string_view key) { return lookup(key).IsDefined(); }
  config_section child(std::string_view key);

  // Reports keys that no read() asked for, and keys given twice.
  void finish() const;

  [[noreturn]] void fail(const YAML::Node& at, std::string_view key,
                         std::string_view problem) const;
  // Fails at the line of `key` in this section (or the section's line when it is absent).
  [[noreturn]] void fail_value(std::string_view key, std::string_view problem);

 private:
  YAML::Node lookup(std::string_view key);
  void check_no_nul(const YAML::Node& node, std::string_view key) const;
  std::vector<YAML::Node> sequence(std::string_view key, const YAML::Node& node);
  template <class T, class Parse>
  void read_list(std::string_view key, std::vector<T>& out, Parse parse, std::string_view what);

  const std::filesystem::path& source_;
  YAML::Node node_;
  std::string prefix_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace bastion::detail
