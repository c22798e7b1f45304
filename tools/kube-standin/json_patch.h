// JSON Patch (RFC 6902) over JSON Pointers (RFC 6901), without exceptions:
// what the stand-in applies when an admission webhook answers with
// patchType "JSONPatch" (docs/kube-standin.md "Admission").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace astis::kubestandin {

// ParsePointer splits an RFC 6901 pointer into its reference tokens, ~1 and
// ~0 decoded (in that order, §4). "" is the whole document. Fails with
// kInvalidArgument when the pointer is neither empty nor starts with "/", or
// a "~" is not followed by 0 or 1 (§3).
Result<std::vector<std::string>> ParsePointer(std::string_view pointer);

// ApplyJsonPatch applies patch (an array of operations) to doc and returns
// the result; doc is unchanged on failure (§5: the whole patch or nothing).
// Fails with kInvalidArgument for a malformed patch or operation, a pointer
// that does not resolve, an out-of-range array index, and with
// kFailedPrecondition when a "test" operation does not hold. Messages name
// the operation's index and path, never a value.
Result<Json> ApplyJsonPatch(const Json& doc, const Json& patch);

}  // namespace astis::kubestandin
