#include "admin/internal/json_reader.h"

#include <cstdint>

namespace astis::admin::internal {

JsonReader::JsonReader(const Json& obj, std::string_view what) : obj_(obj), what_(what) {
  if (!obj_.is_object()) error_ = Error(Code::kInvalidArgument, what_ + ": must be a JSON object");
}

const Json* JsonReader::Find(const char* key, bool required) {
  if (!error_.ok()) return nullptr;
  read_.insert(key);
  auto it = obj_.find(key);
  if (it == obj_.end()) {
    if (required) error_ = Error(Code::kInvalidArgument, what_ + "." + key + ": missing");
    return nullptr;
  }
  return &*it;
}

JsonReader& JsonReader::Str(const char* key, std::string& out, bool required) {
  if (const Json* v = Find(key, required); v != nullptr) {
    if (!v->is_string()) {
      error_ = Error(Code::kInvalidArgument, what_ + "." + key + ": must be a string");
    } else {
      out = v->get<std::string>();
    }
  }
  return *this;
}

JsonReader& JsonReader::Strs(const char* key, std::vector<std::string>& out) {
  if (const Json* v = Find(key, true); v != nullptr) {
    if (!v->is_array()) {
      error_ = Error(Code::kInvalidArgument, what_ + "." + key + ": must be an array of strings");
      return *this;
    }
    std::vector<std::string> values;
    for (const auto& e : *v) {
      if (!e.is_string()) {
        error_ = Error(Code::kInvalidArgument, what_ + "." + key + ": must be an array of strings");
        return *this;
      }
      values.push_back(e.get<std::string>());
    }
    out = std::move(values);
  }
  return *this;
}

JsonReader& JsonReader::Int(const char* key, int64_t& out) {
  if (const Json* v = Find(key, true); v != nullptr) {
    if (!v->is_number_integer() || (v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX)) {
      error_ = Error(Code::kInvalidArgument, what_ + "." + key + ": must be an integer");
    } else {
      out = v->get<int64_t>();
    }
  }
  return *this;
}

JsonReader& JsonReader::Array(const char* key, const Json*& out) {
  if (const Json* v = Find(key, true); v != nullptr) {
    if (!v->is_array()) {
      error_ = Error(Code::kInvalidArgument, what_ + "." + key + ": must be an array");
    } else {
      out = v;
    }
  }
  return *this;
}

JsonReader& JsonReader::Object(const char* key, const Json*& out) {
  if (const Json* v = Find(key, true); v != nullptr) {
    if (!v->is_object()) {
      error_ = Error(Code::kInvalidArgument, what_ + "." + key + ": must be an object");
    } else {
      out = v;
    }
  }
  return *this;
}

JsonReader& JsonReader::Bool(const char* key, bool& out, bool required) {
  if (const Json* v = Find(key, required); v != nullptr) {
    if (!v->is_boolean()) {
      error_ = Error(Code::kInvalidArgument, what_ + "." + key + ": must be true or false");
    } else {
      out = v->get<bool>();
    }
  }
  return *this;
}

Status JsonReader::Done() const {
  if (!error_.ok()) return error_;
  for (auto it = obj_.begin(); it != obj_.end(); ++it) {
    if (read_.find(it.key()) == read_.end()) {
      return Error(Code::kInvalidArgument, what_ + ": unexpected member");
    }
  }
  return OkStatus();
}

}  // namespace astis::admin::internal
