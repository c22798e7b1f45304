#include "lint/yaml_documents.h"

#include <cerrno>
#include <cstdlib>
#include <string>

#include <yaml-cpp/yaml.h>

namespace astis::lint {
namespace {

inline constexpr size_t kMaxDepth = 64;

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

// ResolvePlainScalar applies the YAML 1.2 core schema (§10.3.2).
Json ResolvePlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Json(nullptr);
  if (s == "true" || s == "True" || s == "TRUE") return Json(true);
  if (s == "false" || s == "False" || s == "FALSE") return Json(false);
  if (IsDigits(StripSign(s))) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno == 0 && end == s.c_str() + s.size()) return Json(static_cast<int64_t>(v));
    return Json(s);
  }
  if (IsCoreFloat(s)) return Json(std::strtod(s.c_str(), nullptr));
  return Json(s);
}

// Converter expands aliases, so what it builds can be far larger than the
// text (an "alias bomb": ten anchors of ten aliases each make 10^10 nodes
// from a few hundred bytes). One Converter serves every document of a text,
// and its budgets are the text's own size plus a constant: a text without
// aliases never reaches them (each node takes at least one byte of input,
// each scalar byte at most 2/3 of an input byte: an escape like \L), and
// any text converts into memory linear in its length. Tests:
// YamlDocumentsTest.RejectsAliasBomb, .NodeBudgetSpansDocuments,
// .RejectsLongScalarAliasBomb, .AcceptsLargeAliasFreeInput.
class Converter {
 public:
  explicit Converter(size_t text_bytes)
      : max_nodes_(kBaseNodeBudget + text_bytes), max_scalar_bytes_(kBaseScalarBudget + 2 * text_bytes) {}

  Result<Json> Convert(const YAML::Node& node, size_t depth) {
    if (++nodes_ > max_nodes_) return Error(Code::kInvalidArgument, "YAML: too many nodes");
    if (depth > kMaxDepth) return Error(Code::kInvalidArgument, "YAML: nesting too deep");
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return Json(nullptr);
      case YAML::NodeType::Scalar: {
        ASTIS_RETURN_IF_ERROR(ChargeScalar(node.Scalar()));
        const std::string& tag = node.Tag();
        if (tag == "!" || tag == "tag:yaml.org,2002:str") return Json(node.Scalar());
        if (tag != "?" && !tag.empty()) return Error(Code::kInvalidArgument, "YAML: unsupported tag");
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
          if (!kv.first.IsScalar()) return Error(Code::kInvalidArgument, "YAML: non-scalar mapping key");
          const std::string key = kv.first.Scalar();
          ASTIS_RETURN_IF_ERROR(ChargeScalar(key));
          // PROTOCOL.md "Words": duplicate keys are an error (yaml-cpp keeps both).
          if (obj.contains(key)) return Error(Code::kInvalidArgument, "YAML: duplicate mapping key");
          ASTIS_ASSIGN_OR_RETURN(Json v, Convert(kv.second, depth + 1));
          obj[key] = std::move(v);
        }
        return obj;
      }
    }
    return Error(Code::kInvalidArgument, "YAML: unknown node type");
  }

 private:
  static constexpr size_t kBaseNodeBudget = 100000;
  static constexpr size_t kBaseScalarBudget = 1 << 20;

  Status ChargeScalar(const std::string& s) {
    scalar_bytes_ += s.size();
    if (scalar_bytes_ > max_scalar_bytes_) return Error(Code::kInvalidArgument, "YAML: too much scalar data");
    return Status();
  }

  const size_t max_nodes_;
  const size_t max_scalar_bytes_;
  size_t nodes_ = 0;
  size_t scalar_bytes_ = 0;
};

}  // namespace

Result<std::vector<Json>> ParseYamlDocuments(std::string_view text) {
  if (text.size() > kMaxManifestFileBytes) return Error(Code::kTooLarge, "YAML: input exceeds the size limit");
  std::vector<Json> out;
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(std::string(text));
    Converter conv(text.size());  // one budget for the whole text, not per document
    for (const auto& d : docs) {
      if (d.IsNull()) continue;
      ASTIS_ASSIGN_OR_RETURN(Json j, conv.Convert(d, 0));
      out.push_back(std::move(j));
    }
  } catch (const YAML::Exception& e) {
    // The mark (line/column) is safe to report; the message text may quote input.
    if (e.mark.is_null()) return Error(Code::kInvalidArgument, "YAML: syntax error");
    return Error(Code::kInvalidArgument, "YAML: syntax error at line " + std::to_string(e.mark.line + 1));
  } catch (const std::exception&) {
    return Error(Code::kInvalidArgument, "YAML: cannot parse");
  }
  return out;
}

}  // namespace astis::lint
