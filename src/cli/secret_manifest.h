// Reading and writing Kubernetes Secret manifests for the `astis` CLI.
//
// Input is one YAML or JSON document (ParseManifest) or a YAML stream of
// several (ParseManifests, for `astis seal`); it is converted to JSON values
// so the sealing logic has one representation. Output is YAML (yaml-cpp emitter) or
// JSON, with a stable key order: apiVersion, kind, metadata (name,
// namespace, labels, annotations, then the rest), type, data, then the rest.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace astis::cli {

// kMaxManifestBytes bounds a manifest read from stdin or a file (a Secret is
// at most 1 MiB in Kubernetes; sealing grows values, YAML adds overhead).
inline constexpr size_t kMaxManifestBytes = 8 * 1024 * 1024;

// ParseManifest parses one YAML or JSON document (JSON when the first
// non-blank byte is '{'). It refuses (kInvalidArgument) a multi-document
// stream, an empty input, a non-mapping document, duplicate mapping keys,
// non-scalar mapping keys, more than 100000 nodes (alias bombs) and any YAML
// or JSON syntax error; kTooLarge above kMaxManifestBytes. Plain YAML scalars
// follow the YAML 1.2 core schema (null, bool, int, float, else string);
// quoted scalars are strings. Messages never echo the input.
Result<Json> ParseManifest(std::string_view text);

// ParseManifests is ParseManifest for `astis seal` input, like `kubectl
// apply -f`: a JSON object is one document, YAML may hold several
// `---`-separated documents (empty ones are skipped), returned in order.
// Each must be a mapping; at least one must be present. Same limits and
// refusals as ParseManifest otherwise. Test: SecretManifestTest.ParsesMultiDocumentStream.
Result<std::vector<Json>> ParseManifests(std::string_view text);

// EmitYaml renders a manifest as block YAML in the stable key order above.
// Strings that could be read back as another type are double-quoted. It
// cannot fail for a JSON value produced by this component.
std::string EmitYaml(const Json& manifest);

// EmitJson renders a manifest as indented JSON in the same key order.
std::string EmitJson(const Json& manifest);

// EmitYamlStream renders manifests as one YAML stream in order: a single
// manifest exactly as EmitYaml, several separated by "---" lines.
std::string EmitYamlStream(const std::vector<Json>& manifests);

// EmitJsonStream renders one manifest as EmitJson and several as a v1 List
// ({"apiVersion":"v1","kind":"List","items":[...]}, as `kubectl -o json`
// prints several objects), each item in the key order above.
std::string EmitJsonStream(const std::vector<Json>& manifests);

}  // namespace astis::cli
