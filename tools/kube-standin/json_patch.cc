#include "kube-standin/json_patch.h"

#include <algorithm>
#include <utility>

namespace astis::kubestandin {
namespace {

Status Bad(size_t index, std::string_view path, std::string_view why) {
  return Error(Code::kInvalidArgument, "json patch operation " + std::to_string(index) + " (path \"" +
                                           std::string(path) + "\"): " + std::string(why));
}

// ArrayIndex parses an RFC 6901 §4 array index: "0" or digits without a
// leading zero. "-" (the element after the last, §4 and RFC 6902 §4.1) is
// size when allow_end. Returns false when the token is no index or is out
// of range (> size, or == size unless allow_end).
bool ArrayIndex(const std::string& token, size_t size, bool allow_end, size_t* out) {
  if (token == "-") {
    *out = size;
    return allow_end;
  }
  if (token.empty() || token.size() > 9 || (token.size() > 1 && token[0] == '0')) return false;
  size_t v = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  *out = v;
  return allow_end ? v <= size : v < size;
}

// Resolve walks tokens from doc; nullptr when a token does not resolve.
Json* Resolve(Json& doc, const std::vector<std::string>& tokens, size_t count) {
  Json* at = &doc;
  for (size_t i = 0; i < count; ++i) {
    const std::string& t = tokens[i];
    if (at->is_object()) {
      auto it = at->find(t);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array()) {
      size_t idx = 0;
      if (!ArrayIndex(t, at->size(), false, &idx)) return nullptr;
      at = &(*at)[idx];
    } else {
      return nullptr;
    }
  }
  return at;
}

// Add is RFC 6902 §4.1: the target's parent must exist; an object member is
// added or replaced, an array element inserted (index ≤ size, "-" appends).
// Test: JsonPatchTest.RefusesTargetsThatDoNotResolve.
Status Add(Json& doc, const std::vector<std::string>& tokens, Json value, size_t index, std::string_view path) {
  if (tokens.empty()) {
    doc = std::move(value);  // the whole document is replaced
    return OkStatus();
  }
  Json* parent = Resolve(doc, tokens, tokens.size() - 1);
  if (parent == nullptr) return Bad(index, path, "the parent does not exist");
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    (*parent)[last] = std::move(value);
  } else if (parent->is_array()) {
    size_t at = 0;
    if (!ArrayIndex(last, parent->size(), true, &at)) return Bad(index, path, "array index out of range");
    parent->insert(parent->begin() + static_cast<std::ptrdiff_t>(at), std::move(value));
  } else {
    return Bad(index, path, "the parent is neither an object nor an array");
  }
  return OkStatus();
}

// Remove is RFC 6902 §4.2: the target must exist. The removed value is
// returned through out (for move).
Status Remove(Json& doc, const std::vector<std::string>& tokens, size_t index, std::string_view path,
              Json* out = nullptr) {
  if (tokens.empty()) return Bad(index, path, "cannot remove the whole document");
  Json* parent = Resolve(doc, tokens, tokens.size() - 1);
  if (parent == nullptr) return Bad(index, path, "the target does not exist");
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    auto it = parent->find(last);
    if (it == parent->end()) return Bad(index, path, "the target does not exist");
    if (out != nullptr) *out = std::move(*it);
    parent->erase(it);
  } else if (parent->is_array()) {
    size_t at = 0;
    if (!ArrayIndex(last, parent->size(), false, &at)) return Bad(index, path, "the target does not exist");
    if (out != nullptr) *out = std::move((*parent)[at]);
    parent->erase(parent->begin() + static_cast<std::ptrdiff_t>(at));
  } else {
    return Bad(index, path, "the target does not exist");
  }
  return OkStatus();
}

Result<std::string> Member(const Json& op, const char* name, size_t index) {
  auto it = op.find(name);
  if (it == op.end() || !it->is_string()) return Bad(index, "", std::string("missing member \"") + name + "\"");
  return it->get<std::string>();
}

Status ApplyOne(Json& doc, const Json& op, size_t index) {
  // §4: each operation is an object with "op" and "path"; "value" for add,
  // replace and test, "from" for move and copy. Test:
  // JsonPatchTest.RefusesMalformedOperations.
  if (!op.is_object()) return Bad(index, "", "an operation is an object");
  ASTIS_ASSIGN_OR_RETURN(const std::string name, Member(op, "op", index));
  ASTIS_ASSIGN_OR_RETURN(const std::string path, Member(op, "path", index));
  Result<std::vector<std::string>> tokens = ParsePointer(path);
  if (!tokens.ok()) return Bad(index, path, "malformed pointer");
  const bool needs_value = name == "add" || name == "replace" || name == "test";
  if (needs_value && !op.contains("value")) return Bad(index, path, "missing member \"value\"");
  if (name == "add") return Add(doc, *tokens, op["value"], index, path);
  if (name == "remove") return Remove(doc, *tokens, index, path);
  if (name == "replace") {
    // §4.3: the target must exist; equivalent to remove then add.
    Json* target = Resolve(doc, *tokens, tokens->size());
    if (target == nullptr) return Bad(index, path, "the target does not exist");
    *target = op["value"];
    return OkStatus();
  }
  if (name == "test") {
    // §4.6: the value at path must equal "value" (§4.6 equality: numbers by
    // value, objects by members regardless of order, arrays element-wise).
    // Test: JsonPatchTest.FailingTestAbandonsThePatch.
    Json* target = Resolve(doc, *tokens, tokens->size());
    if (target == nullptr) return Bad(index, path, "the target does not exist");
    if (*target != op["value"]) {
      return Error(Code::kFailedPrecondition,
                   "json patch operation " + std::to_string(index) + " (path \"" + path + "\"): test failed");
    }
    return OkStatus();
  }
  if (name == "move" || name == "copy") {
    ASTIS_ASSIGN_OR_RETURN(const std::string from, Member(op, "from", index));
    Result<std::vector<std::string>> from_tokens = ParsePointer(from);
    if (!from_tokens.ok()) return Bad(index, from, "malformed pointer");
    if (name == "move") {
      // §4.4: "from" MUST NOT be a proper prefix of "path" (a location
      // cannot be moved into one of its children).
      const bool prefix =
          from_tokens->size() < tokens->size() && std::equal(from_tokens->begin(), from_tokens->end(), tokens->begin());
      if (prefix) return Bad(index, path, "cannot move a value into one of its children");
      Json value;
      ASTIS_RETURN_IF_ERROR(Remove(doc, *from_tokens, index, from, &value));
      return Add(doc, *tokens, std::move(value), index, path);
    }
    // §4.5: copy the value at "from" to "path" (as add).
    Json* source = Resolve(doc, *from_tokens, from_tokens->size());
    if (source == nullptr) return Bad(index, from, "the \"from\" location does not exist");
    return Add(doc, *tokens, Json(*source), index, path);
  }
  return Bad(index, path, "unknown operation");  // §4: "op" MUST be one of the six
}

}  // namespace

Result<std::vector<std::string>> ParsePointer(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  // RFC 6901 §3: json-pointer = *( "/" reference-token ).
  if (pointer[0] != '/') return Error(Code::kInvalidArgument, "a JSON pointer starts with \"/\"");
  std::string token;
  for (size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
      continue;
    }
    if (pointer[i] == '~') {
      // §3: escaped = "~" ( "0" / "1" ); §4: "~1" → "/" then "~0" → "~",
      // so "~01" is "~1", never "/". Tests: JsonPointerTest.DecodesEscapesInOrder,
      // JsonPointerTest.RefusesMalformedPointers.
      if (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) {
        return Error(Code::kInvalidArgument, "a \"~\" in a JSON pointer must be followed by 0 or 1");
      }
      token += pointer[i + 1] == '0' ? '~' : '/';
      ++i;
      continue;
    }
    token += pointer[i];
  }
  return tokens;
}

Result<Json> ApplyJsonPatch(const Json& doc, const Json& patch) {
  // RFC 6902 §3: a JSON Patch document is an array of operations.
  if (!patch.is_array()) return Error(Code::kInvalidArgument, "a JSON patch is an array");
  Json out = doc;  // §5: on an error the whole patch is abandoned (JsonPatchTest.FailingTestAbandonsThePatch)
  for (size_t i = 0; i < patch.size(); ++i) ASTIS_RETURN_IF_ERROR(ApplyOne(out, patch[i], i));
  return out;
}

}  // namespace astis::kubestandin
