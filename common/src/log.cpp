// Process-wide logging setup.
#include <spdlog/sinks/stdout_sinks.h>

#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>

namespace bastion {

void init_logging(std::string_view level) {
  auto logger = spdlog::stderr_logger_mt("bastion");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

std::string log_value(std::string_view untrusted) {
  std::string out = "\"";
  for (const char c : escape(untrusted, 256)) {
    if (c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace bastion
