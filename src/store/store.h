// astis::store — the edge's state (docs/store.md; docs/protocol.md §4–6).
//
// Store is the one interface the edge and the CLI decide from: registered
// clusters and workloads, API key hashes, sessions and their per-pod pins,
// the DPoP jti replay set, the shared DPoP nonce secret, rate-limit counters
// and the audit of configuration changes. Backends (SQLite now, PostgreSQL
// later) must pass the same conformance suite (store_conformance.h), so every
// guarantee below is stated in terms any transactional SQL database gives.
// docs/store.md describes the schema and how each guarantee is achieved.
//
// Conventions for every method:
// - Thread-safe: one Store may be shared by any number of threads, and any
//   number of Store objects (threads, processes, edge replicas) may use one
//   database at once.
// - Time is always passed in (`now`, Unix seconds); a store never reads a
//   clock, so tests are hermetic.
// - A backend or I/O failure (database locked beyond its timeout, disk full,
//   unreadable or corrupt file, lost connection) is Code::kStoreUnavailable;
//   its message names the operation and never contains secret material or
//   caller-supplied values beyond identifiers.
// - Bad arguments are kInvalidArgument and change nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/image_digest.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace astis::store {

// kDefaultOrg is the organisation every store starts with, and the one a
// single-organisation store (schema version 3 and older) upgrades into
// (docs/tenancy.md "Migration").
inline constexpr std::string_view kDefaultOrg = "default";

// Organization is one tenant (docs/tenancy.md). It owns its clusters,
// workloads, API keys, sessions, rate limits and audit trail; names of those
// are unique within it only. tier "standard" (Tier 1): the ASTIS CVS holds
// its org keys. tier "hyok" (Tier 2): its own CVS at cvs_url holds them, and
// the edge reaches it over mutual TLS, trusting cvs_ca_pem (a CA bundle, so
// a renewed certificate is no outage) for the name cvs_identity, and, when
// cvs_spki_sha256 is set, only a server key with that SPKI SHA-256 (64 hex).
struct Organization {
  std::string name;
  std::string tier = "standard";  // "standard" | "hyok"
  std::string cvs_url;            // hyok only: https://host[:port]
  std::string cvs_ca_pem;         // hyok only: PEM CA bundle (text)
  std::string cvs_identity;       // hyok only: DNS name or IP the CVS certificate must carry
  std::string cvs_spki_sha256;    // hyok, optional: hex SHA-256 of the CVS key's SubjectPublicKeyInfo
  int64_t created_at = 0;
};

// Cluster is one registered cluster: gate 2's trust anchor and gate 4's API.
struct Cluster {
  std::string name;
  std::string issuer;
  std::string audience = "astis";
  std::string jwks_json;  // the pinned JWKS, as JSON text
  std::string api_url;
  std::string ca_file;
  std::string token_file;
  std::string mode = "strict";  // "strict" | "audit" (docs/protocol.md §6.4)
  int64_t created_at = 0;
  // org owns the object (docs/tenancy.md). It is the last member so that
  // positional initialisers written before organisations keep their meaning.
  std::string org = std::string(kDefaultOrg);
};

// Workload is one approved (cluster, namespace, ServiceAccount) with its
// image allowlist; image_digests are "sha256:" + 64 lower-case hex digits.
struct Workload {
  std::string cluster;
  std::string namespace_;
  std::string service_account;
  std::vector<std::string> image_digests;
  // org owns the object (docs/tenancy.md). It is the last member so that
  // positional initialisers written before organisations keep their meaning.
  std::string org = std::string(kDefaultOrg);
};

// RateCharge is one rate-limit bucket a request is counted against: a fixed
// window [window_start, window_end) allowing at most `limit` requests.
struct RateCharge {
  std::string bucket_key;
  int64_t window_start = 0;
  int64_t window_end = 0;
  int64_t limit = 0;
};

// JtiUse is one presented DPoP proof identifier, kept until expires_at
// (docs/protocol.md §5 jti; RFC 9449 §11.1). jti may be a hash of the jti.
struct JtiUse {
  std::string_view jkt;
  std::string_view jti;
  int64_t expires_at = 0;
};

// Admission is the outcome of Store::AdmitRequest.
struct Admission {
  enum class Outcome : uint8_t {
    kAdmitted,     // every bucket below its limit, jti fresh
    kRateLimited,  // charges[limited] was already at its limit
    kReplay,       // the (jkt, jti) pair is recorded and unexpired
  };
  Outcome outcome = Outcome::kAdmitted;
  size_t limited = 0;  // index of the first bucket over its limit (kRateLimited)
};

// kMaxRateCharges bounds the buckets one AdmitRequest may charge.
inline constexpr size_t kMaxRateCharges = 4;

// ApiKey is the stored half of a bound API key (docs/protocol.md §6.1). The store
// holds only the 32-byte hash of the secret part, never the secret.
struct ApiKey {
  std::string id;  // unique across organisations: gate 1 finds the key, then its org
  std::vector<uint8_t> hash;  // exactly 32 bytes
  std::string cluster;
  std::string namespace_;
  std::string service_account;
  int64_t created_at = 0;
  int64_t expires_at = 0;  // 0 = never
  int64_t revoked_at = 0;  // 0 = not revoked
  // org owns the object (docs/tenancy.md). It is the last member so that
  // positional initialisers written before organisations keep their meaning.
  std::string org = std::string(kDefaultOrg);
};

// Session is one release session (docs/protocol.md §4.1) and its pin: the DPoP
// key thumbprint (jkt) and the pod's public X25519 recipient JWK.
struct Session {
  std::string id;  // unique across organisations
  std::string cluster;
  std::string namespace_;
  std::string service_account;
  std::string pod_name;
  std::string pod_uid;
  std::string jkt;
  std::string recipient_jwk;  // public JWK text; never a private key
  int64_t created_at = 0;
  int64_t expires_at = 0;
  bool revoked = false;
  // pod_restarts is the pod's restart fingerprint (kube::PodRestarts) as
  // gate 4 read it when the pin was taken or last renewed; 0 for sessions
  // stored before it was recorded. ReleasePinIfRestarted compares with it.
  int64_t pod_restarts = 0;
  // org owns the object (docs/tenancy.md). It is the last member so that
  // positional initialisers written before organisations keep their meaning.
  std::string org = std::string(kDefaultOrg);

  // IsActive reports whether the session still pins its pod at `now`.
  bool IsActive(int64_t now) const { return !revoked && now < expires_at; }
};

// OrgConfig is one organisation's desired clusters and workloads, as
// declared by `astis apply` (docs/admin.md "Declarative configuration").
// The org members of its elements are ignored: ApplyOrgConfig's org applies.
struct OrgConfig {
  std::vector<Cluster> clusters;
  std::vector<Workload> workloads;
  // audit_actor, when set, makes ApplyOrgConfig record what it changed as
  // "config.apply" entries of org's configuration audit in the apply's own
  // transaction (so a change is never committed unrecorded), split into
  // parts that each stay under kMaxTextLength
  // (test ApplyOrgConfigAuditsInItsTransaction).
  std::string audit_actor;
};

// ApplyChange is one object ApplyOrgConfig created, updated, left unchanged
// or deleted. kind is "Cluster" or "Workload"; name is the cluster's name or
// "cluster/namespace/serviceAccount"; action is "created", "updated",
// "unchanged" or "deleted".
struct ApplyChange {
  std::string kind;
  std::string name;
  std::string action;
  bool operator==(const ApplyChange&) const = default;
};

// EnrollOutcome says what EnrollSession did.
enum class EnrollOutcome : uint8_t {
  kCreated,         // no active session for the pod: the candidate was stored
  kExtended,        // an active session with the same jkt: expiry and recipient updated
  kPinnedConflict,  // an active session with another jkt: nothing changed
};

// EnrollResult is the outcome plus the session as now stored (for
// kPinnedConflict: the existing session that holds the pin).
struct EnrollResult {
  EnrollOutcome outcome = EnrollOutcome::kCreated;
  Session session;
};

// SessionFilter narrows ListSessions; an empty field matches everything.
struct SessionFilter {
  std::string cluster;
  std::string namespace_;
  std::string pod_uid;
  std::string pod_name;
  std::optional<int64_t> active_at;  // when set, only sessions active then
  std::string org;                   // empty: every organisation (operators, metrics)
};

// PodRef names the pod whose sessions RevokeSessionsForPod ends; pod_uid is
// used when non-empty, otherwise pod_name (one of them must be set).
struct PodRef {
  std::string cluster;
  std::string namespace_;
  std::string pod_name;
  std::string pod_uid;
  // org owns the object (docs/tenancy.md). It is the last member so that
  // positional initialisers written before organisations keep their meaning.
  std::string org = std::string(kDefaultOrg);
};

// NonceSecrets is the shared DPoP nonce secret and, after a rotation, the one
// it replaced (still accepted for nonces minted before the rotation).
struct NonceSecrets {
  SecretBytes current;
  std::optional<SecretBytes> previous;
};

// ConfigAuditEntry is one recorded configuration change.
struct ConfigAuditEntry {
  int64_t seq = 0;  // strictly increasing (across organisations)
  int64_t at = 0;
  std::string actor;
  std::string action;
  std::string detail_json;
  std::string org;  // the organisation changed; "" for service-wide entries
};

// PurgeCounts is how many rows one PurgeExpired call deleted, per kind.
struct PurgeCounts {
  int64_t sessions = 0;
  int64_t jtis = 0;
  int64_t rate_windows = 0;
  int64_t total() const { return sessions + jtis + rate_windows; }
};

// kMaxImageDigests bounds one workload's allowlist.
inline constexpr size_t kMaxImageDigests = 1024;

// kMaxIdLength, kMaxJtiLength and kMaxTextLength bound caller-supplied
// values (bytes); longer ones are kInvalidArgument, so no caller can grow rows
// without bound. kNonceSecretMinBytes/kNonceSecretMaxBytes bound the nonce
// secret.
inline constexpr size_t kMaxIdLength = 253;
inline constexpr size_t kMaxJtiLength = 256;
inline constexpr size_t kMaxTextLength = 64 * 1024;
inline constexpr size_t kNonceSecretMinBytes = 32;
inline constexpr size_t kNonceSecretMaxBytes = 64;

// Store is the abstract state store. See the conventions at the top of this
// file; each method adds only its own errors.
class Store {
 public:
  virtual ~Store() = default;

  // ---- organisations (docs/tenancy.md)
  // Every object below belongs to one organisation, and every lookup by name
  // happens inside one: the same cluster, namespace and ServiceAccount names
  // in two organisations are two unrelated objects (test
  // OrganizationsIsolateObjectsWithTheSameNames). Writes that name an
  // organisation that does not exist are kNotFound ("organization") and
  // change nothing (test ObjectsNeedTheirOrganization).
  //
  // PutOrganization inserts or replaces org (created_at keeps its first
  // value). kInvalidArgument for a name that is not a DNS-1123 label, a tier
  // other than "standard"/"hyok", a hyok org without cvs_url, cvs_ca_pem and
  // cvs_identity, a standard org with any CVS field, or a cvs_spki_sha256
  // that is not 64 lower-case hex digits (test OrganizationValidation).
  virtual Status PutOrganization(const Organization& org) = 0;
  // GetOrganization returns the organisation; kNotFound when absent.
  virtual Result<Organization> GetOrganization(std::string_view name) = 0;
  // ListOrganizations returns every organisation ordered by name.
  virtual Result<std::vector<Organization>> ListOrganizations() = 0;
  // DeleteOrganization removes the organisation. While it still has
  // clusters or API keys, kFailedPrecondition unless force; with force it
  // first deletes its clusters (and their workloads), API keys and sessions
  // in the same transaction (test DeleteOrganizationRefusedWhileInUse). Its
  // configuration audit entries stay. kNotFound when absent.
  virtual Status DeleteOrganization(std::string_view name, bool force) = 0;

  // ---- clusters
  // PutCluster inserts or replaces the cluster named cluster.name.
  // kInvalidArgument for an empty name/issuer/audience/jwks or a mode other
  // than "strict"/"audit" (test ClusterRejectsBadMode).
  virtual Status PutCluster(const Cluster& cluster) = 0;
  // InsertCluster is PutCluster that never replaces: kAlreadyExists when the
  // organisation has a cluster by that name, checked and written in one
  // transaction, so two admins adding the same name cannot both succeed
  // (`astis cluster add` without --replace; test
  // InsertClusterRefusesAnExistingName).
  virtual Status InsertCluster(const Cluster& cluster) = 0;
  // GetCluster returns org's cluster; kNotFound when org has none by that
  // name.
  virtual Result<Cluster> GetCluster(std::string_view org, std::string_view name) = 0;
  // ListClusters returns org's clusters ordered by name; with no org, every
  // organisation's, ordered by (org, name).
  virtual Result<std::vector<Cluster>> ListClusters(std::optional<std::string_view> org) = 0;
  // ListClustersByIssuer returns org's clusters whose issuer equals issuer,
  // ordered by name (normally zero or one; more than one is a configuration
  // error the caller refuses). Uses an index, so its cost does not grow with
  // the number of registered clusters (test ListClustersByIssuerFindsOnlyThatIssuer).
  // issuer is typically a token's still unverified `iss`: one PutCluster
  // would refuse (empty, longer than kMaxTextLength; on PostgreSQL also a
  // NUL byte or invalid UTF-8) matches nothing and gives an empty list, never
  // kInvalidArgument (test ListClustersByIssuerOddIssuerIsEmpty).
  virtual Result<std::vector<Cluster>> ListClustersByIssuer(std::string_view org, std::string_view issuer) = 0;
  // DeleteCluster removes the cluster and its workloads; kNotFound when absent.
  virtual Status DeleteCluster(std::string_view org, std::string_view name) = 0;

  // ---- workloads
  // PutWorkload inserts or replaces a workload. kInvalidArgument for an
  // empty name field or any digest that is not "sha256:" + 64 lower-case hex
  // (test WorkloadRejectsBadDigest); kNotFound when the cluster is not
  // registered in the workload's organisation (test WorkloadNeedsCluster).
  virtual Status PutWorkload(const Workload& workload) = 0;
  // GetWorkload returns one workload; kNotFound when absent.
  virtual Result<Workload> GetWorkload(std::string_view org, std::string_view cluster, std::string_view namespace_,
                                       std::string_view service_account) = 0;
  // ListWorkloads returns org's workloads (of one of its clusters when
  // given), ordered; with no org, every organisation's (cluster ignored).
  virtual Result<std::vector<Workload>> ListWorkloads(std::optional<std::string_view> org,
                                                      std::optional<std::string_view> cluster) = 0;
  // DeleteWorkload removes one workload; kNotFound when absent.
  virtual Status DeleteWorkload(std::string_view org, std::string_view cluster, std::string_view namespace_,
                                std::string_view service_account) = 0;
  // ChangeWorkloadImages adds `add` to and removes `remove` from one
  // workload's allowlist in one transaction and returns the workload as
  // stored (sorted, no duplicates). Adding a digest already listed or
  // removing one not listed changes nothing for that digest. kNotFound when
  // the workload is absent; kInvalidArgument for a malformed digest or a
  // result over the allowlist bound (test ChangeWorkloadImagesAddsAndRemoves).
  virtual Result<Workload> ChangeWorkloadImages(std::string_view org, std::string_view cluster,
                                                std::string_view namespace_, std::string_view service_account,
                                                std::span<const std::string> add,
                                                std::span<const std::string> remove) = 0;

  // ApplyOrgConfig makes org's clusters and workloads what desired declares,
  // in one transaction, and returns what changed (internal::PlanApply's
  // order: clusters, then workloads, each by name). Declared objects are
  // created or updated (a cluster keeps its created_at); with prune,
  // undeclared ones of org are deleted, and no other organisation's. With
  // dry_run nothing is written (`astis diff`). kInvalidArgument naming the
  // object for an invalid or duplicated declaration or a workload whose
  // cluster is neither declared nor kept, and then nothing is written;
  // kNotFound when org does not exist (tests ApplyOrgConfigIsIdempotent,
  // ApplyOrgConfigPrunesOnlyItsOrganization, ApplyOrgConfigAllOrNothing).
  virtual Result<std::vector<ApplyChange>> ApplyOrgConfig(std::string_view org, const OrgConfig& desired, bool prune,
                                                          bool dry_run, int64_t now) = 0;

  // ---- API keys
  // CreateApiKey stores a new key record. kAlreadyExists when the id is taken
  // (test ApiKeyDuplicateIdRefused); kInvalidArgument when the hash is not 32
  // bytes or a name field is empty; kNotFound when key.org does not exist.
  // Ids are unique across organisations.
  virtual Status CreateApiKey(const ApiKey& key) = 0;
  // GetApiKey returns the record (revoked or not) of any organisation: gate
  // 1 learns the organisation from it. kNotFound when absent.
  virtual Result<ApiKey> GetApiKey(std::string_view id) = 0;
  // ListApiKeys returns org's records ordered by id; with no org, every
  // organisation's.
  virtual Result<std::vector<ApiKey>> ListApiKeys(std::optional<std::string_view> org) = 0;
  // RevokeApiKey sets revoked_at = now if not already revoked (a second call
  // keeps the first time); kNotFound when absent (test ApiKeyRevoke).
  virtual Status RevokeApiKey(std::string_view id, int64_t now) = 0;

  // ---- sessions and pins (docs/protocol.md §4.1, §4.3, §4.4)
  // EnrollSession atomically applies the per-pod pin rule to `candidate`
  // (scoped by org + cluster + pod_uid): an active session with another jkt ->
  // kPinnedConflict (nothing changed); one with the same jkt -> kExtended
  // (expires_at and recipient_jwk taken from the candidate, pod_restarts
  // raised to the candidate's if larger, id kept);
  // otherwise the candidate is stored -> kCreated. Exactly one of several
  // concurrent callers with different keys wins (test
  // ConcurrentEnrollExactlyOneWins). kInvalidArgument for empty identifiers
  // or expires_at <= now; kAlreadyExists when creating and candidate.id is
  // already used.
  virtual Result<EnrollResult> EnrollSession(const Session& candidate, int64_t now) = 0;
  // ReleasePinIfRestarted is the compare-and-swap that releases a pin whose
  // holder's process is gone (docs/edge.md "Restarted containers"): it
  // revokes session expected_session_id and returns true exactly when that
  // session is active at now, belongs to (org, cluster, pod_uid), and its
  // pod_restarts is less than observed_restarts (the restart fingerprint of
  // a fresh read of the pod). Otherwise it changes nothing and returns
  // false. Of several concurrent callers that saw one restart, at most one
  // gets true, and the EnrollSession that follows lets exactly one new key
  // win (tests ReleasePinIfRestartedComparesAndSwaps,
  // ConcurrentReleaseAfterRestartExactlyOneWins). kInvalidArgument for
  // empty identifiers or a negative observed_restarts.
  virtual Result<bool> ReleasePinIfRestarted(std::string_view org, std::string_view cluster, std::string_view pod_uid,
                                             std::string_view expected_session_id, int64_t observed_restarts,
                                             int64_t now) = 0;
  // GetSession returns the session (even if revoked or expired); kNotFound
  // when absent (or purged).
  virtual Result<Session> GetSession(std::string_view id) = 0;
  // RotateSessionKey moves an active session's pin from expected_old_jkt to
  // new_jkt (compare-and-swap, docs/protocol.md §4.3) and returns the updated
  // session. kFailedPrecondition when the pinned jkt is no longer
  // expected_old_jkt, so of two concurrent rotations exactly one wins (test
  // ConcurrentRotateExactlyOneWins); kNotFound when the session is absent,
  // revoked or expired.
  virtual Result<Session> RotateSessionKey(std::string_view id, std::string_view expected_old_jkt,
                                           std::string_view new_jkt, std::string_view new_recipient_jwk,
                                           int64_t now) = 0;
  // EndSession revokes a session. Idempotent: an unknown or already ended
  // session is OK (docs/protocol.md §4.4).
  virtual Status EndSession(std::string_view id) = 0;
  // RevokeSessionsForPod revokes every unrevoked session of the pod and
  // returns how many it revoked. kInvalidArgument when neither pod_uid nor
  // pod_name is set.
  virtual Result<int64_t> RevokeSessionsForPod(const PodRef& pod) = 0;
  // ListSessions returns matching sessions ordered by id.
  virtual Result<std::vector<Session>> ListSessions(const SessionFilter& filter) = 0;
  // CountActiveSessions returns how many sessions are active at `now`.
  virtual Result<int64_t> CountActiveSessions(int64_t now) = 0;

  // ---- DPoP replay set (docs/protocol.md §5 jti; RFC 9449 §11.1)
  // InsertJti records (jkt, jti) until expires_at. Returns true when
  // recorded, false when the pair is already recorded and not yet expired at
  // `now` (a replay). Atomic: of concurrent callers with one pair exactly one
  // gets true (test ConcurrentJtiExactlyOneInserted). The caller may pass a
  // hash of the jti instead of the jti. kInvalidArgument for empty or
  // over-long values or expires_at <= now.
  virtual Result<bool> InsertJti(std::string_view jkt, std::string_view jti, int64_t expires_at,
                                 int64_t now) = 0;

  // ---- DPoP nonce secret (docs/protocol.md §5 nonce; RFC 9449 §8)
  // GetOrCreateNonceSecret stores `candidate` as the current secret if none
  // exists and returns the stored current secret (so every replica ends up
  // with the same one; test NonceSecretSharedAcrossStores). The candidate is
  // consumed either way. kInvalidArgument unless 32..64 bytes.
  virtual Result<SecretBytes> GetOrCreateNonceSecret(SecretBytes candidate, int64_t now) = 0;
  // GetNonceSecrets returns current and previous secrets; kNotFound when no
  // secret was ever created.
  virtual Result<NonceSecrets> GetNonceSecrets() = 0;
  // RotateNonceSecret makes `next` current and the old current previous (the
  // one before is dropped). kInvalidArgument unless 32..64 bytes.
  virtual Status RotateNonceSecret(SecretBytes next, int64_t now) = 0;

  // ---- rate limits
  // ConsumeRate counts one request against bucket_key's fixed window
  // [window_start, window_end) and returns true while at most `limit`
  // requests were counted in it, false (and no increment) beyond. Atomic
  // across callers (test RateLimitWindow). kInvalidArgument for an empty key,
  // limit < 1 or window_end <= window_start.
  virtual Result<bool> ConsumeRate(std::string_view bucket_key, int64_t window_start, int64_t window_end,
                                   int64_t limit) = 0;

  // ---- one request's writes, together
  // AdmitRequest is ConsumeRate for every charge and InsertJti for `jti` in
  // one atomic step (SQLite: one transaction; PostgreSQL: one statement, one
  // commit): the writes every /v1 request makes, at the cost of one. Every
  // charge is attempted and every bucket below its limit is counted, and the
  // jti is recorded, whatever the outcome (a refused proof stays spent).
  // The outcome is kRateLimited (first bucket at its limit) before kReplay
  // before kAdmitted. Atomic across callers like the two calls it replaces
  // (tests AdmitRequest*, ConcurrentAdmitNeverExceeds). kInvalidArgument,
  // changing nothing, for what ConsumeRate or InsertJti refuse, more than
  // kMaxRateCharges charges, or two charges to one bucket.
  virtual Result<Admission> AdmitRequest(std::span<const RateCharge> charges, const JtiUse& jti, int64_t now) = 0;

  // ---- admin audit of configuration changes
  // AppendConfigAudit records one change of org ("" for a service-wide
  // change) and returns its sequence number. detail_json must be a JSON
  // object and must not contain secrets (the caller's duty);
  // kInvalidArgument when it does not parse.
  virtual Result<int64_t> AppendConfigAudit(std::string_view org, std::string_view actor, std::string_view action,
                                            std::string_view detail_json, int64_t now) = 0;
  // ListConfigAudit returns up to `limit` entries with seq > after_seq, in
  // order: org's only when org is given (test ConfigAuditPerOrganization).
  virtual Result<std::vector<ConfigAuditEntry>> ListConfigAudit(std::optional<std::string_view> org,
                                                                int64_t after_seq, int64_t limit) = 0;

  // ---- expiry
  // PurgeExpired deletes at most batch_limit rows of each kind: sessions with
  // expires_at <= now, jti entries with expires_at <= now, and rate windows
  // with window_end <= now. Call until total() == 0 to drain (test
  // PurgeExpiredBounded). kInvalidArgument when batch_limit < 1.
  virtual Result<PurgeCounts> PurgeExpired(int64_t now, int64_t batch_limit) = 0;
};

// IsValidImageDigest reports whether s is "sha256:" followed by exactly 64
// lower-case hex digits (the only form gate 4 compares against). It is
// astis::IsValidImageDigest (common/image_digest.h), named here for the
// store's callers.
using astis::IsValidImageDigest;

// QualifiedClusterName names a cluster across organisations, for the
// edge's per-cluster state (pod watches, gate-4 readers, metrics labels):
// the bare name in organisation kDefaultOrg, so a single-organisation
// deployment keeps its labels and log lines, and "org/name" in any other.
// Cluster names cannot contain '/' (ValidateCluster), so it is unambiguous.
std::string QualifiedClusterName(std::string_view org, std::string_view cluster);

// ClusterRef is a cluster's organisation and name.
struct ClusterRef {
  std::string org;
  std::string name;
};

// SplitQualifiedClusterName inverts QualifiedClusterName. It cannot fail: a
// name without '/' is in kDefaultOrg.
ClusterRef SplitQualifiedClusterName(std::string_view qualified);

// ValidateOrganization, ValidateCluster, ValidateWorkload, ValidateApiKey,
// ValidateSessionCandidate, ValidateNonceSecret and ValidatePinRelease check a value before any
// backend writes it; kInvalidArgument naming the field (never its value) on
// failure. Every backend calls them, so all backends refuse the same inputs.
Status ValidateOrganization(const Organization& org);
Status ValidateCluster(const Cluster& cluster);
Status ValidateWorkload(const Workload& workload);
Status ValidateApiKey(const ApiKey& key);
Status ValidateSessionCandidate(const Session& candidate, int64_t now);
Status ValidateNonceSecret(const SecretBytes& secret);
// ValidatePinRelease checks ReleasePinIfRestarted's arguments.
Status ValidatePinRelease(std::string_view org, std::string_view cluster, std::string_view pod_uid,
                          std::string_view session_id, int64_t observed_restarts);
Status ValidateAdmission(std::span<const RateCharge> charges, const JtiUse& jti, int64_t now);

}  // namespace astis::store
