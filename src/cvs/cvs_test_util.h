// Test-only helpers shared by the cvs tests: org keys, sealed values bound
// to a scope, and a pod that opens rewrapped DEKs. Not linked into astis_cvs.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "capsule/binding.h"
#include "capsule/capsule.h"
#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "cvs/cvs.h"

namespace astis::cvs::testing {

// NewOrgKey generates an org key (test failure on error).
inline capsule::OrgPrivateKey NewOrgKey() {
  auto k = capsule::OrgPrivateKey::Generate(DefaultRandom());
  EXPECT_TRUE(k.ok());
  return std::move(k).value();
}

// SetOf builds a key set (test failure on error).
inline capsule::OrgKeySet SetOf(capsule::OrgPrivateKey active, std::vector<capsule::OrgPrivateKey> retired = {}) {
  auto s = capsule::OrgKeySet::Create(std::move(active), std::move(retired));
  EXPECT_TRUE(s.ok());
  return std::move(s).value();
}

// BindingFor is a binding inside scope for Secret "db-creds", data key key.
inline capsule::Binding BindingFor(const VerifiedScope& scope, std::string key = "password") {
  return capsule::Binding{scope.cluster(), scope.namespace_(), scope.service_account(), "db-creds", std::move(key)};
}

// SealTo seals plaintext to pub under binding.
inline capsule::SealedValue SealTo(const capsule::OrgPublicKey& pub, const capsule::Binding& binding,
                                   std::string_view plaintext, Clock& clock) {
  auto v = capsule::Seal(pub, binding, AsBytes(plaintext), DefaultRandom(), clock);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return std::move(v).value();
}

// CapsuleBytes returns the exact capsule bytes of a sealed value.
inline std::vector<uint8_t> CapsuleBytes(const capsule::SealedValue& v) {
  const std::string& b = v.capsule().bytes();
  return std::vector<uint8_t>(b.begin(), b.end());
}

// Pod is the pod side: a recipient key that opens rewrapped DEKs and
// decrypts values, as the SDK does.
struct Pod {
  Pod() {
    auto k = X25519PrivateKey::Generate(DefaultRandom());
    EXPECT_TRUE(k.ok());
    key = std::make_unique<X25519PrivateKey>(std::move(k).value());
  }
  const X25519PublicKey& recipient() const { return key->public_key(); }
  // Decrypt opens a rewrap result and decrypts value with it; on failure it
  // returns a marker naming the failing step.
  std::string Decrypt(const capsule::SealedValue& value, const RewrapResult& r, std::string_view session) const {
    if (r.code != Code::kOk) return "<code " + std::string(WireName(r.code)) + ">";
    auto dek = capsule::OpenRewrapped(*key, value.capsule().hash(), session, r.enc, r.ct);
    if (!dek.ok()) return "<open failed>";
    auto pt = capsule::DecryptValue(*dek, value);
    if (!pt.ok()) return "<decrypt failed>";
    return std::string(pt->RevealString());
  }
  std::unique_ptr<X25519PrivateKey> key;
};

}  // namespace astis::cvs::testing
