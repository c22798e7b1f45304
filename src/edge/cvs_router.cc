#include "edge/cvs_router.h"

#include <algorithm>
#include <utility>

#include "common/encoding.h"
#include "common/log.h"
#include "cvs/remote.h"
#include "net/tls.h"

namespace astis::edge {
namespace {

std::string HyokFingerprint(const store::Organization& o) {
  return o.cvs_url + '\n' + o.cvs_ca_pem + '\n' + o.cvs_identity + '\n' + o.cvs_spki_sha256;
}

Status Unavailable(std::string message) { return Error(Code::kCvsUnavailable, std::move(message)); }

}  // namespace

HyokCvsBuilder MakeHyokCvsBuilder(std::optional<HyokClientIdentity> identity, net::ClientOptions options) {
  auto shared = identity.has_value() ? std::make_shared<const HyokClientIdentity>(std::move(*identity)) : nullptr;
  return [shared, options](const store::Organization& org) -> Result<std::unique_ptr<cvs::CvsPort>> {
    if (shared == nullptr) return Unavailable("no hyok client identity configured (hyok.client_cert_file)");
    net::TlsClientConfig tls;
    // The organisation's CA bundle, never the system store, and the name its
    // CVS certificate must carry (RFC 6125): a renewed certificate under the
    // same CA is no outage. Test: CvsRouterTest.HyokClientTrustsCaNameAndSpki.
    tls.ca_pem = org.cvs_ca_pem;
    tls.server_name = org.cvs_identity;
    tls.client_cert_pem = shared->cert_pem;
    tls.client_key_pem = shared->key_pem.Clone();
    if (!org.cvs_spki_sha256.empty()) {
      auto pin = HexDecode(org.cvs_spki_sha256);
      Sha256Digest d{};
      if (!pin.ok() || pin->size() != d.size()) return Error(Code::kInvalidArgument, "cvs_spki_sha256: not 64 hex");
      std::copy(pin->begin(), pin->end(), d.begin());
      tls.pinned_server_spki_sha256.push_back(d);
    }
    ASTIS_ASSIGN_OR_RETURN(auto client, cvs::RemoteCvsClient::CreateTrustingCa(org.cvs_url, tls, options));
    return std::unique_ptr<cvs::CvsPort>(std::move(client));
  };
}

CvsRouter::CvsRouter(store::Store& store, const Clock& clock, cvs::CvsPort& astis_cvs, HyokCvsBuilder hyok,
                     int64_t recheck_ms)
    : store_(store), clock_(clock), astis_cvs_(astis_cvs), hyok_(std::move(hyok)), recheck_ms_(recheck_ms) {}

Result<std::shared_ptr<cvs::CvsPort>> CvsRouter::PortOf(const Route& r) {
  // A non-owning handle on the ASTIS CVS, which outlives the router.
  if (r.tier == "standard") return std::shared_ptr<cvs::CvsPort>(std::shared_ptr<cvs::CvsPort>(), &astis_cvs_);
  if (r.tier == "hyok") {
    if (r.hyok == nullptr) return Unavailable("cvs route: organisation's CVS client: " + r.build_error.message());
    return r.hyok;
  }
  return Unavailable("cvs route: unknown organisation");
}

Result<std::shared_ptr<cvs::CvsPort>> CvsRouter::PortFor(const std::string& org) {
  const int64_t now = clock_.NowUnixMillis();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = routes_.find(org);
    if (it != routes_.end() && now - it->second.checked_ms < recheck_ms_) return PortOf(it->second);
  }
  // The record is read without the lock, so a slow store delays only the
  // organisations due for a re-check, never the others' calls.
  auto record = store_.GetOrganization(org);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = routes_.find(org);
  if (!record.ok() && record.status().code() != Code::kNotFound) {
    // A store hiccup: keep a known route (re-checked next time), else refuse.
    if (it == routes_.end()) return Error(Code::kStoreUnavailable, "cvs route: organisation record unavailable");
    return PortOf(it->second);
  }
  if (it == routes_.end()) it = routes_.emplace(org, Route{}).first;
  Route& r = it->second;
  r.checked_ms = now;
  if (!record.ok()) {
    r = Route{};  // no such organisation
    r.checked_ms = now;
  } else if (record->tier != "hyok") {
    r.tier = record->tier;
    r.fingerprint.clear();
    r.hyok.reset();
    r.build_error = OkStatus();
  } else if (r.tier != "hyok" || r.fingerprint != HyokFingerprint(*record)) {
    // New or changed route: build its client once (no I/O yet); calls still
    // running on the old one keep it alive through their shared_ptr.
    r.tier = "hyok";
    r.fingerprint = HyokFingerprint(*record);
    r.hyok.reset();
    auto built = hyok_(*record);
    r.build_error = built.ok() ? OkStatus() : built.status();
    if (built.ok()) {
      r.hyok = std::shared_ptr<cvs::CvsPort>(std::move(built).value());
    } else {
      // Once per record version, as KubeClientCache does for clusters.
      log::Process().Warn("edge", "organisation " + org + ": no CVS client: " + built.status().ToString(),
                          Json{{"org", org}});
    }
  }
  return PortOf(r);
}

Result<std::vector<cvs::RewrapResult>> CvsRouter::Rewrap(const cvs::VerifiedScope& scope,
                                                         const X25519PublicKey& recipient,
                                                         std::string_view session_id,
                                                         std::span<const std::vector<uint8_t>> capsules) {
  // Tier per organisation (docs/cvs.md "Routing"). Tests:
  // CvsRouterTest.RoutesByTier, CvsRouterTest.HyokOutageIsCvsUnavailableForThatOrgOnly.
  ASTIS_ASSIGN_OR_RETURN(std::shared_ptr<cvs::CvsPort> port, PortFor(scope.org()));
  return port->Rewrap(scope, recipient, session_id, capsules);
}

Status CvsRouter::Ping() { return astis_cvs_.Ping(); }

RefreshingCvs::RefreshingCvs(std::unique_ptr<cvs::CvsService> service, const std::string& dir, const Clock& clock,
                             Random& rng, int64_t recheck_ms)
    : service_(std::move(service)), custodian_(dir, *service_, rng), clock_(clock), recheck_ms_(recheck_ms) {}

Status RefreshingCvs::Start() {
  last_refresh_ms_.store(clock_.NowUnixMillis());
  return custodian_.Refresh();
}

void RefreshingCvs::MaybeRefresh() {
  // One caller per interval refreshes; the others go on with the sets loaded.
  // Test: RefreshingCvsTest.PicksUpNewKeySetsAndKeepsOldOnBadFile.
  const int64_t now = clock_.NowUnixMillis();
  int64_t last = last_refresh_ms_.load();
  if (now - last >= recheck_ms_ && last_refresh_ms_.compare_exchange_strong(last, now)) {
    Status s = custodian_.Refresh();
    if (!s.ok() && !refresh_failing_.exchange(true)) {
      log::Process().Error("edge", "cvs.org_keys_dir: " + s.ToString());
    } else if (s.ok()) {
      refresh_failing_.store(false);
    }
  }
}

Result<std::vector<cvs::RewrapResult>> RefreshingCvs::Rewrap(const cvs::VerifiedScope& scope,
                                                             const X25519PublicKey& recipient,
                                                             std::string_view session_id,
                                                             std::span<const std::vector<uint8_t>> capsules) {
  MaybeRefresh();
  return service_->Rewrap(scope, recipient, session_id, capsules);
}

std::optional<capsule::OrgPublicKey> RefreshingCvs::ActivePublicKey(std::string_view kid) {
  MaybeRefresh();
  return service_->ActivePublicKey(kid);
}

Status RefreshingCvs::Ping() { return service_->Ping(); }

}  // namespace astis::edge
