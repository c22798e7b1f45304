#include "common/encoding.h"

#include <array>

namespace astis {
namespace {

constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Encode(std::span<const uint8_t> in, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back(alphabet[v & 63]);
  }
  size_t rest = in.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t{in[i]} << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    if (pad) out += "==";
  } else if (rest == 2) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    if (pad) out += "=";
  }
  return out;
}

std::array<int8_t, 256> MakeTable(const char* alphabet) {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
  return t;
}

// DecodeUnpadded decodes a body with no '=' at all.
Result<std::vector<uint8_t>> DecodeBody(std::string_view text, const std::array<int8_t, 256>& table) {
  if (text.size() % 4 == 1) return Error(Code::kInvalidArgument, "base64: invalid length");
  std::vector<uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int8_t v = table[static_cast<uint8_t>(c)];
    if (v < 0) return Error(Code::kInvalidArgument, "base64: character outside the alphabet");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  // RFC 4648 §3.5: the unused trailing bits must be zero (canonical form).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return Error(Code::kInvalidArgument, "base64: non-canonical trailing bits");
  return out;
}

const std::array<int8_t, 256>& UrlTable() {
  static const auto t = MakeTable(kUrl);
  return t;
}
const std::array<int8_t, 256>& StdTable() {
  static const auto t = MakeTable(kStd);
  return t;
}

}  // namespace

std::string B64uEncode(std::span<const uint8_t> data) { return Encode(data, kUrl, false); }
std::string B64uEncode(std::string_view data) { return B64uEncode(AsBytes(data)); }

Result<std::vector<uint8_t>> B64uDecode(std::string_view text) { return DecodeBody(text, UrlTable()); }

Result<std::string> B64uDecodeToString(std::string_view text) {
  ASTIS_ASSIGN_OR_RETURN(auto bytes, B64uDecode(text));
  return std::string(bytes.begin(), bytes.end());
}

std::string B64Encode(std::span<const uint8_t> data) { return Encode(data, kStd, true); }
std::string B64Encode(std::string_view data) { return B64Encode(AsBytes(data)); }

Result<std::vector<uint8_t>> B64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return Error(Code::kInvalidArgument, "base64: length is not a multiple of 4");
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  std::string_view body = text.substr(0, text.size() - pad);
  auto out = DecodeBody(body, StdTable());
  if (!out.ok()) return out.status();
  return out;
}

std::string HexEncode(std::span<const uint8_t> data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

Result<std::vector<uint8_t>> HexDecode(std::string_view text) {
  if (text.size() % 2 != 0) return Error(Code::kInvalidArgument, "hex: odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<uint8_t> out(text.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return Error(Code::kInvalidArgument, "hex: invalid character");
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

}  // namespace astis
