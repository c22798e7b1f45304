// JsonReader: strict decoding of one JSON object of the admin protocol into
// typed fields. Internal to astis::admin (server and client).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace astis::admin::internal {

// JsonReader reads named members of an object it borrows (obj must outlive
// it). Each read records the first error (a missing required member or a
// wrong type); Done() also refuses any member that was not read, so a typo or
// an unexpected field is an error, not silently ignored. Error messages name
// the member, never its value. It never throws.
class JsonReader {
 public:
  JsonReader(const Json& obj, std::string_view what);

  // Str reads a string member; an absent optional member leaves out as is.
  JsonReader& Str(const char* key, std::string& out, bool required = true);
  // Strs reads an array of strings (required).
  JsonReader& Strs(const char* key, std::vector<std::string>& out);
  // Int reads an integer member (required).
  JsonReader& Int(const char* key, int64_t& out);
  // Array points out at an array member (required).
  JsonReader& Array(const char* key, const Json*& out);
  // Object points out at an object member (required).
  JsonReader& Object(const char* key, const Json*& out);
  // Bool reads a boolean member; an absent optional member leaves out as is.
  JsonReader& Bool(const char* key, bool& out, bool required = true);

  // Done returns the first error, or kInvalidArgument naming an unknown
  // member, or OK.
  Status Done() const;

 private:
  const Json* Find(const char* key, bool required);

  const Json& obj_;
  std::string what_;
  std::set<std::string, std::less<>> read_;
  Status error_;
};

}  // namespace astis::admin::internal
