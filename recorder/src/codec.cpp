// Event encoding: type, channel, offset delta-free varints, then type-specific fields.
#include <bastion/recorder/codec.hpp>

namespace bastion::recorder {
namespace {

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

class cursor {
 public:
  explicit cursor(std::string_view in) : in_(in) {}
  bool empty() const { return in_.empty(); }

  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) {
        return false;
      }
      const auto b = static_cast<std::uint8_t>(in_.front());
      in_.remove_prefix(1);
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        return true;
      }
    }
    return false;
  }

  template <class T>
  bool number(T& out, std::uint64_t max) {
    std::uint64_t v = 0;
    if (!varint(v) || v > max) {
      return false;
    }
    out = static_cast<T>(v);
    return true;
  }

  bool bytes(std::string& out, std::size_t max) {
    std::uint64_t len = 0;
    if (!varint(len) || len > max || len > in_.size()) {
      return false;
    }
    out.assign(in_.substr(0, len));
    in_.remove_prefix(len);
    return true;
  }

 private:
  std::string_view in_;
};

// Signed codes go through zigzag so that small negatives stay short.
std::uint64_t zigzag(std::int32_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  return (u << 1) ^ (v < 0 ? 0xFFFFFFFFU : 0U);
}

std::int32_t unzigzag(std::uint64_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  return static_cast<std::int32_t>((u >> 1) ^ ((u & 1U) != 0 ? 0xFFFFFFFFU : 0U));
}

bool known_type(std::uint64_t t) {
  return t >= 1 && t <= static_cast<std::uint64_t>(event_type::session_end);
}

}  // namespace

void encode_event(const event& ev, std::string& out) {
  out += static_cast<char>(ev.type);
  put_varint(out, ev.channel);
  put_varint(out, static_cast<std::uint64_t>(ev.offset.count()));
  switch (ev.type) {
    case event_type::data:
    case event_type::eof:
      out += static_cast<char>(ev.stream);
      break;
    case event_type::window_change:
      put_varint(out, ev.cols);
      put_varint(out, ev.rows);
      break;
    case event_type::exit_status:
      put_varint(out, zigzag(ev.code));
      break;
    default:
      break;
  }
  put_varint(out, ev.data.size());
  out += ev.data;
}

result<std::vector<event>> decode_events(std::string_view body) {
  std::vector<event> events;
  cursor in(body);
  while (!in.empty()) {
    event ev;
    std::uint64_t type = 0;
    std::uint64_t offset = 0;
    std::uint64_t code = 0;
    bool ok = in.number(type, 255) && known_type(type) && in.number(ev.channel, UINT32_MAX) &&
              in.number(offset, INT64_MAX);
    ev.type = static_cast<event_type>(type);
    ev.offset = std::chrono::microseconds(static_cast<std::int64_t>(offset));
    if (ok && (ev.type == event_type::data || ev.type == event_type::eof)) {
      std::uint8_t s = 0;
      ok = in.number(s, 2);
      ev.stream = static_cast<stream>(s);
    } else if (ok && ev.type == event_type::window_change) {
      ok = in.number(ev.cols, UINT32_MAX) && in.number(ev.rows, UINT32_MAX);
    } else if (ok && ev.type == event_type::exit_status) {
      ok = in.number(code, UINT32_MAX);
      ev.code = unzigzag(code);
    }
    if (!ok || !in.bytes(ev.data, max_event_data)) {
      return make_error("event " + std::to_string(events.size()) + " is truncated or malformed");
    }
    events.push_back(std::move(ev));
  }
  return events;
}

}  // namespace bastion::recorder
