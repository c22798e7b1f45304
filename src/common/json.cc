#include "common/json.h"

#include <set>
#include <string>
#include <vector>

namespace astis {

Result<Json> ParseJson(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) return Error(Code::kTooLarge, "json: input exceeds size limit");
  // RFC 8259 §7: a raw NUL is never valid JSON; nlohmann stops at one and
  // would accept a prefix (JsonTest.RejectsNulByte).
  if (text.find('\0') != std::string_view::npos) return Error(Code::kInvalidArgument, "json: NUL byte in input");
  std::vector<std::set<std::string>> keys;  // one set per open object
  bool duplicate = false;
  bool too_deep = false;
  auto cb = [&](int depth, Json::parse_event_t event, Json& parsed) -> bool {
    if (static_cast<size_t>(depth) > limits.max_depth) too_deep = true;
    switch (event) {
      case Json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys.empty() && parsed.is_string() && !keys.back().insert(parsed.get<std::string>()).second)
          duplicate = true;
        break;
      default:
        break;
    }
    return true;
  };
  Json out;
  try {
    out = Json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const Json::exception&) {
    return Error(Code::kInvalidArgument, "json: malformed input");
  }
  if (too_deep) return Error(Code::kInvalidArgument, "json: nesting exceeds depth limit");
  if (duplicate) return Error(Code::kInvalidArgument, "json: duplicate object key");
  return out;
}

Result<Json> ParseJsonObject(std::string_view text, const JsonLimits& limits) {
  ASTIS_ASSIGN_OR_RETURN(Json j, ParseJson(text, limits));
  if (!j.is_object()) return Error(Code::kInvalidArgument, "json: expected an object");
  return j;
}

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<std::string> GetString(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string())
    return Error(Code::kInvalidArgument, "json: member \"" + std::string(key) + "\" missing or not a string");
  return it->get<std::string>();
}

Result<int64_t> GetInt(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || !(it->is_number_integer()))
    return Error(Code::kInvalidArgument, "json: member \"" + std::string(key) + "\" missing or not an integer");
  if (it->is_number_unsigned()) {
    auto u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX))
      return Error(Code::kInvalidArgument, "json: member \"" + std::string(key) + "\" out of range");
    return static_cast<int64_t>(u);
  }
  return it->get<int64_t>();
}

Result<const Json*> GetObject(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_object())
    return Error(Code::kInvalidArgument, "json: member \"" + std::string(key) + "\" missing or not an object");
  return &*it;
}

Result<const Json*> GetArray(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array())
    return Error(Code::kInvalidArgument, "json: member \"" + std::string(key) + "\" missing or not an array");
  return &*it;
}

Status RequireExactMembers(const Json& obj, std::initializer_list<std::string_view> names, std::string_view what,
                           Code code) {
  if (!obj.is_object()) return Error(code, std::string(what) + ": not a JSON object");
  for (std::string_view n : names) {
    if (!obj.contains(n)) return Error(code, std::string(what) + ": missing member \"" + std::string(n) + "\"");
  }
  if (obj.size() != names.size()) return Error(code, std::string(what) + ": unknown member");
  return OkStatus();
}

}  // namespace astis
