#include "cli/secret_manifest.h"

#include <cctype>
#include <set>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "lint/yaml_documents.h"

namespace astis::cli {
namespace {

inline constexpr size_t kMaxDepth = 64;  // JSON input; YAML has lint::ParseYamlDocuments' limits

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

namespace {

// ParseDocuments is the shared body of ParseManifest / ParseManifests.
Result<std::vector<Json>> ParseDocuments(std::string_view text) {
  if (text.size() > kMaxManifestBytes) return Error(Code::kTooLarge, "manifest: input exceeds size limit");
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return Error(Code::kInvalidArgument, "manifest: empty input");
  if (text[first] == '{') {
    JsonLimits limits;
    limits.max_bytes = kMaxManifestBytes;
    limits.max_depth = kMaxDepth;
    auto j = ParseJsonObject(text, limits);
    if (!j.ok()) return j.status().Annotate("manifest");
    std::vector<Json> one;
    one.push_back(std::move(*j));
    return one;
  }
  // One YAML→JSON converter for the whole product (YAML 1.2 core schema,
  // duplicate keys and unknown tags refused, node and depth limits): the
  // linter's, which `astis lint` and the MCP tools use too and
  // mcp_message_fuzz reaches.
  auto docs = lint::ParseYamlDocuments(text);
  if (!docs.ok()) return docs.status().Annotate("manifest");
  if (docs->empty()) return Error(Code::kInvalidArgument, "manifest: empty input");
  for (size_t i = 0; i < docs->size(); ++i) {
    if (!(*docs)[i].is_object()) {
      return Error(Code::kInvalidArgument, docs->size() == 1 ? std::string("manifest: document is not a mapping")
                                                             : "manifest: document " + std::to_string(i + 1) +
                                                                   " is not a mapping");
    }
  }
  return docs;
}

}  // namespace

Result<Json> ParseManifest(std::string_view text) {
  ASTIS_ASSIGN_OR_RETURN(std::vector<Json> docs, ParseDocuments(text));
  // Test: SecretManifestTest.RejectsMultiDocument.
  if (docs.size() != 1) return Error(Code::kInvalidArgument, "manifest: expected exactly one YAML document");
  return std::move(docs[0]);
}

Result<std::vector<Json>> ParseManifests(std::string_view text) { return ParseDocuments(text); }

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

std::string EmitYamlStream(const std::vector<Json>& manifests) {
  std::string out;
  for (size_t i = 0; i < manifests.size(); ++i) {
    if (i > 0) out += "---\n";
    out += EmitYaml(manifests[i]);
  }
  return out;
}

std::string EmitJsonStream(const std::vector<Json>& manifests) {
  if (manifests.size() == 1) return EmitJson(manifests[0]);
  nlohmann::ordered_json list = nlohmann::ordered_json::object();
  list["apiVersion"] = "v1";
  list["kind"] = "List";
  list["items"] = nlohmann::ordered_json::array();
  for (const Json& m : manifests) list["items"].push_back(ToOrdered(m, 0, ""));
  return list.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace astis::cli
