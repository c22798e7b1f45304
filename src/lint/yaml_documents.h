// Multi-document YAML to JSON for linting Kubernetes manifests.
//
// yaml-cpp's parser throws; this is the boundary where its exceptions become
// a Status. Its events are turned into Json directly (no YAML::Node graph).
// The product's one YAML-to-JSON converter (YAML 1.2 core schema): `astis
// lint`, the MCP tools and `astis seal`'s ParseManifest
// (src/cli/secret_manifest.h, which then requires exactly one document) all
// parse YAML through it.
#pragma once

#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace astis::lint {

// kMaxManifestFileBytes bounds one linted file or one lint_manifests text.
inline constexpr size_t kMaxManifestFileBytes = 8 * 1024 * 1024;

// ParseYamlDocuments parses text (YAML, or JSON, which YAML 1.2 contains)
// into one Json value per non-empty document, in order. It refuses
// (kInvalidArgument) YAML syntax errors, duplicate mapping keys, non-scalar
// keys, aliases as keys or inside their own anchor, a document that makes no
// progress (yaml-cpp 0.7's stray-comma loop), unsupported tags, nesting
// deeper than 64, and alias expansion beyond
// budgets linear in text.size() (100000 nodes + one per input byte, 1 MiB +
// two scalar bytes per input byte, over all documents together: alias
// bombs); kTooLarge above kMaxManifestFileBytes. It never throws and
// messages never echo the input. Test: YamlDocumentsTest.*.
Result<std::vector<Json>> ParseYamlDocuments(std::string_view text);

}  // namespace astis::lint
