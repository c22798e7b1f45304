// libFuzzer target for the JOSE parsers of untrusted input: compact JWS,
// JWK, JWK Set, and DPoP proofs (with fixed expectations). It must never
// crash, leak or trip ASan/UBSan; every outcome is a Result.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "jose/dpop.h"
#include "jose/jwk.h"
#include "jose/jws.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  auto jws = astis::jose::UnverifiedJws::Parse(input);
  if (jws.ok()) {
    // Exercise verification with the header's own jwk, when it parses.
    if (const astis::Json* jwk_json = jws->jwk(); jwk_json != nullptr) {
      auto jwk = astis::jose::Jwk::Parse(*jwk_json);
      if (jwk.ok()) (void)astis::jose::VerifyJws(*jws, *jwk);
    }
  }

  auto jwk = astis::jose::Jwk::ParseText(input);
  if (jwk.ok()) {
    (void)jwk->Thumbprint();
    (void)jwk->ToJson(true);
  }

  auto set = astis::jose::JwkSet::Parse(input);
  if (set.ok() && jws.ok()) (void)astis::jose::VerifyJwsWithJwkSet(*jws, *set);

  astis::jose::DpopExpectations expect;
  expect.htm = "POST";
  expect.htu = "https://edge.example.com/v1/unwrap";
  expect.now = 1764115200;
  expect.ath = std::string("fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
  expect.nonce_valid = [](std::string_view n) { return n == "nonce-1"; };
  (void)astis::jose::VerifyDpopProof(input, expect);
  expect.allow_es256_for_tests = true;
  expect.ath.reset();
  expect.nonce_valid = nullptr;
  (void)astis::jose::VerifyDpopProof(input, expect);

  (void)astis::jose::NormalizeHtu(input);
  return 0;
}
