// The one image digest check: the form gate 4 compares pod images against
// (docs/protocol.md "Image IDs"), used by the store (on write and again on
// read of a workload's allowlist), the admin API and `astis lint`.
#pragma once

#include <string_view>

namespace astis {

// IsValidImageDigest reports whether s is "sha256:" followed by exactly 64
// lower-case hex digits (the OCI form). Upper-case hex, other algorithms,
// tags, container IDs and anything with surrounding text are refused
// (test ImageDigestTest.*). It cannot fail.
bool IsValidImageDigest(std::string_view s);

}  // namespace astis
