// Header lists shared by the astis::net HTTP client and server (Boost-free).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace astis::net {

// HeaderList is an ordered list of (name, value) header fields; a name may
// repeat. Names compare case-insensitively (RFC 9110 §5.1).
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// FindHeader returns the value of the first field named name, or nullopt.
std::optional<std::string> FindHeader(const HeaderList& headers, std::string_view name);

// CountHeader returns how many fields are named name.
size_t CountHeader(const HeaderList& headers, std::string_view name);

// ValidateHeaderField refuses (kInvalidArgument) a name that is not an RFC
// 9110 §5.6.2 token or a value holding CR, LF, NUL or other controls except
// HTAB (RFC 9110 §5.5), so no caller can inject a header or split a message.
Status ValidateHeaderField(std::string_view name, std::string_view value);

}  // namespace astis::net
