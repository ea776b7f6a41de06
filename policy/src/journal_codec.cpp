// Journal entries as bytes. One field list per entry type serves both directions, so that what is
// written and what is read cannot drift apart.
#include "journal_codec.hpp"

#include <concepts>
#include <limits>
#include <type_traits>
#include <variant>

namespace bastion::policy {
namespace {

// No field of a real entry comes near this; a length past it means the bytes are not an entry.
constexpr std::uint32_t max_string = 16U << 20;

class writer {
 public:
  explicit writer(std::string& out) : out_(out) {}
  template <class... T>
  void operator()(const T&... fields) {
    (put(fields), ...);
  }

 private:
  void put_le(std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) {
      out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
  }
  void put(std::uint64_t v) { put_le(v, 8); }
  void put(std::int64_t v) { put_le(static_cast<std::uint64_t>(v), 8); }
  void put(std::uint32_t v) { put_le(v, 8); }
  void put(int v) { put(static_cast<std::int64_t>(v)); }
  void put(const std::string& s) {
    if (s.size() > max_string) {
      throw journal_codec_error("a journal field of " + std::to_string(s.size()) +
                                " bytes is over the spool's bound");
    }
    put_le(s.size(), 4);
    out_ += s;
  }
  void put(const std::optional<int>& v) {
    out_.push_back(v ? '\1' : '\0');
    put(v.value_or(0));
  }

  std::string& out_;
};

class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}
  template <class... T>
  void operator()(T&... fields) {
    (get(fields), ...);
  }
  std::uint8_t byte() { return static_cast<std::uint8_t>(take(1)[0]); }
  void finish() const {
    if (at_ != in_.size()) {
      throw journal_codec_error(std::to_string(in_.size() - at_) + " bytes after the entry");
    }
  }

 private:
  std::string_view take(std::size_t n) {
    if (in_.size() - at_ < n) {
      throw journal_codec_error("the entry is cut short");
    }
    const auto v = in_.substr(at_, n);
    at_ += n;
    return v;
  }
  std::uint64_t get_le(int bytes) {
    const auto b = take(static_cast<std::size_t>(bytes));
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) {
      v = (v << 8) | static_cast<std::uint8_t>(b[static_cast<std::size_t>(i)]);
    }
    return v;
  }
  template <std::integral T>
  T narrow(std::int64_t v) {
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
      throw journal_codec_error("an integer field is out of its range");
    }
    return static_cast<T>(v);
  }
  void get(std::uint64_t& v) { v = get_le(8); }
  void get(std::int64_t& v) { v = static_cast<std::int64_t>(get_le(8)); }
  void get(std::uint32_t& v) {
    const std::uint64_t wide = get_le(8);
    if (wide > std::numeric_limits<std::uint32_t>::max()) {
      throw journal_codec_error("an integer field is out of its range");
    }
    v = static_cast<std::uint32_t>(wide);
  }
  void get(int& v) { v = narrow<int>(static_cast<std::int64_t>(get_le(8))); }
  void get(std::string& s) {
    const auto n = static_cast<std::uint32_t>(get_le(4));
    if (n > max_string) {
      throw journal_codec_error("a string field is over the spool's bound");
    }
    s = std::string(take(n));
  }
  void get(std::optional<int>& v) {
    const std::uint8_t present = byte();
    int value = 0;
    get(value);
    // One encoding per value (an absent one is written as 0), so that decoding and encoding
    // again gives back the same bytes.
    if (present > 1 || (present == 0 && value != 0)) {
      throw journal_codec_error("an optional field has a bad flag");
    }
    v = present == 1 ? std::optional<int>(value) : std::nullopt;
  }

  std::string_view in_;
  std::size_t at_ = 0;
};

template <class T, class U>
concept entry_of = std::same_as<std::remove_const_t<T>, U>;

// The field lists: `Io` is a writer (E const) or a reader.
template <class Io, entry_of<audit_event> E>
void fields(Io& io, E& e) {
  io(e.kind, e.result, e.actor, e.source_addr, e.target_name, e.detail_json, e.event_id,
     e.at_unix_us);
}

template <class Io, entry_of<session_start> E>
void fields(Io& io, E& e) {
  auto& w = e.who;
  io(e.id, e.node, w.user, w.target, w.login, w.source_addr, w.client_version, w.access_form,
     e.recording_file, e.format_version, e.started_unix_us);
}

template <class Io, entry_of<session_end> E>
void fields(Io& io, E& e) {
  auto& r = e.recording;
  io(e.id, e.reason, e.ended_unix_us, r.head_hash, r.bytes_raw, r.bytes_stored, r.chunk_count,
     r.lost_bytes);
}

template <class Io, entry_of<channel_row> E>
void fields(Io& io, E& e) {
  io(e.session_id, e.channel_no, e.kind, e.detail_json, e.opened_unix_us, e.closed_unix_us,
     e.exit_status, e.exit_signal, e.bytes_in, e.bytes_out);
}

template <class Io, entry_of<search_text> E>
void fields(Io& io, E& e) {
  io(e.session_id, e.seq, e.kind, e.body, e.marks);
}

// The tag is the entry's index in journal_entry: that order is part of the spool's format.
template <std::size_t I = 0>
journal_entry decode_alternative(std::size_t tag, reader& in) {
  if constexpr (I < std::variant_size_v<journal_entry>) {
    if (tag == I) {
      std::variant_alternative_t<I, journal_entry> e;
      fields(in, e);
      return e;
    }
    return decode_alternative<I + 1>(tag, in);
  } else {
    throw journal_codec_error("unknown journal entry kind " + std::to_string(tag));
  }
}

// The tag byte is the alternative's index in journal_entry: reordering the variant would change
// what every spooled record means, so the order is pinned here (a new kind goes last, with a new
// format version).
static_assert(std::is_same_v<std::variant_alternative_t<0, journal_entry>, audit_event> &&
              std::is_same_v<std::variant_alternative_t<1, journal_entry>, session_start> &&
              std::is_same_v<std::variant_alternative_t<2, journal_entry>, session_end> &&
              std::is_same_v<std::variant_alternative_t<3, journal_entry>, channel_row> &&
              std::is_same_v<std::variant_alternative_t<4, journal_entry>, search_text> &&
              std::variant_size_v<journal_entry> == 5);

}  // namespace

void encode_entry(std::string& out, const journal_entry& entry) {
  out.push_back(static_cast<char>(entry.index()));
  writer w(out);
  std::visit([&](const auto& e) { fields(w, e); }, entry);
}

journal_entry decode_entry(std::string_view bytes) {
  reader in(bytes);
  const std::size_t tag = in.byte();
  journal_entry e = decode_alternative(tag, in);
  in.finish();
  return e;
}

}  // namespace bastion::policy
