// yaml_config: the strict YAML reading shared by the configuration files of
// `astis serve`/`astis edge` (edge/config.cc), `astis cvs` (cvs/run.cc) and
// `astis inject` (inject/config.cc). Every file refuses unknown keys, so a
// typo fails at start rather than silently falling back to a default, and
// every error names the field as a dotted path ("tls.cert_file").
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "common/status.h"

namespace astis::yaml_config {

// Bad is the kInvalidArgument error "FIELD: WHY".
Status Bad(std::string_view field, std::string_view why);

// Join is the dotted field name of key under prefix ("" is the top level).
std::string Join(std::string_view prefix, std::string_view key);

// CheckKeys refuses a node that is not a mapping, a non-string key, and any
// key outside allowed. where is the mapping's dotted path, "" for the top
// level. Test: YamlConfigTest.CheckKeysRefusesUnknownAndNonMapping.
Status CheckKeys(const YAML::Node& node, std::string_view where, std::initializer_list<std::string_view> allowed);

// GetString sets out to map[key] when present; it must then be a non-empty
// scalar. Absent: kInvalidArgument "required" when required, else out is
// left as it is (its default). Test: YamlConfigTest.GetStringRequiredAndEmpty.
Status GetString(const YAML::Node& map, std::string_view where, const char* key, std::string& out, bool required);

// ParseInt reads a decimal integer in [lo, hi] (digits only: no sign, no
// spaces, at most 18 digits). Test: YamlConfigTest.ParseIntRange.
Result<int64_t> ParseInt(std::string_view field, std::string_view text, int64_t lo, int64_t hi);

// GetInt sets out to map[key] (ParseInt) when present; absent leaves out.
Status GetInt(const YAML::Node& map, std::string_view where, const char* key, int64_t& out, int64_t lo, int64_t hi);

}  // namespace astis::yaml_config
