#include "cli/secret_manifest.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <set>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace astis::cli {
namespace {

inline constexpr size_t kMaxNodes = 100000;
inline constexpr size_t kMaxDepth = 64;

bool IsPlainYamlNull(const std::string& s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

// IsDigits reports whether s is one or more ASCII digits.
bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string_view StripSign(std::string_view s) {
  return (!s.empty() && (s[0] == '-' || s[0] == '+')) ? s.substr(1) : s;
}

// IsCoreInt matches [-+]?[0-9]+ (YAML 1.2 core schema, decimal).
bool IsCoreInt(std::string_view s) { return IsDigits(StripSign(s)); }

// IsCoreFloat matches [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?.
bool IsCoreFloat(std::string_view s) {
  s = StripSign(s);
  size_t e = s.find_first_of("eE");
  std::string_view mant = s.substr(0, e);
  if (e != std::string_view::npos && !IsDigits(StripSign(s.substr(e + 1)))) return false;
  size_t dot = mant.find('.');
  if (dot == std::string_view::npos) return IsDigits(mant);
  std::string_view ip = mant.substr(0, dot), fp = mant.substr(dot + 1);
  if (ip.empty()) return IsDigits(fp);
  return IsDigits(ip) && (fp.empty() || IsDigits(fp));
}

// ResolvePlainScalar applies the YAML 1.2 core schema (§10.3.2) to a plain
// (unquoted) scalar.
Json ResolvePlainScalar(const std::string& s) {
  if (IsPlainYamlNull(s)) return Json(nullptr);
  if (s == "true" || s == "True" || s == "TRUE") return Json(true);
  if (s == "false" || s == "False" || s == "FALSE") return Json(false);
  if (IsCoreInt(s)) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno == 0 && end == s.c_str() + s.size()) return Json(static_cast<int64_t>(v));
    return Json(s);  // out of range: keep the text
  }
  if (IsCoreFloat(s)) return Json(std::strtod(s.c_str(), nullptr));
  return Json(s);
}

class YamlToJson {
 public:
  Result<Json> Convert(const YAML::Node& node, size_t depth) {
    if (++nodes_ > kMaxNodes) return Error(Code::kInvalidArgument, "manifest: too many YAML nodes");
    if (depth > kMaxDepth) return Error(Code::kInvalidArgument, "manifest: YAML nesting too deep");
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return Json(nullptr);
      case YAML::NodeType::Scalar: {
        const std::string& tag = node.Tag();
        if (tag == "!" || tag == "tag:yaml.org,2002:str") return Json(node.Scalar());
        if (tag != "?" && !tag.empty()) return Error(Code::kInvalidArgument, "manifest: unsupported YAML tag");
        return ResolvePlainScalar(node.Scalar());
      }
      case YAML::NodeType::Sequence: {
        Json arr = Json::array();
        for (const auto& item : node) {
          ASTIS_ASSIGN_OR_RETURN(Json v, Convert(item, depth + 1));
          arr.push_back(std::move(v));
        }
        return arr;
      }
      case YAML::NodeType::Map: {
        Json obj = Json::object();
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) return Error(Code::kInvalidArgument, "manifest: non-scalar mapping key");
          const std::string key = kv.first.Scalar();
          // Duplicate keys are an error (PROTOCOL.md "Words"; yaml-cpp keeps both).
          if (obj.contains(key)) return Error(Code::kInvalidArgument, "manifest: duplicate mapping key");
          ASTIS_ASSIGN_OR_RETURN(Json v, Convert(kv.second, depth + 1));
          obj[key] = std::move(v);
        }
        return obj;
      }
    }
    return Error(Code::kInvalidArgument, "manifest: unknown YAML node");
  }

 private:
  size_t nodes_ = 0;
};

bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  if (!std::isalpha(static_cast<unsigned char>(s[0]))) return true;
  for (char c : s) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '/' || c == '-';
    if (!ok) return true;
  }
  std::string lower;
  for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::set<std::string> kReserved = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"};
  return kReserved.count(lower) != 0;
}

void EmitString(YAML::Emitter& out, const std::string& s) {
  if (NeedsQuotes(s)) out << YAML::DoubleQuoted;
  out << s;
}

// OrderedKeys returns the keys of obj with the preferred ones first (when
// present) and the rest in lexicographic order.
std::vector<std::string> OrderedKeys(const Json& obj, const std::vector<std::string>& preferred) {
  std::vector<std::string> keys;
  for (const auto& p : preferred) {
    if (obj.contains(p)) keys.push_back(p);
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool is_preferred = false;
    for (const auto& p : preferred) is_preferred = is_preferred || p == it.key();
    if (!is_preferred) keys.push_back(it.key());
  }
  return keys;
}

const std::vector<std::string>& PreferredFor(int level, const std::string& parent_key) {
  static const std::vector<std::string> kTop = {"apiVersion", "kind", "metadata", "type", "data"};
  static const std::vector<std::string> kMeta = {"name", "namespace", "labels", "annotations"};
  static const std::vector<std::string> kNone;
  if (level == 0) return kTop;
  if (level == 1 && parent_key == "metadata") return kMeta;
  return kNone;
}

void EmitNode(YAML::Emitter& out, const Json& v, int level, const std::string& parent_key) {
  switch (v.type()) {
    case Json::value_t::object: {
      out << YAML::BeginMap;
      for (const auto& k : OrderedKeys(v, PreferredFor(level, parent_key))) {
        out << YAML::Key;
        EmitString(out, k);
        out << YAML::Value;
        EmitNode(out, v.at(k), level + 1, k);
      }
      out << YAML::EndMap;
      break;
    }
    case Json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& item : v) EmitNode(out, item, level + 1, "");
      out << YAML::EndSeq;
      break;
    case Json::value_t::string:
      EmitString(out, v.get<std::string>());
      break;
    case Json::value_t::boolean:
      out << v.get<bool>();
      break;
    case Json::value_t::number_integer:
      out << v.get<int64_t>();
      break;
    case Json::value_t::number_unsigned:
      out << v.get<uint64_t>();
      break;
    case Json::value_t::number_float:
      out << v.get<double>();
      break;
    default:
      out << YAML::Null;
      break;
  }
}

nlohmann::ordered_json ToOrdered(const Json& v, int level, const std::string& parent_key) {
  if (v.is_object()) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& k : OrderedKeys(v, PreferredFor(level, parent_key))) out[k] = ToOrdered(v.at(k), level + 1, k);
    return out;
  }
  if (v.is_array()) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& item : v) out.push_back(ToOrdered(item, level + 1, ""));
    return out;
  }
  switch (v.type()) {
    case Json::value_t::string:
      return v.get<std::string>();
    case Json::value_t::boolean:
      return v.get<bool>();
    case Json::value_t::number_integer:
      return v.get<int64_t>();
    case Json::value_t::number_unsigned:
      return v.get<uint64_t>();
    case Json::value_t::number_float:
      return v.get<double>();
    default:
      return nullptr;
  }
}

}  // namespace

Result<Json> ParseManifest(std::string_view text) {
  if (text.size() > kMaxManifestBytes) return Error(Code::kTooLarge, "manifest: input exceeds size limit");
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return Error(Code::kInvalidArgument, "manifest: empty input");
  if (text[first] == '{') {
    JsonLimits limits;
    limits.max_bytes = kMaxManifestBytes;
    limits.max_depth = kMaxDepth;
    auto j = ParseJsonObject(text, limits);
    if (!j.ok()) return j.status().Annotate("manifest");
    return j;
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception&) {
    return Error(Code::kInvalidArgument, "manifest: malformed YAML");
  }
  std::vector<const YAML::Node*> present;
  for (const auto& d : docs) {
    if (!d.IsNull()) present.push_back(&d);
  }
  if (present.empty()) return Error(Code::kInvalidArgument, "manifest: empty input");
  // Test: SecretManifestTest.RejectsMultiDocument.
  if (present.size() != 1) return Error(Code::kInvalidArgument, "manifest: expected exactly one YAML document");
  if (!present[0]->IsMap()) return Error(Code::kInvalidArgument, "manifest: document is not a mapping");
  try {
    YamlToJson conv;
    return conv.Convert(*present[0], 0);
  } catch (const YAML::Exception&) {
    return Error(Code::kInvalidArgument, "manifest: malformed YAML");
  }
}

std::string EmitYaml(const Json& manifest) {
  YAML::Emitter out;
  out.SetIndent(2);
  EmitNode(out, manifest, 0, "");
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

std::string EmitJson(const Json& manifest) {
  return ToOrdered(manifest, 0, "").dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace astis::cli
