// The conversion service (CVS): the only component that holds org private
// keys. It opens a capsule only for the identity the edge verified and
// reseals the capsule's DEK to the pod's recipient key (docs/protocol.md §4.2).
//
// CvsPort is what the edge calls; CvsService is the in-process
// implementation (Tier 1, or the server side of the remote mode in
// cvs/remote.h). See docs/cvs.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit/audit_log.h"
#include "capsule/org_key.h"
#include "common/status.h"
#include "crypto/random.h"
#include "crypto/x25519.h"

namespace astis::cvs {

// kMaxCapsulesPerCall is the docs/protocol.md §4.2 batch limit (1 to 64).
inline constexpr size_t kMaxCapsulesPerCall = 64;

class RemoteScopeDecoder;  // cvs/remote.cc
namespace testing {
struct ScopeForTests;  // cvs/testing/verified_scope.h
}  // namespace testing

}  // namespace astis::cvs

namespace astis::edge {
class Admission;  // edge/admission.h
}  // namespace astis::edge

namespace astis::cvs {

// kDefaultOrg is the organisation of a scope that names none (an edge older
// than organisations) and of CvsService's first key set. It is the same
// string as store::kDefaultOrg (src/store/store.h); src/cvs does not depend
// on the store.
inline constexpr std::string_view kDefaultOrg = "default";

// VerifiedScope is the identity the edge established through gates 1-4
// (the API key's organisation, the cluster addressed, the token's namespace
// and ServiceAccount). The CVS trusts it
// as given: the edge is the only authenticated caller (mutual TLS in remote
// mode), so the type must not be something any code can fill in.
//
// Who may make one (the passkey idiom: only a holder of a Key can call the
// constructor, and Key's constructor is private):
//  * edge::Admission, after gates 1-4 admitted the request; an edge handler
//    obtains the scope only from the Admitted value it returns
//    (edge/admission.h);
//  * RemoteScopeDecoder in cvs/remote.cc, which decodes the scope the edge
//    sent over mutually authenticated TLS (docs/protocol.md §4.2, docs/cvs.md);
//  * testing::ScopeForTests (cvs/testing/verified_scope.h), for test, fuzz
//    and bench worlds only; product code never includes it.
// Copies are fine: a copy is the same verified scope. Its fields are
// read-only, so a copy cannot be retargeted.
class VerifiedScope {
 public:
  class Key {
   private:
    Key() = default;
    friend class ::astis::edge::Admission;
    friend class RemoteScopeDecoder;
    friend struct testing::ScopeForTests;
  };

  VerifiedScope(Key, std::string org, std::string cluster, std::string namespace_, std::string service_account)
      : org_(std::move(org)),
        cluster_(std::move(cluster)),
        namespace__(std::move(namespace_)),
        service_account_(std::move(service_account)) {}

  // org is the organisation of the API key (gate 1); a capsule's kid
  // resolves only within that organisation's key set.
  const std::string& org() const { return org_; }
  const std::string& cluster() const { return cluster_; }
  const std::string& namespace_() const { return namespace__; }
  const std::string& service_account() const { return service_account_; }

 private:
  std::string org_;
  std::string cluster_;
  std::string namespace__;
  std::string service_account_;
};

// RewrapResult is one capsule's outcome: kOk with enc/ct (the DEK HPKE-sealed
// to the recipient, docs/protocol.md §4.2), or kCapsuleScope, kUnknownKey or
// kCapsuleInvalid with empty enc/ct. Nothing in it is secret.
struct RewrapResult {
  Code code = Code::kCapsuleInvalid;
  std::vector<uint8_t> enc;
  std::vector<uint8_t> ct;
};

// CvsPort rewraps capsules for a verified identity. Implementations are
// thread-safe.
class CvsPort {
 public:
  virtual ~CvsPort() = default;
  // Rewrap returns one result per capsule, in request order; one capsule's
  // failure never affects another's. Whole-call errors: kBadRequest for an
  // empty or over-long batch or an empty session id, kCvsUnavailable when a
  // remote CVS cannot be reached or answers malformed, kCrypto when sealing
  // to the recipient fails (e.g. a low-order recipient key).
  virtual Result<std::vector<RewrapResult>> Rewrap(const VerifiedScope& scope, const X25519PublicKey& recipient,
                                                   std::string_view session_id,
                                                   std::span<const std::vector<uint8_t>> capsules) = 0;
  // Ping returns OK when the CVS can serve, kCvsUnavailable otherwise.
  virtual Status Ping() = 0;
};

// CvsService is the in-process CVS. It owns one org key set per
// organisation (each replaceable after a rotation) and borrows rng and, if
// given, an audit sink that receives one "cvs.rewrap" event per call (the
// organisation, kids, bindings and per-capsule codes; never a DEK). A
// capsule's kid resolves only within the key set of the scope's
// organisation (docs/cvs.md "Key custody per organisation"). rng must be
// thread-safe (SystemRandom is); rng and audit must outlive the service.
class CvsService final : public CvsPort {
 public:
  // CvsService holds keys as organisation kDefaultOrg's set, the only one
  // (a single-organisation CVS, as before organisations).
  CvsService(capsule::OrgKeySet keys, Random& rng, audit::AuditSink* audit = nullptr);
  // CvsService holds the given per-organisation sets (possibly none).
  CvsService(std::map<std::string, capsule::OrgKeySet, std::less<>> sets, Random& rng,
             audit::AuditSink* audit = nullptr);

  // Rewrap implements CvsPort::Rewrap for each capsule: parse
  // (capsule_invalid), binding equals scope (capsule_scope), open with the
  // key named by kid in the key set of scope.org() (unknown_key when that
  // organisation has no set or no such kid; capsule_invalid), reseal the
  // DEK to recipient with aad CAPSULE_HASH || session id. Each DEK lives
  // only in locked SecretBytes and is wiped before the next capsule is
  // handled. An audit failure fails the call (kIo), since the decision
  // would go unrecorded.
  Result<std::vector<RewrapResult>> Rewrap(const VerifiedScope& scope, const X25519PublicKey& recipient,
                                           std::string_view session_id,
                                           std::span<const std::vector<uint8_t>> capsules) override;
  // Ping returns OK: an in-process CVS can serve.
  Status Ping() override;

  // ReplaceKeys swaps in a new key set for organisation kDefaultOrg (after
  // RotateOrgKeys). Calls already running finish with the old set. It
  // cannot fail.
  void ReplaceKeys(capsule::OrgKeySet keys);
  // SetOrgKeys adds or replaces org's key set, as ReplaceKeys. Thread-safe.
  void SetOrgKeys(std::string_view org, capsule::OrgKeySet keys);
  // HasOrg reports whether org has a key set.
  bool HasOrg(std::string_view org) const;
  // ActivePublicKey returns the public half of the active key of the
  // organisation whose active key has this kid, or nullopt (no such kid, or
  // a retired one: nothing is sealed to a retired key). It never names the
  // organisation. Serves the edge's GET /v1/keys/{kid}
  // (test EdgeKeysTest.ServesTheActiveKeyByKid). Thread-safe.
  std::optional<capsule::OrgPublicKey> ActivePublicKey(std::string_view kid) const;

 private:
  std::shared_ptr<const capsule::OrgKeySet> Keys(std::string_view org) const;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const capsule::OrgKeySet>, std::less<>> sets_;
  Random& rng_;
  audit::AuditSink* audit_;
};

}  // namespace astis::cvs
