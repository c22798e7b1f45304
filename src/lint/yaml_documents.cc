#include "lint/yaml_documents.h"

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

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

// Builder turns yaml-cpp's parse events straight into Json: no YAML::Node
// graph, and every refusal decided here rather than after the fact.
//
// Aliases are expanded (Json has no shared nodes), so what it builds can be
// far larger than the text: ten anchors of ten aliases each make 10^10 nodes
// from a few hundred bytes. One Builder serves every document of a text and
// its budgets are the text's own size plus a constant: a text without
// anchors never reaches them (each node takes at least one byte of input,
// and an escape like \L turns two input bytes into at most three scalar
// bytes), and any text becomes memory linear in its length. An alias is
// charged what its anchor cost, and so is the copy an anchor keeps. Tests:
// YamlDocumentsTest.RejectsAliasBomb, .NodeBudgetSpansDocuments,
// .RejectsLongScalarAliasBomb, .AcceptsLargeAliasFreeInput,
// .ChargesNestedAnchorCopies.
//
// yaml-cpp 0.7 (Debian 12) never consumes a stray ',' at document level
// (",", "[a],", "- a\n,"): each HandleNextDocument reports one more empty
// document at the same position, and LoadAll collects them until memory
// runs out (jbeder/yaml-cpp#1040, fixed upstream by #1318/#1319 after 0.7).
// A document that starts where the previous one started is therefore a
// syntax error here. Test: YamlDocumentsTest.RejectsStrayCommaWithoutLooping
// (found by mcp_message_fuzz: fuzz/regressions/mcp_message/oom-yaml-cpp-stray-comma).
class Builder final : public YAML::EventHandler {
 public:
  explicit Builder(size_t text_bytes)
      : max_nodes_(kBaseNodeBudget + text_bytes),
        max_scalar_bytes_(kBaseScalarBudget + 2 * text_bytes),
        max_documents_(text_bytes + 1) {}

  // Refusal carries a Status out of the parser's call stack; it is caught in
  // ParseYamlDocuments, the same boundary as yaml-cpp's own exceptions.
  struct Refusal {
    Status status;
  };

  std::vector<Json>& documents() { return documents_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (last_start_ && last_start_->pos == mark.pos) Refuse("YAML: syntax error at line " + Line(mark));
    if (++document_count_ > max_documents_) Refuse("YAML: too many documents");
    last_start_ = mark;
    anchors_.clear();  // anchors are per document (YAML 1.2 §3.2.2.2)
    stack_.clear();
    root_.reset();
  }

  void OnDocumentEnd() override {
    // An empty document, or one that is just null, holds no object.
    if (root_ && !root_->is_null()) documents_.push_back(std::move(*root_));
    root_.reset();
  }

  void OnNull(const YAML::Mark&, YAML::anchor_t anchor) override {
    RefuseKey();
    Complete(Json(nullptr), anchor, Charge(1, 0));
  }

  void OnAlias(const YAML::Mark&, YAML::anchor_t anchor) override {
    RefuseKey();
    if (anchor >= anchors_.size() || !anchors_[anchor])
      Refuse("YAML: alias to an anchor that is not complete");  // e.g. &a [*a]
    const Anchored& a = *anchors_[anchor];
    Charge(a.nodes, a.scalar_bytes);
    EnterValue();
    Attach(Json(a.value));
  }

  void OnScalar(const YAML::Mark&, const std::string& tag, YAML::anchor_t anchor, const std::string& value) override {
    if (ExpectingKey()) {
      // docs/protocol.md "Words": duplicate keys are an error (yaml-cpp keeps both).
      Charge(1, value.size());
      if (stack_.back().value.contains(value)) Refuse("YAML: duplicate mapping key");
      if (anchor != YAML::NullAnchor) Remember(anchor, Json(value), 1, value.size());
      stack_.back().key = value;
      return;
    }
    const Cost cost = Charge(1, value.size());
    EnterValue();
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return Complete(Json(value), anchor, cost);
    if (tag != "?" && !tag.empty()) Refuse("YAML: unsupported tag");
    Complete(ResolvePlainScalar(value), anchor, cost);
  }

  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(Json::array(), anchor);
  }
  void OnSequenceEnd() override { Close(); }

  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    Open(Json::object(), anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  static constexpr size_t kBaseNodeBudget = 100000;
  static constexpr size_t kBaseScalarBudget = 1 << 20;

  struct Cost {
    size_t nodes_before, scalar_bytes_before;
  };
  struct Frame {
    Json value;
    YAML::anchor_t anchor;
    Cost cost;
    std::optional<std::string> key;  // maps: the key awaiting its value
  };
  struct Anchored {
    Json value;
    size_t nodes, scalar_bytes;
  };

  [[noreturn]] static void Refuse(std::string message) {
    throw Refusal{Error(Code::kInvalidArgument, std::move(message))};
  }
  static std::string Line(const YAML::Mark& m) { return std::to_string(m.line + 1); }

  bool ExpectingKey() const { return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().key; }
  void RefuseKey() const {
    if (ExpectingKey()) Refuse("YAML: non-scalar mapping key");
  }

  // Charge counts nodes and scalar bytes against the budgets and returns the
  // totals before, so a completed value knows what it cost.
  Cost Charge(size_t nodes, size_t scalar_bytes) {
    Cost before{nodes_, scalar_bytes_};
    nodes_ += nodes;
    scalar_bytes_ += scalar_bytes;
    if (nodes_ > max_nodes_) Refuse("YAML: too many nodes");
    if (scalar_bytes_ > max_scalar_bytes_) Refuse("YAML: too much scalar data");
    return before;
  }

  // EnterValue checks the depth a new value would sit at (the root is 0).
  void EnterValue() const {
    if (stack_.size() > kMaxDepth) Refuse("YAML: nesting too deep");
  }

  void Open(Json empty, YAML::anchor_t anchor) {
    RefuseKey();
    const Cost cost = Charge(1, 0);
    EnterValue();
    stack_.push_back(Frame{std::move(empty), anchor, cost, std::nullopt});
  }

  void Close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    Complete(std::move(f.value), f.anchor, f.cost);
  }

  // Remember keeps a copy of an anchored value for its aliases. The copy is
  // charged like an expansion: anchors nested 64 deep around one large
  // sequence would otherwise hold 64 copies of it beyond any budget.
  // Test: YamlDocumentsTest.ChargesNestedAnchorCopies.
  void Remember(YAML::anchor_t anchor, Json value, size_t nodes, size_t scalar_bytes) {
    Charge(nodes, scalar_bytes);
    if (anchor >= anchors_.size()) anchors_.resize(anchor + 1);
    anchors_[anchor] = Anchored{std::move(value), nodes, scalar_bytes};
  }

  // Complete records an anchored value, then hands it to its parent.
  void Complete(Json value, YAML::anchor_t anchor, Cost before) {
    if (anchor != YAML::NullAnchor) {
      Remember(anchor, value, nodes_ - before.nodes_before, scalar_bytes_ - before.scalar_bytes_before);
    }
    Attach(std::move(value));
  }

  void Attach(Json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return;
    }
    Frame& parent = stack_.back();
    if (parent.value.is_array()) {
      parent.value.push_back(std::move(value));
      return;
    }
    parent.value[*parent.key] = std::move(value);
    parent.key.reset();
  }

  const size_t max_nodes_;
  const size_t max_scalar_bytes_;
  const size_t max_documents_;
  size_t nodes_ = 0;
  size_t scalar_bytes_ = 0;
  size_t document_count_ = 0;
  std::optional<YAML::Mark> last_start_;
  std::vector<std::optional<Anchored>> anchors_;
  std::vector<Frame> stack_;
  std::optional<Json> root_;
  std::vector<Json> documents_;
};

}  // namespace

Result<std::vector<Json>> ParseYamlDocuments(std::string_view text) {
  if (text.size() > kMaxManifestFileBytes) return Error(Code::kTooLarge, "YAML: input exceeds the size limit");
  std::vector<Json> out;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    Builder builder(text.size());  // one budget for the whole text, not per document
    while (parser.HandleNextDocument(builder)) {
    }
    out = std::move(builder.documents());
  } catch (const Builder::Refusal& r) {
    return r.status;
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
