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

}  // namespace astis::store::internal
