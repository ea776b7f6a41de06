// Recording reader and verifier.
#include <zstd.h>

#include <bastion/recorder/codec.hpp>
#include <bastion/recorder/reader.hpp>

namespace bastion::recorder {
namespace {

result<std::string> decompress(const chunk_header& h, std::string_view stored) {
  std::string raw(h.raw_len, '\0');
  const std::size_t n = ZSTD_decompress(raw.data(), raw.size(), stored.data(), stored.size());
  if (ZSTD_isError(n) != 0U || n != h.raw_len) {
    return make_error("its body does not decompress to " + std::to_string(h.raw_len) + " bytes");
  }
  return raw;
}

}  // namespace

result<recording_reader> recording_reader::open(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error("cannot open " + path.string());
  }
  std::string bytes(file_header_size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  auto header = decode_file_header(bytes);
  if (!header) {
    return header.error();
  }
  recording_reader reader(path, *header);
  reader.in_ = std::move(in);
  return reader;
}

result<std::string> recording_reader::read_at(std::uint64_t offset, std::size_t size) {
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(offset));
  std::string bytes(size, '\0');
  in_.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::size_t>(in_.gcount()) != size) {
    return make_error("the file ends inside it (truncated)");
  }
  return bytes;
}

verify_report recording_reader::verify(const std::optional<sha256>& expected_head, bool decode) {
  verify_report report;
  report.head = hash_of(encode_file_header(header_));
  std::uint64_t offset = file_header_size;
  const auto bad = [&](const std::string& problem) {
    report.bad_chunk = static_cast<std::uint32_t>(report.good.size());
    report.problem = problem;
    return report;
  };
  while (true) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    if (in_.peek() == std::char_traits<char>::eof()) {
      break;  // a clean end: exactly after the last chunk
    }
    auto head_bytes = read_at(offset, chunk_header_size);
    if (!head_bytes) {
      return bad(head_bytes.error().text);
    }
    auto h = decode_chunk_header(*head_bytes);
    if (!h) {
      return bad(h.error().text);
    }
    if (h->seq != report.good.size()) {
      return bad("it says it is chunk " + std::to_string(h->seq) +
                 " (chunks were removed or reordered)");
    }
    if (h->prev != report.head) {
      return bad("it does not follow the previous chunk (hash chain broken)");
    }
    if (!report.good.empty() && h->first_offset < report.good.back().header.last_offset) {
      return bad("its time goes backwards");
    }
    auto body = read_at(offset + chunk_header_size, h->stored_len);
    if (!body) {
      return bad(body.error().text);
    }
    if (chunk_hash(*h, *body) != h->hash) {
      return bad("its contents do not match its hash (edited)");
    }
    if (decode) {
      auto raw = decompress(*h, *body);
      if (!raw) {
        return bad(raw.error().text);
      }
      auto events = decode_events(*raw);
      if (!events || events->size() != h->event_count) {
        return bad("its events do not decode");
      }
    }
    report.good.push_back({*h, offset});
    report.head = h->hash;
    offset += chunk_header_size + h->stored_len;
    report.good_bytes = offset;
  }
  if (report.good.empty()) {
    report.good_bytes = file_header_size;
  }
  if (expected_head && *expected_head != report.head) {
    report.problem =
        "the last chunk is not the one recorded in the database (chunks missing at the end)";
    report.bad_chunk = static_cast<std::uint32_t>(report.good.size());
    return report;
  }
  report.ok = true;
  return report;
}

result<std::vector<event>> recording_reader::read_chunk(const chunk_entry& chunk) {
  auto body = read_at(chunk.file_offset + chunk_header_size, chunk.header.stored_len);
  if (!body) {
    return body.error();
  }
  if (chunk_hash(chunk.header, *body) != chunk.header.hash) {
    return make_error("chunk " + std::to_string(chunk.header.seq) +
                      " changed since it was verified");
  }
  auto raw = decompress(chunk.header, *body);
  if (!raw) {
    return raw.error();
  }
  return decode_events(*raw);
}

}  // namespace bastion::recorder
