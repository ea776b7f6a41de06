// Redaction of libpq connection strings.
#include <libpq-fe.h>

#include <memory>
#include <string_view>

#include <bastion/policy/conninfo.hpp>

namespace bastion::policy {

std::string redact_conninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return "(an unreadable conninfo)";
  }
  const std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> owner(opts, PQconninfoFree);
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    const std::string_view key = o->keyword;
    // The secrets a conninfo can hold: the password, and the passphrase of the client key.
    if (o->val == nullptr || o->val[0] == '\0' || key == "password" || key == "sslpassword") {
      continue;
    }
    out += (out.empty() ? "" : " ") + std::string(o->keyword) + "=" + o->val;
  }
  return out;
}

}  // namespace bastion::policy
