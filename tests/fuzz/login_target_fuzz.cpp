// What a client names: the SSH user name ("alice", or "deploy@web1" for `ssh deploy@web1@bastion`)
// and the `-J` destination (host and port of its direct-tcpip channel), both untrusted bytes.
// A user name that parses is exactly its parts, each a valid name; a destination resolves only to
// a registered target that it names, by name or by host and port.
#include <cstring>

#include <bastion/policy/evaluator.hpp>

#include "fuzz_check.hpp"

namespace {

using namespace bastion::policy;

const policy_snapshot& snapshot() {
  static const policy_snapshot snap([] {
    snapshot_rows rows;
    rows.targets.push_back({"web1", "10.0.0.5", 22, {}, {}});
    rows.targets.push_back({"db.internal", "db.internal", 2222, {}, {}});
    rows.targets.push_back({"v6", "2001:db8::7", 22, {}, {}});
    return rows;
  }());
  return snap;
}

void check_user_name_form(std::string_view name) {
  const auto parsed = parse_username(name);
  if (!parsed) {
    return;
  }
  if (parsed->username_form()) {
    FUZZ_REQUIRE(check_login(parsed->login) && check_target_name(parsed->target));
    FUZZ_REQUIRE(parsed->login + "@" + parsed->target == name);
  } else {
    FUZZ_REQUIRE(check_user_name(parsed->bastion_user) && parsed->bastion_user == name);
  }
}

void check_destination(std::string_view host, int port) {
  const target_info* t = resolve_destination(snapshot(), host, port);
  if (t != nullptr) {
    FUZZ_REQUIRE(t->name == host || (t->host == host && t->port == port));
    FUZZ_REQUIRE(check_host(host));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = bastion::fuzz::as_text(data, size);
  check_user_name_form(text);
  // The destination: two bytes of port, then the host.
  if (size >= 2) {
    const int port = (data[0] << 8) | data[1];
    check_destination(text.substr(2), port);
  }
  return 0;
}
