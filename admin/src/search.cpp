// Session search: the lines of the matching documents that hold the text.
#include "search.hpp"

#include <algorithm>

#include <bastion/recorder/search_text.hpp>

#include "views.hpp"

namespace bastion::admin {
namespace {

constexpr std::size_t min_text = 3;
constexpr std::size_t max_text = 200;
constexpr std::size_t max_line = 300;

// As PostgreSQL's ILIKE for ASCII; other characters must match exactly (a document found for a
// case difference outside ASCII yields no line, and so no hit).
std::string fold(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

// A line cut to `max_line` bytes on a character boundary.
std::string cut_line(std::string_view line) {
  if (line.size() <= max_line) {
    return std::string(line);
  }
  std::size_t end = max_line;
  while (end > 0 && (static_cast<unsigned char>(line[end]) & 0xC0) == 0x80) {
    --end;
  }
  return std::string(line.substr(0, end));
}

}  // namespace

result<void> check_search(const search_request& req) {
  if (req.text.size() < min_text || req.text.size() > max_text) {
    return make_error(
        "the search text must be 3 to 200 bytes long (the index matches runs of "
        "three characters)");
  }
  if (req.text.find('\n') != std::string::npos) {
    return make_error("the search text is one line: it cannot hold a newline");
  }
  if (req.limit < 1 || req.limit > 500) {
    return make_error("limit must be from 1 to 500");
  }
  return {};
}

std::vector<search_hit> search_sessions(policy::store& db, const search_request& req) {
  // Documents, not hits, are limited in the query: at most 200 (each up to 48 KiB).
  const auto rows =
      db.search_documents({req.text, req.user, req.target, req.since, std::min(req.limit, 200)});
  const std::string needle = fold(req.text);
  std::vector<search_hit> hits;
  for (const auto& row : rows) {
    if (hits.size() >= static_cast<std::size_t>(req.limit)) {
      break;
    }
    recorder::search_document doc;
    doc.text = row.body;
    doc.marks = recorder::parse_marks(row.marks);
    const std::string folded = fold(doc.text);
    for (auto at = folded.find(needle);
         at != std::string::npos && hits.size() < static_cast<std::size_t>(req.limit);
         at = folded.find(needle, at + 1)) {
      const auto* mark = recorder::mark_at(doc, at);
      if (mark == nullptr) {
        break;  // marks that do not match the text: the row is not the index's own
      }
      const auto end = doc.text.find('\n', mark->at);
      hits.push_back({row.session, row.kind, mark->channel, mark->offset,
                      cut_line(std::string_view(doc.text).substr(mark->at, end - mark->at))});
      at = end == std::string::npos ? folded.size() : end;  // one hit per line
    }
  }
  return hits;
}

nlohmann::json hit_json(const search_hit& hit) {
  return {{"session", session_json(hit.session)},
          {"kind", hit.kind},
          {"channel", hit.channel},
          {"offset", static_cast<double>(hit.offset.count()) / 1e6},
          {"line", hit.line}};
}

}  // namespace bastion::admin
