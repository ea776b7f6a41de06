// libpq connection strings, as shown to people: the password is never printed.
#pragma once

#include <string>

namespace bastion::policy {

// "host=/x dbname=bastion user=b" with any password removed; works for key=value and URI forms.
std::string redact_conninfo(const std::string& conninfo);

}  // namespace bastion::policy
