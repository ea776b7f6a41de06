// Events' JSON metadata, read as untrusted: a recording may have been written by anyone.
// Internal to recorder/.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>

#include <bastion/recorder/event.hpp>

namespace bastion::recorder {

// The event's metadata object; an empty object when it does not parse, never an exception.
inline nlohmann::json metadata(const event& ev) {
  auto doc = nlohmann::json::parse(ev.data, nullptr, false);
  return doc.is_object() ? doc : nlohmann::json::object();
}

// A field of it: `fallback` when it is missing or of another type.
template <class T>
T field(const nlohmann::json& meta, const char* key, T fallback) {
  const auto it = meta.find(key);
  if (it == meta.end()) {
    return fallback;
  }
  if constexpr (std::is_same_v<T, int>) {
    return it->is_number_integer() ? it->template get<int>() : fallback;
  } else {
    return it->is_string() ? it->template get<std::string>() : fallback;
  }
}

}  // namespace bastion::recorder
