// Strict JSON parsing for untrusted input.
//
// docs/protocol.md "Words": all JSON is UTF-8, parsed with size and depth limits;
// duplicate keys are an error. nlohmann-json accepts duplicates (last wins)
// and throws on errors; ParseJson wraps it so neither reaches a caller.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace astis {

using Json = nlohmann::json;

struct JsonLimits {
  size_t max_bytes = 64 * 1024;
  size_t max_depth = 16;
};

// ParseJson parses text strictly: valid UTF-8, no duplicate object keys, no
// more than limits.max_bytes bytes or limits.max_depth nesting levels, and
// nothing but whitespace after the value. Oversize input is kTooLarge; every
// other error is kInvalidArgument, with a message that never echoes the input.
Result<Json> ParseJson(std::string_view text, const JsonLimits& limits = {});

// ParseJsonObject is ParseJson that also requires a top-level object.
Result<Json> ParseJsonObject(std::string_view text, const JsonLimits& limits = {});

// DumpJson serialises compactly; invalid UTF-8 in strings is replaced, never
// thrown.
std::string DumpJson(const Json& value);

// Typed accessors for objects: each returns kInvalidArgument naming the
// member when it is missing or of the wrong type.
Result<std::string> GetString(const Json& obj, std::string_view key);
Result<int64_t> GetInt(const Json& obj, std::string_view key);
Result<const Json*> GetObject(const Json& obj, std::string_view key);
Result<const Json*> GetArray(const Json& obj, std::string_view key);

// RequireExactMembers returns OK when obj is an object whose member names are
// exactly names (unknown members are refused, not ignored: docs/protocol.md
// "Capsule members", docs/edge.md request bodies). Otherwise it returns code
// with "<what>: not a JSON object", "<what>: missing member \"<name>\"" or
// "<what>: unknown member"; the message never echoes a value. Tests:
// JsonAccessors.RequireExactMembersRefusesOtherSets, CapsuleTest.RejectsCapsuleUnknownMember.
Status RequireExactMembers(const Json& obj, std::initializer_list<std::string_view> names, std::string_view what,
                           Code code = Code::kInvalidArgument);

}  // namespace astis
