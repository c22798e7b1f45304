// FaultInjectingStore: a Store decorator for tests of fail-closed behaviour.
//
// While failing, every call returns kStoreUnavailable without reaching the
// wrapped store; once switched back, calls pass through again, so a test can
// show that the edge refuses requests during a store outage and recovers
// after it. Test support only: linked by tests, never by a server binary.
#pragma once

#include <atomic>
#include <cstdint>

#include "store/store.h"

namespace astis::store {

// FaultInjectingStore wraps `inner`, which it does not own and which must
// outlive it. Thread-safe: SetFailing may be called while other threads use
// the store.
class FaultInjectingStore final : public Store {
 public:
  explicit FaultInjectingStore(Store& inner) : inner_(inner) {}

  // SetFailing switches every subsequent call to fail (true) or pass through
  // (false).
  void SetFailing(bool failing) { failing_.store(failing); }
  bool failing() const { return failing_.load(); }
  // failed_calls counts calls refused while failing.
  int64_t failed_calls() const { return failed_calls_.load(); }

  Status PutOrganization(const Organization& o) override;
  Result<Organization> GetOrganization(std::string_view name) override;
  Result<std::vector<Organization>> ListOrganizations() override;
  Status DeleteOrganization(std::string_view name, bool force) override;
  Status PutCluster(const Cluster& c) override;
  Status InsertCluster(const Cluster& c) override;
  Result<Cluster> GetCluster(std::string_view org, std::string_view name) override;
  Result<std::vector<Cluster>> ListClusters(std::optional<std::string_view> org) override;
  Result<std::vector<Cluster>> ListClustersByIssuer(std::string_view org, std::string_view issuer) override;
  Status DeleteCluster(std::string_view org, std::string_view name) override;
  Status PutWorkload(const Workload& w) override;
  Result<Workload> GetWorkload(std::string_view org, std::string_view cluster, std::string_view ns,
                               std::string_view sa) override;
  Result<std::vector<Workload>> ListWorkloads(std::optional<std::string_view> org,
                                              std::optional<std::string_view> cluster) override;
  Status DeleteWorkload(std::string_view org, std::string_view cluster, std::string_view ns,
                        std::string_view sa) override;
  Result<Workload> ChangeWorkloadImages(std::string_view org, std::string_view cluster, std::string_view ns,
                                        std::string_view sa, std::span<const std::string> add,
                                        std::span<const std::string> remove) override;
  Result<std::vector<ApplyChange>> ApplyOrgConfig(std::string_view org, const OrgConfig& desired, bool prune,
                                                  bool dry_run, int64_t now) override;
  Status CreateApiKey(const ApiKey& k) override;
  Result<ApiKey> GetApiKey(std::string_view id) override;
  Result<std::vector<ApiKey>> ListApiKeys(std::optional<std::string_view> org) override;
  Status RevokeApiKey(std::string_view id, int64_t now) override;
  Result<EnrollResult> EnrollSession(const Session& candidate, int64_t now) override;
  Result<bool> ReleasePinIfRestarted(std::string_view org, std::string_view cluster, std::string_view pod_uid,
                                     std::string_view expected_session_id, int64_t observed_restarts,
                                     int64_t now) override;
  Result<Session> GetSession(std::string_view id) override;
  Result<Session> RotateSessionKey(std::string_view id, std::string_view expected_old_jkt, std::string_view new_jkt,
                                   std::string_view new_recipient_jwk, int64_t now) override;
  Status EndSession(std::string_view id) override;
  Result<int64_t> RevokeSessionsForPod(const PodRef& pod) override;
  Result<std::vector<Session>> ListSessions(const SessionFilter& filter) override;
  Result<int64_t> CountActiveSessions(int64_t now) override;
  Result<bool> InsertJti(std::string_view jkt, std::string_view jti, int64_t expires_at, int64_t now) override;
  Result<SecretBytes> GetOrCreateNonceSecret(SecretBytes candidate, int64_t now) override;
  Result<NonceSecrets> GetNonceSecrets() override;
  Status RotateNonceSecret(SecretBytes next, int64_t now) override;
  Result<Admission> AdmitRequest(std::span<const RateCharge> charges, const JtiUse& jti, int64_t now) override;
  Result<bool> ConsumeRate(std::string_view bucket_key, int64_t window_start, int64_t window_end,
                           int64_t limit) override;
  Result<int64_t> AppendConfigAudit(std::string_view org, std::string_view actor, std::string_view action,
                                    std::string_view detail_json, int64_t now) override;
  Result<std::vector<ConfigAuditEntry>> ListConfigAudit(std::optional<std::string_view> org, int64_t after_seq,
                                                        int64_t limit) override;
  Result<PurgeCounts> PurgeExpired(int64_t now, int64_t batch_limit) override;

 private:
  // Refusal returns the injected error when failing, OK otherwise.
  Status Refusal();

  Store& inner_;
  std::atomic<bool> failing_{false};
  std::atomic<int64_t> failed_calls_{0};
};

}  // namespace astis::store
