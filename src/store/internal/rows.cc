#include "store/internal/rows.h"

#include <string>
#include <utility>

#include "common/json.h"

namespace astis::store::internal {

Status NotFound(std::string_view what) { return Error(Code::kNotFound, "store: " + std::string(what) + " not found"); }

Status Invalid(std::string_view what) { return Error(Code::kInvalidArgument, "store: invalid " + std::string(what)); }

bool IdOk(std::string_view s) { return !s.empty() && s.size() <= kMaxIdLength; }

Status CheckConfigAudit(std::string_view actor, std::string_view action, std::string_view detail_json) {
  if (!IdOk(actor)) return Invalid("audit actor");
  if (!IdOk(action)) return Invalid("audit action");
  if (detail_json.size() > kMaxTextLength || !ParseJsonObject(detail_json).ok()) return Invalid("audit detail_json");
  return Status::Ok();
}

std::string JoinImageDigests(const std::vector<std::string>& digests) {
  std::string out;
  for (const std::string& d : digests) {
    if (!out.empty()) out += ' ';
    out += d;
  }
  return out;
}

Result<Workload> DecodeWorkload(std::string cluster, std::string namespace_, std::string service_account,
                                std::string_view image_digests) {
  Workload w;
  w.cluster = std::move(cluster);
  w.namespace_ = std::move(namespace_);
  w.service_account = std::move(service_account);
  size_t pos = 0;
  while (pos < image_digests.size()) {
    size_t end = image_digests.find(' ', pos);
    if (end == std::string_view::npos) end = image_digests.size();
    w.image_digests.emplace_back(image_digests.substr(pos, end - pos));
    pos = end + 1;
  }
  // Re-validate on read: a row edited outside this code must not widen an
  // allowlist (test StoreConformanceTest.WorkloadRejectsBadDigest covers the
  // write side, StoreRowsTest.DecodeWorkloadRefusesBadStoredDigest this one).
  for (const std::string& d : w.image_digests) {
    if (!IsValidImageDigest(d)) return Error(Code::kStoreUnavailable, "store: read workload: malformed stored digest");
  }
  return w;
}

}  // namespace astis::store::internal
