// astis::admin — the operator's admin operations over the edge's store
// (docs/admin.md), shared by the CLI's direct path and the admin socket.
//
// Operations is the one interface the `astis cluster|workload|apikey|session`
// commands call. LocalOperations executes against a store::Store (the CLI
// with --store, and the AdminServer inside the edge); AdminClient
// (admin/client.h) forwards each call over the admin Unix socket. Both give
// the same typed results and the same Status (code and message), so the CLI
// prints the same text and exits with the same code either way.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "crypto/sha256.h"
#include "store/store.h"

namespace astis::admin {

// kMaxJwksBytes bounds a cluster's pinned JWKS text (the CLI reads the file,
// the operation refuses more with kTooLarge).
inline constexpr size_t kMaxJwksBytes = 1024 * 1024;

// ClusterAddArgs registers a cluster, or replaces a registered one when
// replace is set. jwks_json is the JWKS content (the store keeps the text);
// ca_file and token_file are paths on the edge host (the store keeps the
// paths).
struct ClusterAddArgs {
  std::string name;
  std::string issuer;
  std::string audience = "astis";
  std::string jwks_json;
  std::string api_url;
  std::string ca_file;
  std::string token_file;
  std::string mode = "strict";
  bool replace = false;
};

// ClusterAdded is what ClusterAdd stored.
struct ClusterAdded {
  std::string name;
  std::string mode;
};

// ClusterRow is one listed cluster (the JWKS and file paths are not listed).
struct ClusterRow {
  std::string name;
  std::string mode;
  std::string issuer;
  std::string audience;
  std::string api_url;
};

// WorkloadKey names one approved workload.
struct WorkloadKey {
  std::string cluster;
  std::string namespace_;
  std::string service_account;
};

// ApiKeyCreateArgs scopes a new API key; ttl_seconds 0 means no expiry.
struct ApiKeyCreateArgs {
  std::string cluster;
  std::string namespace_;
  std::string service_account;
  int64_t ttl_seconds = 0;
};

// ApiKeyCreated is a new key: its record fields and the full key
// "astis_<id>_<secret>", shown to the operator once and never stored,
// logged or audited.
struct ApiKeyCreated {
  std::string id;
  std::string cluster;
  std::string namespace_;
  std::string service_account;
  int64_t expires_at = 0;
  SecretBytes key;
};

// ApiKeyRow is one listed API key: never its hash.
struct ApiKeyRow {
  std::string id;
  std::string cluster;
  std::string namespace_;
  std::string service_account;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  int64_t revoked_at = 0;
};

// SessionListArgs filters SessionList; an empty field matches everything.
struct SessionListArgs {
  std::string cluster;
  std::string namespace_;
};

// SessionRow is one listed session; state is "active", "expired" or
// "revoked" at the executing side's clock.
struct SessionRow {
  std::string id;
  std::string cluster;
  std::string namespace_;
  std::string service_account;
  std::string pod_name;
  std::string pod_uid;
  int64_t expires_at = 0;
  std::string state;
};

// SessionRevokeArgs names one session (id) or every session of a pod
// (pod_uid, optionally only in cluster); exactly one of id and pod_uid.
struct SessionRevokeArgs {
  std::string id;
  std::string pod_uid;
  std::string cluster;
};

// OrgAddArgs registers (or updates) an organisation (docs/tenancy.md,
// docs/admin.md "Organisations"). tier "standard": no CVS field. tier
// "hyok": cvs_url (https), cvs_ca_pem (the CA bundle's PEM text, read by the
// CLI from --cvs-ca) and cvs_identity are required, cvs_spki_sha256 (64
// lower-case hex) is optional.
struct OrgAddArgs {
  std::string name;
  std::string tier = "standard";
  std::string cvs_url;
  std::string cvs_ca_pem;
  std::string cvs_identity;
  std::string cvs_spki_sha256;
};

// OrgRow is one listed organisation: its name, tier and CVS URL, never more
// (the CA bundle and the pins stay in the store).
struct OrgRow {
  std::string name;
  std::string tier;
  std::string cvs_url;
};

// OrgAdded is what OrgAdd stored; updated is true when the organisation
// already existed (same tier) and its CVS fields were replaced.
struct OrgAdded {
  OrgRow org;
  bool updated = false;
};

// OrgKeyRow is one member of an organisation's Tier 1 org key set as an
// administrator may see it (`astis org key list`): its kid (the RFC 7638
// thumbprint that `astis seal --public-key https://EDGE/v1/keys/KID`
// names), state "active" or "retired", suite "x25519" or "p256", and whether
// a PKCS#11 token holds it. Never private material.
struct OrgKeyRow {
  std::string kid;
  std::string state;
  std::string suite;
  bool in_token = false;
};

// OrgKeySource lists the Tier 1 org keys of org (a resolved, existing
// organisation) where the ASTIS CVS of this process keeps them, the active
// one first; injected by the edge (edge/run.cc: cvs.org_keys_dir and
// cvs.org_keys of the embedded CVS), so the admin component needs neither
// the CVS nor the key file format. kNotFound when org has no key set.
using OrgKeySource = std::function<Result<std::vector<OrgKeyRow>>(std::string_view org)>;

// WorkloadImagesArgs adds and removes image digests of one workload's
// allowlist without replacing it (`astis workload images add|remove`).
struct WorkloadImagesArgs {
  WorkloadKey key;
  std::vector<std::string> add;
  std::vector<std::string> remove;
};

// ApplyArgs is one organisation's desired state, as `astis apply` read it
// from YAML documents (docs/admin.md "Declarative configuration"): its
// clusters (JWKS as text) and workloads. prune deletes the organisation's
// clusters and workloads not listed; dry_run (`astis diff`) changes
// nothing and reports what apply would do.
struct ApplyArgs {
  std::vector<ClusterAddArgs> clusters;
  std::vector<store::Workload> workloads;  // org is ignored: the operations' org
  bool prune = false;
  bool dry_run = false;
};

// ApplyChange is one object an apply touched or would touch: kind
// "Cluster" or "Workload", name (a cluster's name; a workload's
// "cluster/namespace/serviceAccount") and action "created", "updated",
// "unchanged" or "deleted".
struct ApplyChange {
  std::string kind;
  std::string name;
  std::string action;
};

// Operations is the admin command set. Every method returns the store's
// Status on failure (kInvalidArgument for a refused input, kNotFound for an
// unknown name, kStoreUnavailable, ...) with a message that never contains a
// secret; a remote implementation adds kIo/kUnavailable for transport
// failures. A change that was applied but could not be recorded in the
// store's configuration audit is reported as an error naming that.
//
// Organisations: every operation except the Org* ones acts in one
// organisation, chosen when the Operations object is made (LocalOperations'
// org, the admin socket request's "org"); see ResolveOrg. The Org* ones are
// service-wide. The remote admin API authorises each method by role
// (operator, org-admin, auditor), so each method is one operation: add new
// ones as new methods, not as flags on existing ones.
class Operations {
 public:
  virtual ~Operations() = default;
  // ---- organisations (service-wide)
  // OrgAdd registers an organisation or, when it exists with the same tier,
  // replaces its CVS fields (a renewed pin); a different tier is
  // kFailedPrecondition (test AdminOpsTest.OrgAddRefusesTierChange). Errors
  // name the flag (test AdminOpsTest.OrgAddNamesTheFlag). Audits "org.add"
  // in that organisation's trail.
  virtual Result<OrgAdded> OrgAdd(const OrgAddArgs& args) = 0;
  // OrgList returns every organisation ordered by name.
  virtual Result<std::vector<OrgRow>> OrgList() = 0;
  // OrgRemove removes an organisation; while it has clusters or API keys,
  // kFailedPrecondition unless force, which deletes them too (test
  // AdminOpsTest.OrgRemoveRefusedWhileInUse). Audits "org.remove" in its trail.
  virtual Status OrgRemove(const std::string& name, bool force) = 0;
  // OrgKeyList lists the Tier 1 org keys of the operations' organisation
  // (docs/admin.md "Sealing"): an organisation-scoped read, so an org-admin
  // or auditor sees only its own organisation's keys. A hyok (Tier 2)
  // organisation is kFailedPrecondition: its keys are held by its own CVS,
  // never by the edge (test AdminOpsTest.OrgKeyListRefusesHyokOrganization);
  // so is an edge whose ASTIS CVS keeps no key set here (no OrgKeySource:
  // test AdminOpsTest.OrgKeyListWithoutKeySourceIsRefused).
  virtual Result<std::vector<OrgKeyRow>> OrgKeyList() = 0;

  // ---- one organisation's objects
  // ClusterAdd validates the JWKS (test AdminOpsTest.ClusterAddRejectsBadJwks) and
  // the https API URL, stores the cluster and audits "cluster.add". A cluster
  // of that name already registered is kAlreadyExists unless args.replace
  // (test AdminOpsTest.ClusterAddRefusesToReplaceWithoutReplace): re-running
  // a registration meant for another namespace must not silently swap the
  // cluster's token and CA.
  virtual Result<ClusterAdded> ClusterAdd(const ClusterAddArgs& args) = 0;
  // ClusterList returns every cluster ordered by name.
  virtual Result<std::vector<ClusterRow>> ClusterList() = 0;
  // ClusterRemove removes a cluster and its workloads; audits "cluster.remove".
  virtual Status ClusterRemove(const std::string& name) = 0;
  // WorkloadAdd approves a workload after checking every digest (test
  // AdminOpsTest.WorkloadAddRejectsTag); audits "workload.add" and returns what it stored.
  virtual Result<store::Workload> WorkloadAdd(const store::Workload& workload) = 0;
  // WorkloadList returns the workloads of one cluster (all when empty).
  virtual Result<std::vector<store::Workload>> WorkloadList(const std::string& cluster) = 0;
  // WorkloadRemove removes one workload; audits "workload.remove".
  virtual Status WorkloadRemove(const WorkloadKey& key) = 0;
  // WorkloadImages adds and removes digests of one workload's allowlist in
  // one store transaction and returns the workload as stored; every digest
  // is checked first (test AdminOpsTest.WorkloadImagesRejectsTag), an
  // unknown workload is kNotFound (test
  // AdminOpsTest.WorkloadImagesUnknownWorkload). Audits "workload.images".
  virtual Result<store::Workload> WorkloadImages(const WorkloadImagesArgs& args) = 0;
  // Apply makes the organisation's clusters and workloads what args
  // declares, in one store transaction, after the same checks as ClusterAdd
  // and WorkloadAdd on every object (nothing is written when one fails: test
  // AdminOpsTest.ApplyBadObjectWritesNothing). Returns one change per
  // declared object (and per pruned one). When anything changed and not
  // dry_run, the changes are recorded as "config.apply" entries (in parts
  // for a large apply) in the same store transaction
  // (AdminOpsTest.ApplyOfThousandsIsOneAuditedTransaction). prune with
  // nothing declared is refused (kInvalidArgument).
  virtual Result<std::vector<ApplyChange>> Apply(const ApplyArgs& args) = 0;
  // ApiKeyCreate creates a key for a registered cluster; the store and the
  // audit get only its id, scope and hash. Audits "apikey.create".
  virtual Result<ApiKeyCreated> ApiKeyCreate(const ApiKeyCreateArgs& args) = 0;
  // ApiKeyList returns every key record without hashes, ordered by id.
  virtual Result<std::vector<ApiKeyRow>> ApiKeyList() = 0;
  // ApiKeyRevoke revokes a key (kNotFound when unknown); audits "apikey.revoke".
  virtual Status ApiKeyRevoke(const std::string& id) = 0;
  // SessionList returns the matching sessions ordered by id.
  virtual Result<std::vector<SessionRow>> SessionList(const SessionListArgs& args) = 0;
  // SessionRevoke ends the named session or the pod's sessions and returns
  // how many it revoked; kInvalidArgument unless exactly one of id and
  // pod_uid is set. Audits "session.revoke".
  virtual Result<int64_t> SessionRevoke(const SessionRevokeArgs& args) = 0;
};

// NewApiKey is a freshly generated API key (see edge::GenerateApiKey).
struct NewApiKey {
  std::string id;
  SecretBytes header_value;  // "astis_<id>_<secret>"
  Sha256Digest hash{};       // SHA-256 of the secret part: all the store keeps
};

// ApiKeyGenerator draws a new API key from rng. The edge's generator is
// injected (edge::GenerateApiKey) so this component does not depend on the
// edge, which embeds the AdminServer.
using ApiKeyGenerator = std::function<Result<NewApiKey>(Random& rng)>;

// ActorForUid names an operator in the configuration audit: "cli:<login>"
// or "cli:uid<N>" when the uid has no passwd entry. It cannot fail.
std::string ActorForUid(uid_t uid);

// ResolveOrg returns the organisation an admin command acts in
// (docs/admin.md "Choosing the organisation"): requested when it names an
// existing organisation (kNotFound "organization <name> not found"
// otherwise); when requested is empty, the only organisation if exactly one
// exists, so single-organisation usage needs no --org; with several,
// kInvalidArgument saying --org is required; with none, kFailedPrecondition.
// Tests AdminOpsTest.OrgResolution*.
Result<std::string> ResolveOrg(store::Store& store, std::string_view requested);

// CheckJwksText applies cluster add's JWKS checks (size, parses as a JWKS
// gate 2 can use) and returns the problem without a field name; IsHttpsUrl
// is its API URL check. `astis apply` runs them on each document to name the
// file and field, and LocalOperations runs them again.
Status CheckJwksText(std::string_view jwks_json);
bool IsHttpsUrl(std::string_view url);

// LocalOperations executes Operations against a store it borrows (store,
// clock and rng must outlive it), recording each change with actor in the
// store's configuration audit. Thread-safe when the store is.
class LocalOperations final : public Operations {
 public:
  // org is the organisation every operation acts in (docs/tenancy.md); each
  // operation resolves it with ResolveOrg, so "" means "the only one".
  // org_keys serves OrgKeyList (empty: refused, nothing holds keys here).
  LocalOperations(store::Store& store, Clock& clock, Random& rng, ApiKeyGenerator generator, std::string actor,
                  std::string org = "", OrgKeySource org_keys = {});

  Result<OrgAdded> OrgAdd(const OrgAddArgs& args) override;
  Result<std::vector<OrgRow>> OrgList() override;
  Status OrgRemove(const std::string& name, bool force) override;
  Result<std::vector<OrgKeyRow>> OrgKeyList() override;
  Result<ClusterAdded> ClusterAdd(const ClusterAddArgs& args) override;
  Result<std::vector<ClusterRow>> ClusterList() override;
  Status ClusterRemove(const std::string& name) override;
  Result<store::Workload> WorkloadAdd(const store::Workload& workload) override;
  Result<std::vector<store::Workload>> WorkloadList(const std::string& cluster) override;
  Status WorkloadRemove(const WorkloadKey& key) override;
  Result<store::Workload> WorkloadImages(const WorkloadImagesArgs& args) override;
  Result<std::vector<ApplyChange>> Apply(const ApplyArgs& args) override;
  Result<ApiKeyCreated> ApiKeyCreate(const ApiKeyCreateArgs& args) override;
  Result<std::vector<ApiKeyRow>> ApiKeyList() override;
  Status ApiKeyRevoke(const std::string& id) override;
  Result<std::vector<SessionRow>> SessionList(const SessionListArgs& args) override;
  Result<int64_t> SessionRevoke(const SessionRevokeArgs& args) override;

 private:
  // Org resolves the organisation of this object's operations (ResolveOrg).
  Result<std::string> Org();
  Status Audit(std::string_view org, std::string_view action, const std::string& detail_json);

  store::Store& store_;
  Clock& clock_;
  Random& rng_;
  ApiKeyGenerator generator_;
  std::string actor_;
  std::string org_;
  OrgKeySource org_keys_;
};

}  // namespace astis::admin
