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

// ClusterAddArgs registers (or replaces) a cluster. jwks_json is the JWKS
// content (the store keeps the text); ca_file and token_file are paths on the
// edge host (the store keeps the paths).
struct ClusterAddArgs {
  std::string name;
  std::string issuer;
  std::string audience = "astis";
  std::string jwks_json;
  std::string api_url;
  std::string ca_file;
  std::string token_file;
  std::string mode = "strict";
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

// Operations is the admin command set. Every method returns the store's
// Status on failure (kInvalidArgument for a refused input, kNotFound for an
// unknown name, kStoreUnavailable, ...) with a message that never contains a
// secret; a remote implementation adds kIo/kUnavailable for transport
// failures. A change that was applied but could not be recorded in the
// store's configuration audit is reported as an error naming that.
class Operations {
 public:
  virtual ~Operations() = default;
  // ClusterAdd validates the JWKS (test AdminOpsTest.ClusterAddRejectsBadJwks) and
  // the https API URL, stores the cluster and audits "cluster.add".
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

// LocalOperations executes Operations against a store it borrows (store,
// clock and rng must outlive it), recording each change with actor in the
// store's configuration audit. Thread-safe when the store is.
class LocalOperations final : public Operations {
 public:
  // org is the organisation every operation acts in (docs/tenancy.md);
  // kDefaultOrg until the admin commands take --org.
  LocalOperations(store::Store& store, Clock& clock, Random& rng, ApiKeyGenerator generator, std::string actor,
                  std::string org = std::string(store::kDefaultOrg));

  Result<ClusterAdded> ClusterAdd(const ClusterAddArgs& args) override;
  Result<std::vector<ClusterRow>> ClusterList() override;
  Status ClusterRemove(const std::string& name) override;
  Result<store::Workload> WorkloadAdd(const store::Workload& workload) override;
  Result<std::vector<store::Workload>> WorkloadList(const std::string& cluster) override;
  Status WorkloadRemove(const WorkloadKey& key) override;
  Result<ApiKeyCreated> ApiKeyCreate(const ApiKeyCreateArgs& args) override;
  Result<std::vector<ApiKeyRow>> ApiKeyList() override;
  Status ApiKeyRevoke(const std::string& id) override;
  Result<std::vector<SessionRow>> SessionList(const SessionListArgs& args) override;
  Result<int64_t> SessionRevoke(const SessionRevokeArgs& args) override;

 private:
  Status Audit(std::string_view action, const std::string& detail_json);

  store::Store& store_;
  Clock& clock_;
  Random& rng_;
  ApiKeyGenerator generator_;
  std::string actor_;
  std::string org_;
};

}  // namespace astis::admin
