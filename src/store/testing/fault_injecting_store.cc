#include "store/testing/fault_injecting_store.h"

#include <utility>

namespace astis::store {

Status FaultInjectingStore::Refusal() {
  if (!failing_.load()) return OkStatus();
  failed_calls_.fetch_add(1);
  return Error(Code::kStoreUnavailable, "store: injected fault");
}

// Each method: refuse while failing, else delegate.
#define ASTIS_FAULT_OR(call)               \
  do {                                     \
    ASTIS_RETURN_IF_ERROR(Refusal());      \
    return inner_.call;                    \
  } while (0)

Status FaultInjectingStore::PutCluster(const Cluster& c) { ASTIS_FAULT_OR(PutCluster(c)); }
Status FaultInjectingStore::InsertCluster(const Cluster& c) { ASTIS_FAULT_OR(InsertCluster(c)); }
Status FaultInjectingStore::PutOrganization(const Organization& o) { ASTIS_FAULT_OR(PutOrganization(o)); }
Result<Organization> FaultInjectingStore::GetOrganization(std::string_view name) {
  ASTIS_FAULT_OR(GetOrganization(name));
}
Result<std::vector<Organization>> FaultInjectingStore::ListOrganizations() { ASTIS_FAULT_OR(ListOrganizations()); }
Status FaultInjectingStore::DeleteOrganization(std::string_view name, bool force) {
  ASTIS_FAULT_OR(DeleteOrganization(name, force));
}
Result<Cluster> FaultInjectingStore::GetCluster(std::string_view org, std::string_view name) {
  ASTIS_FAULT_OR(GetCluster(org, name));
}
Result<std::vector<Cluster>> FaultInjectingStore::ListClusters(std::optional<std::string_view> org) {
  ASTIS_FAULT_OR(ListClusters(org));
}
Result<std::vector<Cluster>> FaultInjectingStore::ListClustersByIssuer(std::string_view org, std::string_view issuer) {
  ASTIS_FAULT_OR(ListClustersByIssuer(org, issuer));
}
Status FaultInjectingStore::DeleteCluster(std::string_view org, std::string_view name) {
  ASTIS_FAULT_OR(DeleteCluster(org, name));
}
Status FaultInjectingStore::PutWorkload(const Workload& w) { ASTIS_FAULT_OR(PutWorkload(w)); }
Result<Workload> FaultInjectingStore::GetWorkload(std::string_view org, std::string_view cluster, std::string_view ns,
                                                  std::string_view sa) {
  ASTIS_FAULT_OR(GetWorkload(org, cluster, ns, sa));
}
Result<std::vector<Workload>> FaultInjectingStore::ListWorkloads(std::optional<std::string_view> org,
                                                                 std::optional<std::string_view> cluster) {
  ASTIS_FAULT_OR(ListWorkloads(org, cluster));
}
Status FaultInjectingStore::DeleteWorkload(std::string_view org, std::string_view cluster, std::string_view ns,
                                           std::string_view sa) {
  ASTIS_FAULT_OR(DeleteWorkload(org, cluster, ns, sa));
}
Result<Workload> FaultInjectingStore::ChangeWorkloadImages(std::string_view org, std::string_view cluster,
                                                           std::string_view ns, std::string_view sa,
                                                           std::span<const std::string> add,
                                                           std::span<const std::string> remove) {
  ASTIS_FAULT_OR(ChangeWorkloadImages(org, cluster, ns, sa, add, remove));
}
Result<std::vector<ApplyChange>> FaultInjectingStore::ApplyOrgConfig(std::string_view org, const OrgConfig& desired,
                                                                     bool prune, bool dry_run, int64_t now) {
  ASTIS_FAULT_OR(ApplyOrgConfig(org, desired, prune, dry_run, now));
}
Status FaultInjectingStore::CreateApiKey(const ApiKey& k) { ASTIS_FAULT_OR(CreateApiKey(k)); }
Result<ApiKey> FaultInjectingStore::GetApiKey(std::string_view id) { ASTIS_FAULT_OR(GetApiKey(id)); }
Result<std::vector<ApiKey>> FaultInjectingStore::ListApiKeys(std::optional<std::string_view> org) {
  ASTIS_FAULT_OR(ListApiKeys(org));
}
Status FaultInjectingStore::RevokeApiKey(std::string_view id, int64_t now) { ASTIS_FAULT_OR(RevokeApiKey(id, now)); }
Result<EnrollResult> FaultInjectingStore::EnrollSession(const Session& candidate, int64_t now) {
  ASTIS_FAULT_OR(EnrollSession(candidate, now));
}
Result<bool> FaultInjectingStore::ReleasePinIfRestarted(std::string_view org, std::string_view cluster,
                                                        std::string_view pod_uid,
                                                        std::string_view expected_session_id,
                                                        int64_t observed_restarts, int64_t now) {
  ASTIS_FAULT_OR(ReleasePinIfRestarted(org, cluster, pod_uid, expected_session_id, observed_restarts, now));
}
Result<Session> FaultInjectingStore::GetSession(std::string_view id) { ASTIS_FAULT_OR(GetSession(id)); }
Result<Session> FaultInjectingStore::RotateSessionKey(std::string_view id, std::string_view expected_old_jkt,
                                                      std::string_view new_jkt, std::string_view new_recipient_jwk,
                                                      int64_t now) {
  ASTIS_FAULT_OR(RotateSessionKey(id, expected_old_jkt, new_jkt, new_recipient_jwk, now));
}
Status FaultInjectingStore::EndSession(std::string_view id) { ASTIS_FAULT_OR(EndSession(id)); }
Result<int64_t> FaultInjectingStore::RevokeSessionsForPod(const PodRef& pod) {
  ASTIS_FAULT_OR(RevokeSessionsForPod(pod));
}
Result<std::vector<Session>> FaultInjectingStore::ListSessions(const SessionFilter& filter) {
  ASTIS_FAULT_OR(ListSessions(filter));
}
Result<int64_t> FaultInjectingStore::CountActiveSessions(int64_t now) { ASTIS_FAULT_OR(CountActiveSessions(now)); }
Result<bool> FaultInjectingStore::InsertJti(std::string_view jkt, std::string_view jti, int64_t expires_at,
                                            int64_t now) {
  ASTIS_FAULT_OR(InsertJti(jkt, jti, expires_at, now));
}
Result<SecretBytes> FaultInjectingStore::GetOrCreateNonceSecret(SecretBytes candidate, int64_t now) {
  ASTIS_FAULT_OR(GetOrCreateNonceSecret(std::move(candidate), now));
}
Result<NonceSecrets> FaultInjectingStore::GetNonceSecrets() { ASTIS_FAULT_OR(GetNonceSecrets()); }
Status FaultInjectingStore::RotateNonceSecret(SecretBytes next, int64_t now) {
  ASTIS_FAULT_OR(RotateNonceSecret(std::move(next), now));
}
Result<bool> FaultInjectingStore::ConsumeRate(std::string_view bucket_key, int64_t window_start, int64_t window_end,
                                              int64_t limit) {
  ASTIS_FAULT_OR(ConsumeRate(bucket_key, window_start, window_end, limit));
}
Result<Admission> FaultInjectingStore::AdmitRequest(std::span<const RateCharge> charges, const JtiUse& jti,
                                                    int64_t now) {
  ASTIS_FAULT_OR(AdmitRequest(charges, jti, now));
}
Result<int64_t> FaultInjectingStore::AppendConfigAudit(std::string_view org, std::string_view actor,
                                                       std::string_view action, std::string_view detail_json,
                                                       int64_t now) {
  ASTIS_FAULT_OR(AppendConfigAudit(org, actor, action, detail_json, now));
}
Result<std::vector<ConfigAuditEntry>> FaultInjectingStore::ListConfigAudit(std::optional<std::string_view> org,
                                                                           int64_t after_seq, int64_t limit) {
  ASTIS_FAULT_OR(ListConfigAudit(org, after_seq, limit));
}
Result<PurgeCounts> FaultInjectingStore::PurgeExpired(int64_t now, int64_t batch_limit) {
  ASTIS_FAULT_OR(PurgeExpired(now, batch_limit));
}

#undef ASTIS_FAULT_OR

}  // namespace astis::store
