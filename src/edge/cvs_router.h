// CvsRouter: the edge's CvsPort when organisations sit on two trust tiers
// (docs/cvs.md "Routing"). A scope's organisation decides where its capsules
// go: tier "standard" (Tier 1) to the ASTIS CVS (embedded or remote, per
// cvs.mode), tier "hyok" (Tier 2) to that organisation's own CVS at its
// record's cvs_url, over mutual TLS, trusting its record's CA bundle for
// the name cvs_identity and, when set, only the key with cvs_spki_sha256.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "cvs/cvs.h"
#include "cvs/key_management.h"
#include "net/https_client.h"
#include "store/store.h"

namespace astis::edge {

// HyokCvsBuilder builds the CvsPort of a hyok organisation from its record.
using HyokCvsBuilder = std::function<Result<std::unique_ptr<cvs::CvsPort>>(const store::Organization& org)>;

// HyokClientIdentity is the edge's client certificate and key towards
// organisations' own CVSs (config hyok.client_cert_file / client_key_file).
struct HyokClientIdentity {
  std::string cert_pem;
  SecretBytes key_pem;
};

// MakeHyokCvsBuilder builds cvs::RemoteCvsClient::CreateTrustingCa clients:
// base URL cvs_url, CA bundle cvs_ca_pem, server name cvs_identity, SPKI pin
// cvs_spki_sha256 when set, presenting identity. Without identity (nullopt)
// every build fails with kCvsUnavailable ("no hyok client identity"). The
// builder fails with kInvalidArgument on a record it cannot use (bad pin,
// CA bundle, URL). It cannot fail itself.
HyokCvsBuilder MakeHyokCvsBuilder(std::optional<HyokClientIdentity> identity, net::ClientOptions options = {});

// CvsRouter routes each Rewrap by scope.org(): it reads the organisation
// record (store::Store::GetOrganization) on first use and re-reads it at
// most every recheck_ms (by clock), so a changed tier or CVS route takes
// effect without a restart; a hyok organisation's client is built once per
// record version and rebuilt when cvs_url, cvs_ca_pem, cvs_identity or
// cvs_spki_sha256 change. Errors (whole call): kStoreUnavailable when the
// record cannot be read and none is cached; kCvsUnavailable when the
// organisation is unknown, its CVS client cannot be built, or its CVS is
// unreachable; else those of the port it routed to. The record is read
// outside the router's lock. Ping checks the ASTIS
// CVS only: one organisation's CVS outage must not make the edge unready
// (as for clusters; EdgeService::Ready). Borrows store, clock and
// astis_cvs, which must outlive it. Thread-safe; a call to a slow CVS holds
// no lock.
class CvsRouter final : public cvs::CvsPort {
 public:
  CvsRouter(store::Store& store, const Clock& clock, cvs::CvsPort& astis_cvs, HyokCvsBuilder hyok,
            int64_t recheck_ms = 5000);

  Result<std::vector<cvs::RewrapResult>> Rewrap(const cvs::VerifiedScope& scope, const X25519PublicKey& recipient,
                                                std::string_view session_id,
                                                std::span<const std::vector<uint8_t>> capsules) override;
  Status Ping() override;

 private:
  struct Route {
    std::string tier;                     // "" = no such organisation
    std::string fingerprint;              // the hyok record's CVS fields
    std::shared_ptr<cvs::CvsPort> hyok;   // null: standard, or not buildable
    Status build_error = OkStatus();
    int64_t checked_ms = 0;
  };
  // PortFor resolves scope's organisation to the port to call (kept alive
  // by the returned shared_ptr, or the ASTIS CVS as a non-owning pointer).
  Result<std::shared_ptr<cvs::CvsPort>> PortFor(const std::string& org);
  // PortOf is the port of a route (mu_ held).
  Result<std::shared_ptr<cvs::CvsPort>> PortOf(const Route& r);

  store::Store& store_;
  const Clock& clock_;
  cvs::CvsPort& astis_cvs_;
  HyokCvsBuilder hyok_;
  const int64_t recheck_ms_;
  std::mutex mu_;
  std::map<std::string, Route, std::less<>> routes_;
};

// RefreshingCvs is the embedded ASTIS CVS with Tier 1 key custody in a
// directory (cvs.org_keys_dir): before a rewrap it picks up key set files
// written since (by `astis org key create|rotate` or another edge on the
// same directory), at most every recheck_ms by clock
// (cvs::KeyDirectoryCustodian::Refresh). A refresh that fails keeps the sets
// already loaded and is reported on stderr once until one succeeds. Owns
// service; borrows clock and rng. Thread-safe.
class RefreshingCvs final : public cvs::CvsPort {
 public:
  RefreshingCvs(std::unique_ptr<cvs::CvsService> service, const std::string& dir, const Clock& clock, Random& rng,
                int64_t recheck_ms = 5000);

  // Start loads the directory once; errors as cvs::LoadOrgKeyDirectory.
  Status Start();

  Result<std::vector<cvs::RewrapResult>> Rewrap(const cvs::VerifiedScope& scope, const X25519PublicKey& recipient,
                                                std::string_view session_id,
                                                std::span<const std::vector<uint8_t>> capsules) override;
  Status Ping() override;
  // ActivePublicKey is cvs::CvsService::ActivePublicKey after the same
  // refresh as Rewrap, so a key created or rotated by `astis org key` is
  // served (and a retired one no longer) within recheck_ms.
  std::optional<capsule::OrgPublicKey> ActivePublicKey(std::string_view kid);

 private:
  // MaybeRefresh reloads the directory when recheck_ms has passed.
  void MaybeRefresh();
  std::unique_ptr<cvs::CvsService> service_;
  cvs::KeyDirectoryCustodian custodian_;
  const Clock& clock_;
  const int64_t recheck_ms_;
  std::atomic<int64_t> last_refresh_ms_{0};
  std::atomic<bool> refresh_failing_{false};
};

}  // namespace astis::edge
