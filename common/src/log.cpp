// Process-wide logging setup.
#include <spdlog/async.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>
#include <bastion/common/metrics.hpp>

namespace bastion {
namespace {

void append_json_string(spdlog::memory_buf_t& out, std::string_view text) {
  static constexpr char digits[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (b < 0x20 || b == 0x7F) {
      const char esc[] = {'\\', 'u', '0', '0', digits[b >> 4], digits[b & 0xF]};
      out.append(esc, esc + sizeof esc);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// {"time":"2026-12-03T15:17:00.123Z","level":"info","msg":"src=... user=..."} per line. The
// message is already escaped where it holds untrusted text; here it is only made a JSON string.
class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    time_.format(msg, dest);
    const auto level = spdlog::level::to_string_view(msg.level);
    dest.append(std::string_view(",\"level\":\""));
    dest.append(level.data(), level.data() + level.size());
    dest.append(std::string_view("\",\"msg\":"));
    append_json_string(dest, {msg.payload.data(), msg.payload.size()});
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<formatter> clone() const override { return std::make_unique<json_formatter>(); }

 private:
  spdlog::pattern_formatter time_{"{\"time\":\"%Y-%m-%dT%H:%M:%S.%eZ\"",
                                  spdlog::pattern_time_type::utc, ""};
};

}  // namespace

void init_logging(std::string_view level, log_format format, std::size_t queue_lines) {
  spdlog::init_thread_pool(queue_lines, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger =
      std::make_shared<spdlog::async_logger>("bastion", std::move(sink), spdlog::thread_pool(),
                                             spdlog::async_overflow_policy::overrun_oldest);
  if (format == log_format::json) {
    logger->set_formatter(std::make_unique<json_formatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  metrics::computed_counter("bastion_log_dropped_lines_total",
                            "Log lines dropped because stderr was not read fast enough",
                            [] { return static_cast<double>(log_lines_dropped()); });
}

void shutdown_logging() {
  spdlog::shutdown();  // writes the waiting lines and joins the logging thread
  // Whatever still logs (a destructor at exit) goes straight to stderr rather than to no logger.
  auto logger = spdlog::stderr_logger_mt("bastion-exit");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(std::move(logger));
}

std::size_t log_lines_dropped() {
  const auto pool = spdlog::thread_pool();
  return pool ? pool->overrun_counter() : 0;
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
