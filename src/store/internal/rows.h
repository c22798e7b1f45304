// Row encoding and argument checks shared by the SQLite and PostgreSQL
// backends. Nothing outside src/store includes this header.
//
// A workload's image allowlist is stored as one text column, the digests
// joined by single spaces. Both backends write it with JoinImageDigests and
// read it back with DecodeWorkload, so the check on read below exists once.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/store.h"

namespace astis::store::internal {

// The errors every backend method answers with, worded alike on both
// backends (callers and tests match on the code, operators read the text).
Status NotFound(std::string_view what);
Status Invalid(std::string_view what);

// IdOk: a name or id column (non-empty, at most kMaxIdLength bytes).
bool IdOk(std::string_view s);

// CheckConfigAudit checks AppendConfigAudit's arguments: org is "" or an
// organisation name, actor and action are ids, detail_json a JSON object of
// at most kMaxTextLength bytes.
Status CheckConfigAudit(std::string_view org, std::string_view actor, std::string_view action,
                        std::string_view detail_json);

// JoinImageDigests is the stored form of a workload's image_digests: the
// digests (already checked by ValidateWorkload) joined by single spaces; ""
// for none.
std::string JoinImageDigests(const std::vector<std::string>& digests);

// DecodeWorkload builds a Workload from a stored row: the three name columns
// and the joined image_digests column. Every digest is checked again with
// IsValidImageDigest: a row written or edited outside this code (a manual
// UPDATE, a restored backup) must not widen an allowlist that gate 4
// compares pod images against (docs/protocol.md "Image IDs"). A malformed
// digest is kStoreUnavailable, naming no value (tests
// StoreRowsTest.DecodeWorkloadRefusesBadStoredDigest; the write side is
// StoreConformanceTest.WorkloadRejectsBadDigest).
Result<Workload> DecodeWorkload(std::string org, std::string cluster, std::string namespace_,
                                std::string service_account, std::string_view image_digests);

// ChangeImageDigests applies ChangeWorkloadImages's add/remove to current
// (sorted, duplicates dropped) and checks the result with ValidateWorkload's
// rules: kInvalidArgument for a malformed digest in add or remove, or a list
// over kMaxImageDigests.
Result<std::vector<std::string>> ChangeImageDigests(std::vector<std::string> current,
                                                    std::span<const std::string> add,
                                                    std::span<const std::string> remove);

// ApplyPlan is what ApplyOrgConfig does to one organisation: the changes
// to report (clusters, then workloads, each sorted by name) and the writes
// that make them, in an order that keeps every foreign key satisfied
// (clusters put before workloads, workloads deleted before clusters).
struct ApplyPlan {
  std::vector<ApplyChange> changes;
  std::vector<Cluster> put_clusters;
  std::vector<Workload> put_workloads;
  std::vector<Workload> delete_workloads;
  std::vector<std::string> delete_clusters;
};

// PlanApply compares desired with the organisation's current clusters and
// workloads. Every desired object is validated (ValidateCluster,
// ValidateWorkload) with org set; new clusters get created_at = now,
// existing ones keep theirs. kInvalidArgument, naming the object, for a
// duplicate declaration or a workload whose cluster is neither declared
// nor kept. With prune, current objects not declared are deleted (a
// deleted cluster's undeclared workloads with it). Shared by both
// backends, which run it inside their write transaction (test
// StoreRowsTest.PlanApply*).
Result<ApplyPlan> PlanApply(std::string_view org, const std::vector<Cluster>& current_clusters,
                            const std::vector<Workload>& current_workloads, const OrgConfig& desired, bool prune,
                            int64_t now);

// kApplyAuditChangesPerEntry bounds the changes one config.apply audit
// entry lists (each is under 600 bytes of JSON: kind, a name of at most
// three ids, action), so every entry stays under kMaxTextLength.
inline constexpr size_t kApplyAuditChangesPerEntry = 100;

// ApplyAuditDetails is the detail_json of the config.apply entries for
// changes (the ones that are not "unchanged"): {"prune","part","parts",
// "changes":[{"kind","name","action"}...]}, kApplyAuditChangesPerEntry
// changes each; empty when nothing changed.
std::vector<std::string> ApplyAuditDetails(const std::vector<ApplyChange>& changes, bool prune);

}  // namespace astis::store::internal
