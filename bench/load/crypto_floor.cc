// MeasureCryptoFloor: the primitives of docs/performance.md "The crypto
// floor", timed with the same calls the edge and CVS make (jose::VerifyJws, Ed25519Verify,
// HpkeOpenBase / HpkeSealBase with a capsule-sized aad and a 32-byte DEK).
#include "load/crypto_floor.h"

#include <functional>
#include <string>
#include <vector>

#include "common/json.h"
#include "crypto/ed25519.h"
#include "crypto/hpke.h"
#include "crypto/public_key.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "load/proc_stats.h"

namespace astis::bench {
namespace {

// TimeUs runs op repeatedly for about `each` of this thread's CPU time and
// returns the mean CPU cost in microseconds, or op's first error. CPU time,
// not wall time, so a busy machine (other processes, the load itself)
// does not inflate the floor.
Result<double> TimeUs(std::chrono::milliseconds each, const std::function<Status()>& op) {
  for (int i = 0; i < 3; ++i) ASTIS_RETURN_IF_ERROR(op());  // warm-up
  uint64_t n = 0;
  const double start = ThreadCpuSeconds();
  const double end = start + static_cast<double>(each.count()) / 1000;
  double now = start;
  do {
    for (int i = 0; i < 8; ++i) ASTIS_RETURN_IF_ERROR(op());
    n += 8;
    now = ThreadCpuSeconds();
  } while (now < end);
  return (now - start) * 1e6 / static_cast<double>(n);
}

// TokenVerifyUs signs a token with the real projected-token claim shape and
// times parse + verify against its pinned JWK.
Result<double> TokenVerifyUs(std::chrono::milliseconds each, const SigningKey& key, SignatureAlg alg) {
  Json members = key.PublicJwkMembers();
  members["kid"] = "k1";
  ASTIS_ASSIGN_OR_RETURN(jose::Jwk jwk, jose::Jwk::Parse(members));
  const std::string claims =
      R"({"aud":["astis"],"exp":1764118800,"iat":1764115200,"iss":"https://kubernetes.default.svc",)"
      R"("kubernetes.io":{"namespace":"bench","pod":{"name":"bench-pod-0","uid":"6f1c"},)"
      R"("serviceaccount":{"name":"loadgen"}},"nbf":1764115200,"sub":"system:serviceaccount:bench:loadgen"})";
  const std::string token = jose::SignCompactJws(Json{{"alg", std::string(SignatureAlgName(alg))}, {"kid", "k1"}},
                                                 claims, key, alg);
  return TimeUs(each, [&]() -> Status {
    ASTIS_ASSIGN_OR_RETURN(jose::UnverifiedJws jws, jose::UnverifiedJws::Parse(token));
    return jose::VerifyJws(jws, jwk).status();
  });
}

}  // namespace

Result<CryptoFloor> MeasureCryptoFloor(std::chrono::milliseconds each) {
  Random& rng = DefaultRandom();
  CryptoFloor f;
  ASTIS_ASSIGN_OR_RETURN(SigningKey rsa, SigningKey::GenerateRsa(2048));
  ASTIS_ASSIGN_OR_RETURN(f.rs256_verify_us, TokenVerifyUs(each, rsa, SignatureAlg::kRs256));
  ASTIS_ASSIGN_OR_RETURN(SigningKey ec, SigningKey::GenerateEc(PublicKeyKind::kEcP256));
  ASTIS_ASSIGN_OR_RETURN(f.es256_verify_us, TokenVerifyUs(each, ec, SignatureAlg::kEs256));

  ASTIS_ASSIGN_OR_RETURN(Ed25519PrivateKey ed, Ed25519PrivateKey::Generate(rng));
  std::vector<uint8_t> msg(300, 0x5a);  // about a DPoP signing input
  const auto sig = ed.Sign(msg);
  ASTIS_ASSIGN_OR_RETURN(f.ed25519_verify_us,
                         TimeUs(each, [&]() { return Ed25519Verify(ed.public_key(), msg, sig); }));

  ASTIS_ASSIGN_OR_RETURN(f.x25519_keygen_us,
                         TimeUs(each, [&]() { return X25519PrivateKey::Generate(rng).status(); }));
  ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey a, X25519PrivateKey::Generate(rng));
  ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey b, X25519PrivateKey::Generate(rng));
  ASTIS_ASSIGN_OR_RETURN(f.x25519_agree_us, TimeUs(each, [&]() { return a.Agree(b.public_key()).status(); }));

  // HPKE as the CVS runs it: info "astis capsule v1" / "astis rewrap v1",
  // aad the binding (~60 bytes) or CAPSULE_HASH || session id (~60 bytes).
  const std::vector<uint8_t> dek(32, 0x11), aad(60, 0x22);
  const std::string info = "astis capsule v1";
  const std::span<const uint8_t> info_bytes(reinterpret_cast<const uint8_t*>(info.data()), info.size());
  ASTIS_ASSIGN_OR_RETURN(HpkeSealed sealed,
                         HpkeSealBase(HpkeAeadId::kAes256Gcm, a.public_key(), info_bytes, aad, dek, rng));
  ASTIS_ASSIGN_OR_RETURN(f.hpke_open_us, TimeUs(each, [&]() {
                           return HpkeOpenBase(HpkeAeadId::kAes256Gcm, sealed.enc, a, info_bytes, aad, sealed.ct)
                               .status();
                         }));
  ASTIS_ASSIGN_OR_RETURN(f.hpke_seal_us, TimeUs(each, [&]() {
                           return HpkeSealBase(HpkeAeadId::kAes256Gcm, b.public_key(), info_bytes, aad, dek, rng)
                               .status();
                         }));
  return f;
}

}  // namespace astis::bench
