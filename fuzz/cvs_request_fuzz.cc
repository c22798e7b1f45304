// libFuzzer target for the remote CVS's HTTP handler (cvs::CvsHttpHandler),
// in process over the real in-process CVS with a fresh org key: no network.
//
// Input layout: byte 0 picks the peer certificate (bit 0-1: 0 = the pinned
// edge certificate, 1 = another certificate, 2 = none), the method (bit 2:
// GET instead of POST) and the path (bits 3-4: rewrap, healthz, rewrap with a
// query, an unknown path). The rest is the body, in which $CAPSULE,
// $CAPSULE_OTHER (another namespace), $RECIPIENT (X25519 JWK) and
// $RECIPIENT_RAW (b64u key) are replaced by live values.
//
// Invariants (trap on violation): nothing but 403 without the pinned
// certificate; a 200 rewrap has one result per capsule, and a capsule whose
// binding is outside the request scope never gets a rewrapped key.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "capsule/capsule.h"
#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "crypto/random.h"
#include "crypto/sha256.h"
#include "crypto/x25519.h"
#include "cvs/cvs.h"
#include "cvs/remote.h"
#include "jose/jwk.h"
#include "net/http_server.h"

namespace {

using namespace astis;  // NOLINT(google-build-using-namespace): fuzz harness only

template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) __builtin_trap();  // harness setup failed
  return std::move(r).value();
}

std::string ReplaceAll(std::string s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

struct World {
  World() : clock(1'800'000'000) {
    Random& rng = DefaultRandom();
    auto org = Must(capsule::OrgPrivateKey::Generate(rng));
    const capsule::OrgPublicKey pub = org.public_key();
    service = std::make_unique<cvs::CvsService>(Must(capsule::OrgKeySet::Create(std::move(org))), rng);
    pinned = Sha256(std::string_view("edge client certificate"));
    other = Sha256(std::string_view("some other certificate"));
    handler = std::make_unique<cvs::CvsHttpHandler>(*service, std::vector<Sha256Digest>{pinned});
    auto seal = [&](capsule::Binding b) {
      return B64uEncode(Must(capsule::Seal(pub, b, AsBytes("fuzz"), rng, clock)).capsule().bytes());
    };
    capsule_good = seal({"prod-eu1", "payments", "api", "db", "password"});
    capsule_other = seal({"prod-eu1", "other-ns", "api", "db", "password"});
    auto recipient = Must(X25519PrivateKey::Generate(rng));
    recipient_jwk = DumpJson(jose::Jwk::FromX25519Public(recipient.public_key()).ToJson());
    recipient_raw = B64uEncode(recipient.public_key().bytes);
  }

  FakeClock clock;
  std::unique_ptr<cvs::CvsService> service;
  Sha256Digest pinned{}, other{};
  std::unique_ptr<cvs::CvsHttpHandler> handler;
  std::string capsule_good, capsule_other, recipient_jwk, recipient_raw;
};

// CheckScopes traps if a rewrapped key was returned for a capsule outside
// the request's scope, or if the result count differs from the request's.
void CheckScopes(std::string_view request_body, const std::string& response_body) {
  auto req = ParseJsonObject(request_body, JsonLimits{cvs::kMaxRewrapRequestBytes, 16});
  auto resp = ParseJsonObject(response_body);
  if (!req.ok() || !resp.ok()) __builtin_trap();  // the handler accepted both
  const Json& caps = (*req)["capsules"];
  const Json& scope = (*req)["scope"];
  const Json& results = (*resp)["results"];
  if (!caps.is_array() || !results.is_array() || caps.size() != results.size() || !scope.is_object()) {
    __builtin_trap();
  }
  for (size_t i = 0; i < caps.size(); ++i) {
    if (!results[i].contains("enc")) continue;
    auto bytes = B64uDecode(caps[i].get<std::string>());
    if (!bytes.ok()) __builtin_trap();
    auto cap = capsule::Capsule::Parse(std::span<const uint8_t>(*bytes));
    if (!cap.ok()) __builtin_trap();
    if (cap->binding().cluster != scope.value("cluster", "") || cap->binding().namespace_ != scope.value("namespace", "") ||
        cap->binding().service_account != scope.value("serviceAccount", "")) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();  // lives for the process
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (body.find('$') != std::string::npos) {
    body = ReplaceAll(std::move(body), "$CAPSULE_OTHER", world->capsule_other);
    body = ReplaceAll(std::move(body), "$CAPSULE", world->capsule_good);
    body = ReplaceAll(std::move(body), "$RECIPIENT_RAW", world->recipient_raw);
    body = ReplaceAll(std::move(body), "$RECIPIENT", world->recipient_jwk);
  }

  net::ServerRequest req;
  const int cert = sel & 3;
  if (cert == 0) req.peer_cert_sha256 = world->pinned;
  if (cert == 1) req.peer_cert_sha256 = world->other;
  req.method = (sel & 4) != 0 ? "GET" : "POST";
  switch ((sel >> 3) & 3) {
    case 0: req.path = std::string(cvs::kRewrapPath); break;
    case 1: req.path = std::string(cvs::kHealthzPath); break;
    case 2: req.path = std::string(cvs::kRewrapPath); req.query = "x=1"; break;
    default: req.path = "/cvs/v1/other"; break;
  }
  req.target = req.query.empty() ? req.path : req.path + "?" + req.query;
  req.body = body;

  const net::ServerResponse resp = world->handler->Handle(req);
  // docs/cvs.md: only the pinned edge certificate is served.
  if (cert != 0 && resp.status != 403) __builtin_trap();
  if (resp.status == 200 && req.path == cvs::kRewrapPath) CheckScopes(body, resp.body);
  return 0;
}
