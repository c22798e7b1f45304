#include "cvs/cvs.h"

#include <utility>

#include "capsule/capsule.h"
#include "capsule/seal.h"
#include "crypto/secret_bytes.h"

// Test hook (cvs/testing/dek_observer.h): weak, so it is null unless a test
// links astis::cvs_testing, which defines it. The `astis` binary never does.
extern "C" __attribute__((weak)) void astis_cvs_testing_observe_dek(const uint8_t* dek, size_t size);

namespace astis::cvs {
namespace {

struct Outcome {
  RewrapResult result;
  audit::CapsuleRef ref;
};

// RewrapOne handles one capsule. Whole-call failures (the recipient key
// cannot be sealed to) come back as a non-OK Status; per-capsule refusals as
// a result code.
Result<Outcome> RewrapOne(const capsule::OrgKeySet* keys, const VerifiedScope& scope,
                          const X25519PublicKey& recipient, std::string_view session_id,
                          std::span<const uint8_t> bytes, Random& rng) {
  Outcome out;
  // docs/protocol.md §4.2 capsule_invalid: not a §3.1 capsule.
  // Test: TamperedCapsuleIsCapsuleInvalid.
  auto parsed = capsule::Capsule::Parse(bytes);
  if (!parsed.ok()) {
    out.result.code = Code::kCapsuleInvalid;
    out.ref.code = Code::kCapsuleInvalid;
    return out;
  }
  const capsule::Capsule& cap = *parsed;
  const capsule::Binding& b = cap.binding();
  out.ref = audit::CapsuleRef{cap.kid(), b.ClusterList(), b.namespace_, b.service_account, b.name, b.key, Code::kOk};

  // docs/protocol.md §4.2 capsule_scope: the binding must equal the verified
  // identity before any key is used. Test: CapsuleFromOtherNamespaceIsCapsuleScope.
  Status scoped = capsule::CheckCapsuleScope(cap, scope.cluster(), scope.namespace_(), scope.service_account());
  if (!scoped.ok()) {
    out.result.code = out.ref.code = Code::kCapsuleScope;
    return out;
  }
  // docs/protocol.md §4.2 unknown_key / capsule_invalid. Tests: UnknownKidIsUnknownKey,
  // TamperedCapsuleIsCapsuleInvalid, RetiredKeyStillOpens.
  if (keys == nullptr) {
    out.result.code = out.ref.code = Code::kUnknownKey;
    return out;
  }
  auto dek = capsule::OpenCapsule(*keys, cap);
  // A token key that cannot be used now fails the whole call closed
  // (cvs_unavailable), never as a per-capsule refusal the pod might cache.
  // Test: Pkcs11CvsTest.UnusableTokenIsCvsUnavailable.
  if (!dek.ok() && dek.status().code() == Code::kCvsUnavailable) return dek.status();
  if (!dek.ok()) {
    Code code = dek.status().code() == Code::kUnknownKey ? Code::kUnknownKey : Code::kCapsuleInvalid;
    out.result.code = out.ref.code = code;
    return out;
  }
  if (astis_cvs_testing_observe_dek != nullptr) astis_cvs_testing_observe_dek(dek->Reveal().data(), dek->size());
  // docs/protocol.md §4.2: HPKE SealBase(pkR = recipient, info "astis rewrap v1",
  // aad = CAPSULE_HASH || session id, pt = DEK). Test: RewrapsForMatchingScope.
  auto rewrapped = capsule::Rewrap(*dek, recipient, cap.hash(), session_id, rng);
  dek->Wipe();  // the DEK is gone before any response is built
  if (!rewrapped.ok())
    return Error(Code::kCrypto, "cvs: rewrap to the recipient failed (kid " + cap.kid() + ")");
  out.result.code = Code::kOk;
  out.result.enc = std::move(rewrapped->enc);
  out.result.ct = std::move(rewrapped->ct);
  return out;
}

}  // namespace

CvsService::CvsService(capsule::OrgKeySet keys, Random& rng, audit::AuditSink* audit) : rng_(rng), audit_(audit) {
  sets_.emplace(std::string(kDefaultOrg), std::make_shared<const capsule::OrgKeySet>(std::move(keys)));
}

CvsService::CvsService(std::map<std::string, capsule::OrgKeySet, std::less<>> sets, Random& rng,
                       audit::AuditSink* audit)
    : rng_(rng), audit_(audit) {
  for (auto& [org, keys] : sets) sets_.emplace(org, std::make_shared<const capsule::OrgKeySet>(std::move(keys)));
}

std::shared_ptr<const capsule::OrgKeySet> CvsService::Keys(std::string_view org) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sets_.find(org);
  return it == sets_.end() ? nullptr : it->second;
}

void CvsService::ReplaceKeys(capsule::OrgKeySet keys) { SetOrgKeys(kDefaultOrg, std::move(keys)); }

void CvsService::SetOrgKeys(std::string_view org, capsule::OrgKeySet keys) {
  auto fresh = std::make_shared<const capsule::OrgKeySet>(std::move(keys));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sets_.find(org);
  if (it == sets_.end()) {
    sets_.emplace(std::string(org), std::move(fresh));
  } else {
    it->second = std::move(fresh);
  }
}

bool CvsService::HasOrg(std::string_view org) const { return Keys(org) != nullptr; }

std::optional<capsule::OrgPublicKey> CvsService::ActivePublicKey(std::string_view kid) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [org, set] : sets_) {
    if (set != nullptr && set->active().kid() == kid) return set->active().public_key();
  }
  return std::nullopt;
}

Status CvsService::Ping() { return OkStatus(); }

Result<std::vector<RewrapResult>> CvsService::Rewrap(const VerifiedScope& scope, const X25519PublicKey& recipient,
                                                     std::string_view session_id,
                                                     std::span<const std::vector<uint8_t>> capsules) {
  // docs/protocol.md §4.2: 1 to 64 capsules. Test: RejectsEmptyAndOversizeBatch.
  if (capsules.empty() || capsules.size() > kMaxCapsulesPerCall)
    return Error(Code::kBadRequest, "cvs: a batch holds 1 to 64 capsules");
  if (session_id.empty()) return Error(Code::kBadRequest, "cvs: empty session id");

  // A kid resolves only within the scope's organisation's set; an
  // organisation without one gets unknown_key for every capsule (docs/cvs.md
  // "Key custody per organisation"). Tests: ScopeOfAnotherOrgIsUnknownKey,
  // OrgWithoutKeySetIsUnknownKey.
  std::shared_ptr<const capsule::OrgKeySet> keys = Keys(scope.org());
  std::vector<RewrapResult> results;
  results.reserve(capsules.size());
  audit::AuditEvent event;
  event.event = "cvs.rewrap";
  // The organisation is named as the store names clusters across
  // organisations (store::QualifiedClusterName): bare in the default one.
  // Test: AuditNamesTheOrganization.
  event.cluster = scope.org() == kDefaultOrg ? scope.cluster() : scope.org() + "/" + scope.cluster();
  event.namespace_ = scope.namespace_();
  event.service_account = scope.service_account();
  size_t refused = 0;
  for (const std::vector<uint8_t>& bytes : capsules) {
    ASTIS_ASSIGN_OR_RETURN(Outcome outcome, RewrapOne(keys.get(), scope, recipient, session_id, bytes, rng_));
    if (outcome.result.code != Code::kOk) ++refused;
    results.push_back(std::move(outcome.result));
    event.capsules.push_back(std::move(outcome.ref));
  }
  if (audit_ != nullptr) {
    event.decision = refused == 0 ? audit::Decision::kAllow : audit::Decision::kDeny;
    event.reason = std::to_string(capsules.size() - refused) + " of " + std::to_string(capsules.size()) +
                   " capsules rewrapped";
    Status logged = audit_->Append(event);
    if (!logged.ok()) return Error(Code::kIo, "cvs: audit log append failed");
  }
  return results;
}

}  // namespace astis::cvs
