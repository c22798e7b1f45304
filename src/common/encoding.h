// Strict encoders and decoders for the byte strings on the wire.
//
// docs/protocol.md "Words": b64u is base64url without padding (RFC 4648 §5), and
// decoders reject padding, whitespace and non-alphabet bytes. Kubernetes
// Secret `data` values are standard base64 with padding (RFC 4648 §4).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace astis {

// B64uEncode encodes bytes as base64url without padding.
std::string B64uEncode(std::span<const uint8_t> data);
std::string B64uEncode(std::string_view data);

// B64uDecode decodes strict base64url without padding. It refuses '=',
// whitespace, characters outside [A-Za-z0-9_-], a length of 1 mod 4, and
// non-canonical trailing bits (so each byte string has exactly one encoding).
// Errors are kInvalidArgument.
Result<std::vector<uint8_t>> B64uDecode(std::string_view text);

// B64uDecodeToString is B64uDecode returning the bytes as a std::string.
Result<std::string> B64uDecodeToString(std::string_view text);

// B64Encode encodes standard base64 with padding (RFC 4648 §4).
std::string B64Encode(std::span<const uint8_t> data);
std::string B64Encode(std::string_view data);

// B64Decode decodes standard padded base64 strictly (no whitespace,
// canonical padding and trailing bits). Errors are kInvalidArgument.
Result<std::vector<uint8_t>> B64Decode(std::string_view text);

// HexEncode encodes lower-case hex; HexDecode accepts either case.
std::string HexEncode(std::span<const uint8_t> data);
Result<std::vector<uint8_t>> HexDecode(std::string_view text);

// AsBytes views a string's characters as bytes.
inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
// AsStringView views bytes as characters.
inline std::string_view AsStringView(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace astis
