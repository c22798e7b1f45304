// The documents of `astis apply` and `astis diff` (docs/admin.md
// "Declarative configuration"): YAML files of `kind: Cluster` and
// `kind: Workload` objects under one organisation, read into the ApplyArgs
// an Operations::Apply takes.
//
// The files come from a Git repository, so they are untrusted input: the
// parser is strict (unknown fields are errors, so a typo is never silently
// ignored) and fuzzed (fuzz/admin_apply_fuzz.cc). Every error names the
// file, the document (1-based index, and kind/name when known) and the
// field, e.g. `prod.yaml: document 2 (Cluster/prod): spec.apiUrl: must be an
// https:// URL`, and never echoes a value.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/operations.h"
#include "common/status.h"

namespace astis::admin {

// kApplyApiVersion is the apiVersion every document must carry.
inline constexpr std::string_view kApplyApiVersion = "astis.dev/v1";

// ApplyDocuments accumulates the objects of one apply, over any number of
// files. org is the organisation the documents name in metadata.org ("" when
// none does); all that name one must name the same.
struct ApplyDocuments {
  std::string org;
  std::vector<ClusterAddArgs> clusters;
  std::vector<store::Workload> workloads;
};

// ReadRelativeFile returns the content of a file a document names (a
// Cluster's spec.jwksFile), resolved by the caller relative to the
// document's own file; at most kMaxJwksBytes + 1 bytes are needed.
using ReadRelativeFile = std::function<Result<std::string>(const std::string& path)>;

// ParseApplyFile parses one file's documents (YAML or JSON, through
// lint::ParseYamlDocuments) and appends its objects to out. It checks each
// object as `cluster add` and `workload add` do (the JWKS parses, the API
// URL is https, digests not tags, names the store accepts) and refuses an
// object declared twice over all files parsed into out. kInvalidArgument
// (kTooLarge for an oversized jwksFile) with the message described above;
// out is unspecified after an error. Test: ApplyDocumentTest.*.
Status ParseApplyFile(std::string_view file_name, std::string_view text, const ReadRelativeFile& read,
                      ApplyDocuments& out);

}  // namespace astis::admin
