#include "store/internal/rows.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
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
  std::erase_if(current,
                [&](const std::string& d) { return std::find(remove.begin(), remove.end(), d) != remove.end(); });
  if (current.size() > kMaxImageDigests) return Invalid("workload image_digests (too many)");
  return current;
}

namespace {

std::string WorkloadName(const Workload& w) { return w.cluster + "/" + w.namespace_ + "/" + w.service_account; }

bool SameCluster(const Cluster& a, const Cluster& b) {
  return std::tie(a.issuer, a.audience, a.jwks_json, a.api_url, a.ca_file, a.token_file, a.mode) ==
         std::tie(b.issuer, b.audience, b.jwks_json, b.api_url, b.ca_file, b.token_file, b.mode);
}

std::vector<std::string> SortedDigests(std::vector<std::string> d) {
  std::sort(d.begin(), d.end());
  d.erase(std::unique(d.begin(), d.end()), d.end());
  return d;
}

Status InvalidObject(std::string_view kind, std::string_view name, const Status& why) {
  return Error(Code::kInvalidArgument, std::string(kind) + " " + std::string(name) + ": " + why.message());
}

}  // namespace

Result<ApplyPlan> PlanApply(std::string_view org, const std::vector<Cluster>& current_clusters,
                            const std::vector<Workload>& current_workloads, const OrgConfig& desired, bool prune,
                            int64_t now) {
  std::map<std::string, const Cluster*> have_clusters;
  for (const Cluster& c : current_clusters) have_clusters[c.name] = &c;
  std::map<std::string, const Workload*> have_workloads;
  for (const Workload& w : current_workloads) have_workloads[WorkloadName(w)] = &w;

  ApplyPlan plan;
  std::map<std::string, Cluster> want_clusters;
  for (Cluster c : desired.clusters) {
    c.org = std::string(org);
    auto have = have_clusters.find(c.name);
    c.created_at = have != have_clusters.end() ? have->second->created_at : now;
    if (Status st = ValidateCluster(c); !st.ok()) return InvalidObject("Cluster", c.name, st);
    const std::string name = c.name;
    if (!want_clusters.emplace(name, std::move(c)).second) {
      return Error(Code::kInvalidArgument, "Cluster " + name + ": declared twice");
    }
  }
  std::map<std::string, Workload> want_workloads;
  for (Workload w : desired.workloads) {
    w.org = std::string(org);
    w.image_digests = SortedDigests(std::move(w.image_digests));
    const std::string name = WorkloadName(w);
    if (Status st = ValidateWorkload(w); !st.ok()) return InvalidObject("Workload", name, st);
    const bool cluster_kept = want_clusters.count(w.cluster) > 0 || (!prune && have_clusters.count(w.cluster) > 0);
    if (!cluster_kept) {
      return Error(Code::kInvalidArgument, "Workload " + name + ": cluster " + w.cluster +
                                               " is neither declared nor registered" + (prune ? " (--prune)" : ""));
    }
    if (!want_workloads.emplace(name, std::move(w)).second) {
      return Error(Code::kInvalidArgument, "Workload " + name + ": declared twice");
    }
  }

  for (auto& [name, c] : want_clusters) {
    auto have = have_clusters.find(name);
    if (have == have_clusters.end()) {
      plan.changes.push_back(ApplyChange{"Cluster", name, "created"});
      plan.put_clusters.push_back(c);
    } else if (!SameCluster(*have->second, c)) {
      plan.changes.push_back(ApplyChange{"Cluster", name, "updated"});
      plan.put_clusters.push_back(c);
    } else {
      plan.changes.push_back(ApplyChange{"Cluster", name, "unchanged"});
    }
  }
  if (prune) {
    for (const auto& [name, c] : have_clusters) {
      if (want_clusters.count(name) > 0) continue;
      plan.changes.push_back(ApplyChange{"Cluster", name, "deleted"});
      plan.delete_clusters.push_back(name);
    }
  }
  for (auto& [name, w] : want_workloads) {
    auto have = have_workloads.find(name);
    if (have == have_workloads.end()) {
      plan.changes.push_back(ApplyChange{"Workload", name, "created"});
      plan.put_workloads.push_back(w);
    } else if (SortedDigests(have->second->image_digests) != w.image_digests) {
      plan.changes.push_back(ApplyChange{"Workload", name, "updated"});
      plan.put_workloads.push_back(w);
    } else {
      plan.changes.push_back(ApplyChange{"Workload", name, "unchanged"});
    }
  }
  if (prune) {
    for (const auto& [name, w] : have_workloads) {
      if (want_workloads.count(name) > 0) continue;
      plan.changes.push_back(ApplyChange{"Workload", name, "deleted"});
      plan.delete_workloads.push_back(*w);
    }
  }
  // Reported in a stable order: clusters then workloads, each by name.
  std::stable_sort(plan.changes.begin(), plan.changes.end(), [](const ApplyChange& a, const ApplyChange& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  });
  return plan;
}

std::vector<std::string> ApplyAuditDetails(const std::vector<ApplyChange>& changes, bool prune) {
  std::vector<const ApplyChange*> changed;
  for (const ApplyChange& c : changes) {
    if (c.action != "unchanged") changed.push_back(&c);
  }
  std::vector<std::string> out;
  const size_t parts = (changed.size() + kApplyAuditChangesPerEntry - 1) / kApplyAuditChangesPerEntry;
  for (size_t part = 0; part < parts; ++part) {
    Json list = Json::array();
    const size_t end = std::min(changed.size(), (part + 1) * kApplyAuditChangesPerEntry);
    for (size_t i = part * kApplyAuditChangesPerEntry; i < end; ++i) {
      list.push_back(Json{{"kind", changed[i]->kind}, {"name", changed[i]->name}, {"action", changed[i]->action}});
    }
    out.push_back(DumpJson(Json{{"prune", prune},
                                {"part", static_cast<int64_t>(part + 1)},
                                {"parts", static_cast<int64_t>(parts)},
                                {"changes", std::move(list)}}));
  }
  return out;
}

}  // namespace astis::store::internal
