// libFuzzer target for common/json.h ParseJson, differentially: whatever it
// accepts must (1) respect the size, NUL and depth limits it was given,
// (2) hold no duplicate object key — checked independently by counting the
// key events of nlohmann's SAX parser against the members of the result,
// (3) serialise strictly (valid UTF-8) and re-parse to an equal value.
// Byte 0 picks the limits; the rest is the JSON text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.h"

namespace {

using astis::Json;

// KeyCounter counts object keys as the text spells them (duplicates included).
struct KeyCounter : nlohmann::json_sax<Json> {
  size_t keys = 0;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override {
    ++keys;
    return true;
  }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

// Members counts object members in the tree; Depth its container nesting.
size_t Members(const Json& j) {
  size_t n = j.is_object() ? j.size() : 0;
  if (j.is_structured()) {
    for (const auto& child : j) n += Members(child);
  }
  return n;
}

size_t Depth(const Json& j) {
  if (!j.is_structured()) return 0;
  size_t d = 0;
  for (const auto& child : j) d = std::max(d, Depth(child));
  return d + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  astis::JsonLimits limits;
  limits.max_depth = 1 + data[0] % 20;
  limits.max_bytes = (data[0] & 0x80) != 0 ? 64 : 64 * 1024;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto parsed = astis::ParseJson(text, limits);
  (void)astis::ParseJsonObject(text, limits);
  if (!parsed.ok()) return 0;

  // (1) the limits held.
  if (text.size() > limits.max_bytes) __builtin_trap();
  if (text.find('\0') != std::string_view::npos) __builtin_trap();
  if (Depth(*parsed) > limits.max_depth + 1) __builtin_trap();

  // (2) no duplicate key was silently merged.
  KeyCounter counter;
  if (!Json::sax_parse(text.begin(), text.end(), &counter)) __builtin_trap();  // nlohmann itself rejects it
  if (counter.keys != Members(*parsed)) __builtin_trap();

  // (3) strict re-serialisation and a faithful round trip.
  std::string strict;
  try {
    strict = parsed->dump(-1, ' ', false, Json::error_handler_t::strict);
  } catch (const Json::exception&) {
    __builtin_trap();  // accepted text that is not valid UTF-8
  }
  if (strict != astis::DumpJson(*parsed)) __builtin_trap();
  astis::JsonLimits loose;
  loose.max_bytes = strict.size() + 1;
  loose.max_depth = limits.max_depth + 1;
  auto again = astis::ParseJson(strict, loose);
  if (!again.ok() || *again != *parsed) __builtin_trap();
  return 0;
}
