#include "store/internal/rows.h"

#include <algorithm>
#include <string>
#include <utility>

#include "common/dns1123.h"
#include "common/json.h"

namespace astis::store::internal {

Status NotFound(std::string_view what) { return Error(Code::kNotFound, "store: " + std::string(what) + " not found"); }

Status Invalid(std::string_view what) { return Error(Code::kInvalidArgument, "store: invalid " + std::string(what)); }

bool IdOk(std::string_view s) { return !s.empty() && s.size() <= kMaxIdLength; }

Status CheckConfigAudit(std::string_view org, std::string_view actor, std::string_view action,
                        std::string_view detail_json) {
  if (!org.empty() && !IsDns1123Label(org)) return Invalid("audit organization");
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

Result<Workload> DecodeWorkload(std::string org, std::string cluster, std::string namespace_,
                                std::string service_account, std::string_view image_digests) {
  Workload w;
  w.org = std::move(org);
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

Result<std::vector<std::string>> ChangeImageDigests(std::vector<std::string> current,
                                                    std::span<const std::string> add,
                                                    std::span<const std::string> remove) {
  for (const std::string& d : add) {
    if (!IsValidImageDigest(d)) return Invalid("workload image digest (want sha256:<64 lower-case hex>)");
  }
  for (const std::string& d : remove) {
    if (!IsValidImageDigest(d)) return Invalid("workload image digest (want sha256:<64 lower-case hex>)");
  }
  current.insert(current.end(), add.begin(), add.end());
  std::sort(current.begin(), current.end());
  current.erase(std::unique(current.begin(), current.end()), current.end());
  std::erase_if(current, [&](const std::string& d) { return std::find(remove.begin(), remove.end(), d) != remove.end(); });
  if (current.size() > kMaxImageDigests) return Invalid("workload image_digests (too many)");
  return current;
}

}  // namespace astis::store::internal
