#include "common/yaml_config.h"

namespace astis::yaml_config {

Status Bad(std::string_view field, std::string_view why) {
  return Error(Code::kInvalidArgument, std::string(field) + ": " + std::string(why));
}

std::string Join(std::string_view prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : std::string(prefix) + "." + std::string(key);
}

Status CheckKeys(const YAML::Node& node, std::string_view where, std::initializer_list<std::string_view> allowed) {
  const std::string_view here = where.empty() ? std::string_view("(top level)") : where;
  if (!node.IsMap()) return Bad(here, "must be a mapping");
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return Bad(here, "keys must be strings");
    const std::string& key = kv.first.Scalar();
    bool known = false;
    for (std::string_view a : allowed) known = known || a == key;
    if (!known) return Bad(Join(where, key), "unknown key");
  }
  return OkStatus();
}

Status GetString(const YAML::Node& map, std::string_view where, const char* key, std::string& out, bool required) {
  const YAML::Node n = map[key];
  if (!n) return required ? Bad(Join(where, key), "required") : OkStatus();
  if (!n.IsScalar() || n.Scalar().empty()) return Bad(Join(where, key), "must be a non-empty string");
  out = n.Scalar();
  return OkStatus();
}

Result<int64_t> ParseInt(std::string_view field, std::string_view text, int64_t lo, int64_t hi) {
  if (text.empty() || text.size() > 18) return Bad(field, "must be an integer");
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return Bad(field, "must be a non-negative integer");
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi) return Bad(field, "out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

Status GetInt(const YAML::Node& map, std::string_view where, const char* key, int64_t& out, int64_t lo, int64_t hi) {
  const YAML::Node n = map[key];
  if (!n) return OkStatus();
  const std::string field = Join(where, key);
  if (!n.IsScalar()) return Bad(field, "must be an integer");
  ASTIS_ASSIGN_OR_RETURN(out, ParseInt(field, n.Scalar(), lo, hi));
  return OkStatus();
}

}  // namespace astis::yaml_config
