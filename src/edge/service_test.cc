// EdgeService tests: one named test per refusal of docs/protocol.md §4-7, each
// through Handle() with real RS256/ES256 tokens, real Ed25519 DPoP proofs, an
// in-memory SQLite store, a fake Kubernetes API and the in-process CVS.
#include "edge/service.h"

#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "edge/testing/edge_harness.h"

namespace astis::edge {
namespace {

using testing::EdgeHarness;
using testing::kBadDigest;
using testing::kBase;
using testing::kCluster;
using testing::kNow;
using testing::kNs;
using testing::kPod;
using testing::kSa;
using testing::kUid;
using testing::Must;
using Call = EdgeHarness::Call;

// ExpectRefused checks the status, that the body is exactly
// {"error":{"code","message"}} (so no session, result, enc or ct leaked) and
// that the response carries a DPoP-Nonce.
void ExpectRefused(const net::ServerResponse& r, int status, std::string_view code) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = ParseJson(r.body);
  ASSERT_TRUE(j.ok()) << r.body;
  ASSERT_EQ(j->size(), 1u) << r.body;
  ASSERT_TRUE(j->contains("error")) << r.body;
  const Json& e = (*j)["error"];
  ASSERT_EQ(e.size(), 2u) << r.body;
  EXPECT_EQ(e.value("code", ""), code) << r.body;
  EXPECT_FALSE(e.value("message", "").empty());
  EXPECT_TRUE(net::FindHeader(r.headers, "DPoP-Nonce").has_value());
}

std::string Header(const net::ServerResponse& r, std::string_view name) {
  return net::FindHeader(r.headers, name).value_or("");
}

class EdgeServiceTest : public ::testing::Test {
 protected:
  // Happy path of establishing + unwrapping one sealed value; returns the response.
  net::ServerResponse UnwrapOne(const std::string& session, const capsule::SealedValue& v) {
    return h.Send(h.UnwrapCall(session, {B64uEncode(v.capsule().bytes())}));
  }
  // TokenRefused asserts that a token with these claims is token_invalid.
  void ExpectTokenRefused(const std::string& token) {
    Call c = h.EstablishCall();
    c.token = token;
    ExpectRefused(h.Send(c), 401, "token_invalid");
  }
  void ExpectPodRefused(const kube::PodView& pod, std::string_view code) {
    h.kube_main.PutPod(pod);
    ExpectRefused(h.Send(h.EstablishCall()), 403, code);
  }

  EdgeHarness h;
};

// ------------------------------------------------------------------ happy path

TEST_F(EdgeServiceTest, HappyPathEstablishUnwrap) {
  auto resp = h.Send(h.EstablishCall());
  ASSERT_EQ(resp.status, 201) << resp.body;
  Json j = Must(ParseJson(resp.body));
  const std::string session = j["session"];
  EXPECT_GE(Must(B64uDecode(session)).size(), 16u);
  EXPECT_EQ(j["cluster"], kCluster);
  EXPECT_EQ(j["pod"], (Json{{"namespace", kNs}, {"name", kPod}, {"uid", kUid}}));
  EXPECT_EQ(j["expiresAt"], FormatRfc3339(kNow + 900));
  EXPECT_FALSE(Header(resp, "DPoP-Nonce").empty());
  EXPECT_TRUE(Header(resp, "Astis-Audit-Mode").empty());

  capsule::SealedValue v = h.Seal("correct horse battery staple");
  auto u = UnwrapOne(session, v);
  ASSERT_EQ(u.status, 200) << u.body;
  Json results = Must(ParseJson(u.body))["results"];
  ASSERT_EQ(results.size(), 1u);
  auto enc = Must(B64uDecode(results[0]["enc"].get<std::string>()));
  auto ct = Must(B64uDecode(results[0]["ct"].get<std::string>()));
  // The pod opens the rewrapped DEK and decrypts the value sealed by capsule::Seal.
  SecretBytes dek = Must(capsule::OpenRewrapped(*h.pod_recipient, v.capsule().hash(), session, enc, ct));
  SecretBytes pt = Must(capsule::DecryptValue(dek, v));
  EXPECT_EQ(pt.RevealString(), "correct horse battery staple");
  // The edge never saw the DEK in clear: nothing in the response is the DEK.
  EXPECT_EQ(u.body.find(B64uEncode(dek.Reveal())), std::string::npos);
  // Audit: establish and unwrap allowed, with the capsule's kid.
  auto events = h.audit_sink.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, "session.establish");
  EXPECT_EQ(events[1].event, "unwrap");
  EXPECT_EQ(events[1].decision, audit::Decision::kAllow);
  ASSERT_EQ(events[1].capsules.size(), 1u);
  EXPECT_EQ(events[1].capsules[0].kid, h.org_public->kid());
}

TEST_F(EdgeServiceTest, TokenEs256Accepted) {
  Call c = h.EstablishCall();
  c.token = h.Token(h.Claims(), h.ec.get(), "ec-1", SignatureAlg::kEs256);
  EXPECT_EQ(h.Send(c).status, 201);
}

TEST_F(EdgeServiceTest, ExpiresAtCappedByTokenExp) {
  Json claims = h.Claims();
  claims["exp"] = kNow + 100;
  Call c = h.EstablishCall();
  c.token = h.Token(claims);
  auto resp = h.Send(c);
  ASSERT_EQ(resp.status, 201) << resp.body;
  EXPECT_EQ(Must(ParseJson(resp.body))["expiresAt"], FormatRfc3339(kNow + 100));
}

TEST_F(EdgeServiceTest, UnwrapResultsInRequestOrder) {
  const std::string session = h.Establish();
  auto a = h.Seal("first");
  auto b = h.Seal("second", {kCluster, kNs, kSa, "db", "user"});
  auto u = h.Send(h.UnwrapCall(session, {B64uEncode(a.capsule().bytes()), "!!", B64uEncode(b.capsule().bytes())}));
  ASSERT_EQ(u.status, 200) << u.body;
  Json results = Must(ParseJson(u.body))["results"];
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[1]["error"]["code"], "capsule_invalid");
  auto open = [&](const Json& r, const capsule::SealedValue& v) {
    SecretBytes dek = Must(capsule::OpenRewrapped(*h.pod_recipient, v.capsule().hash(), session,
                                                  Must(B64uDecode(r["enc"].get<std::string>())),
                                                  Must(B64uDecode(r["ct"].get<std::string>()))));
    return std::string(Must(capsule::DecryptValue(dek, v)).RevealString());
  };
  EXPECT_EQ(open(results[0], a), "first");
  EXPECT_EQ(open(results[2], b), "second");
}

// ------------------------------------------------------------------ gate 1

TEST_F(EdgeServiceTest, ApiKeyMissing) {
  Call c = h.EstablishCall();
  c.omit_api_key = true;
  ExpectRefused(h.Send(c), 401, "api_key_invalid");
}

TEST_F(EdgeServiceTest, ApiKeyUnknown) {
  GeneratedApiKey other = Must(GenerateApiKey(DefaultRandom()));
  Call c = h.EstablishCall();
  c.api_key = std::string(other.header_value.RevealString());
  ExpectRefused(h.Send(c), 401, "api_key_invalid");
}

TEST_F(EdgeServiceTest, ApiKeyWrongSecret) {
  Call c = h.EstablishCall();
  c.api_key = "astis_" + h.api_key.id + "_" + std::string(43, 'A');
  ExpectRefused(h.Send(c), 401, "api_key_invalid");
}

TEST_F(EdgeServiceTest, ApiKeyRevoked) {
  ASSERT_TRUE(h.store->RevokeApiKey(h.api_key.id, kNow - 1).ok());
  ExpectRefused(h.Send(h.EstablishCall()), 401, "api_key_invalid");
}

// AddKey stores a key with the given scope/expiry and returns its header value.
std::string AddKey(EdgeHarness& h, std::string cluster, std::string ns, std::string sa, int64_t expires_at = 0) {
  GeneratedApiKey k = Must(GenerateApiKey(DefaultRandom()));
  store::ApiKey rec;
  rec.id = k.id;
  rec.hash.assign(k.hash.begin(), k.hash.end());
  rec.cluster = std::move(cluster);
  rec.namespace_ = std::move(ns);
  rec.service_account = std::move(sa);
  rec.created_at = kNow - 1000;
  rec.expires_at = expires_at;
  EXPECT_TRUE(h.store->CreateApiKey(rec).ok());
  return std::string(k.header_value.RevealString());
}

TEST_F(EdgeServiceTest, ApiKeyExpired) {
  Call c = h.EstablishCall();
  c.api_key = AddKey(h, kCluster, kNs, kSa, kNow - 1);
  ExpectRefused(h.Send(c), 401, "api_key_invalid");
}

TEST_F(EdgeServiceTest, ApiKeyOtherNamespace) {
  Call c = h.EstablishCall();
  c.api_key = AddKey(h, kCluster, "billing", kSa);
  ExpectRefused(h.Send(c), 403, "scope_mismatch");
}

TEST_F(EdgeServiceTest, ApiKeyOtherSa) {
  Call c = h.EstablishCall();
  c.api_key = AddKey(h, kCluster, kNs, "worker");
  ExpectRefused(h.Send(c), 403, "scope_mismatch");
}

TEST_F(EdgeServiceTest, ApiKeyOtherCluster) {
  Call c = h.EstablishCall();
  c.api_key = AddKey(h, testing::kOtherCluster, kNs, kSa);
  ExpectRefused(h.Send(c), 403, "scope_mismatch");
}

TEST_F(EdgeServiceTest, ApiKeyTwoHeadersRefused) {
  net::ServerRequest req = h.Build(h.EstablishCall());
  req.headers.emplace_back("X-Astis-Api-Key", std::string(h.api_key.header_value.RevealString()));
  ExpectRefused(h.service->Handle(req), 401, "api_key_invalid");
}

// ------------------------------------------------------------------ gate 2

TEST_F(EdgeServiceTest, TokenMissing) {
  Call c = h.EstablishCall();
  c.omit_token = true;
  ExpectRefused(h.Send(c), 401, "token_invalid");
}

TEST_F(EdgeServiceTest, TokenWrongIssuer) {
  Json claims = h.Claims();
  claims["iss"] = "https://evil.example.com";
  ExpectTokenRefused(h.Token(claims));
}

TEST_F(EdgeServiceTest, TokenWrongAudience) {
  Json claims = h.Claims();
  claims["aud"] = Json::array({"https://kubernetes.default.svc"});
  ExpectTokenRefused(h.Token(claims));
}

TEST_F(EdgeServiceTest, TokenExpired) {
  Json claims = h.Claims();
  claims["exp"] = kNow - 61;
  ExpectTokenRefused(h.Token(claims));
}

TEST_F(EdgeServiceTest, TokenNotYetValid) {
  Json claims = h.Claims();
  claims["nbf"] = kNow + 120;
  ExpectTokenRefused(h.Token(claims));
}

TEST_F(EdgeServiceTest, TokenUnknownKid) {
  ExpectTokenRefused(h.Token(h.Claims(), h.rsa, "rsa-2"));
}

TEST_F(EdgeServiceTest, TokenAlgNone) {
  const std::string header = B64uEncode(DumpJson(Json{{"alg", "none"}, {"kid", "rsa-1"}}));
  const std::string payload = B64uEncode(DumpJson(h.Claims()));
  ExpectTokenRefused(header + "." + payload + ".");
  ExpectTokenRefused(header + "." + payload + "." + B64uEncode(std::string("x")));
}

TEST_F(EdgeServiceTest, TokenHs256WithPublicKey) {
  // The classic confusion attack: HMAC keyed with the public key's JWKS text.
  const std::string header = B64uEncode(DumpJson(Json{{"alg", "HS256"}, {"kid", "rsa-1"}}));
  const std::string input = header + "." + B64uEncode(DumpJson(h.Claims()));
  const std::string jwks = DumpJson(testing::Jwks(*h.rsa, "rsa-1"));
  const Sha256Digest mac = HmacSha256(AsBytes(jwks), AsBytes(input));
  ExpectTokenRefused(input + "." + B64uEncode(mac));
}

TEST_F(EdgeServiceTest, TokenNotPodBound) {
  Json claims = h.Claims();
  claims["kubernetes.io"].erase("pod");
  ExpectTokenRefused(h.Token(claims));
}

TEST_F(EdgeServiceTest, TokenOtherClusterKey) {
  // Signed by another cluster's key but claiming this cluster's issuer.
  ExpectTokenRefused(h.Token(h.Claims(), h.other.get(), "rsa-1", SignatureAlg::kEs256));
  ExpectTokenRefused(h.Token(h.Claims(), h.other.get(), "other-1", SignatureAlg::kEs256));
}

TEST_F(EdgeServiceTest, TokenSubMismatch) {
  Json claims = h.Claims();
  claims["sub"] = "system:serviceaccount:payments:admin";
  ExpectTokenRefused(h.Token(claims));
}

TEST_F(EdgeServiceTest, TokenTamperedSignature) {
  std::string token = h.Token();
  token[token.size() - 5] = token[token.size() - 5] == 'A' ? 'B' : 'A';
  ExpectTokenRefused(token);
}

// ------------------------------------------------------------------ gate 3

TEST_F(EdgeServiceTest, DpopMissing) {
  Call c = h.EstablishCall();
  c.omit_dpop = true;
  auto r = h.Send(c);
  ExpectRefused(r, 401, "dpop_invalid");
  EXPECT_EQ(Header(r, "WWW-Authenticate"), "DPoP error=\"invalid_dpop_proof\"");
}

TEST_F(EdgeServiceTest, DpopTwoHeaders) {
  Call c = h.EstablishCall();
  net::ServerRequest req = h.Build(c);
  req.headers.emplace_back("DPoP", h.Proof(c, h.Token()));
  ExpectRefused(h.service->Handle(req), 401, "dpop_invalid");
}

// SignedProof builds a proof with a custom header (for typ/jwk tests).
std::string SignedProof(EdgeHarness& h, const Call& c, Json header) {
  Json payload{{"jti", Must(jose::NewDpopJti(DefaultRandom()))}, {"htm", c.method},
               {"htu", std::string(kBase) + c.path}, {"iat", kNow}, {"ath", jose::DpopHash(h.Token())},
               {"nonce", h.CurrentNonce()}, {"bh", jose::DpopHash(c.body)}};
  return jose::SignCompactJws(header, DumpJson(payload), *h.pod_dpop);
}

TEST_F(EdgeServiceTest, DpopCustomHeaderControlAccepted) {
  // Positive control for the hand-built proofs below: the correct header passes.
  Call c = h.EstablishCall();
  c.dpop = SignedProof(h, c, Json{{"typ", "dpop+jwt"}, {"alg", "EdDSA"},
                                  {"jwk", jose::Jwk::FromEd25519Public(h.pod_dpop->public_key()).ToJson()}});
  EXPECT_EQ(h.Send(c).status, 201);
}

TEST_F(EdgeServiceTest, DpopWrongTyp) {
  Call c = h.EstablishCall();
  c.dpop = SignedProof(h, c, Json{{"typ", "JWT"}, {"alg", "EdDSA"},
                                  {"jwk", jose::Jwk::FromEd25519Public(h.pod_dpop->public_key()).ToJson()}});
  ExpectRefused(h.Send(c), 401, "dpop_invalid");
}

TEST_F(EdgeServiceTest, DpopPrivateKeyInHeader) {
  Call c = h.EstablishCall();
  Json jwk = jose::Jwk::FromEd25519Public(h.pod_dpop->public_key()).ToJson();
  jwk["d"] = B64uEncode(std::string(32, 'k'));
  c.dpop = SignedProof(h, c, Json{{"typ", "dpop+jwt"}, {"alg", "EdDSA"}, {"jwk", jwk}});
  ExpectRefused(h.Send(c), 401, "dpop_invalid");
}

TEST_F(EdgeServiceTest, DpopWrongHtm) {
  Call c = h.EstablishCall();
  c.htm = "GET";
  ExpectRefused(h.Send(c), 401, "dpop_invalid");
}

TEST_F(EdgeServiceTest, DpopWrongHtu) {
  Call c = h.EstablishCall();
  c.htu = "https://evil.example.com/v1/sessions";
  ExpectRefused(h.Send(c), 401, "dpop_invalid");
  c.htu = std::string(kBase) + "/v1/unwrap";
  ExpectRefused(h.Send(c), 401, "dpop_invalid");
}

TEST_F(EdgeServiceTest, DpopStaleIat) {
  Call c = h.EstablishCall();
  c.iat = kNow - 61;
  ExpectRefused(h.Send(c), 401, "dpop_invalid");
  c.iat = kNow + 61;
  ExpectRefused(h.Send(c), 401, "dpop_invalid");
}

TEST_F(EdgeServiceTest, DpopReplayedJti) {
  Call c = h.EstablishCall();
  net::ServerRequest req = h.Build(c);
  EXPECT_EQ(h.service->Handle(req).status, 201);
  auto r = h.service->Handle(req);
  ExpectRefused(r, 401, "dpop_replay");
  EXPECT_EQ(Header(r, "WWW-Authenticate"), "DPoP error=\"invalid_dpop_proof\"");
}

TEST_F(EdgeServiceTest, DpopMissingAth) {
  Call c = h.EstablishCall();
  c.omit_ath = true;
  ExpectRefused(h.Send(c), 401, "dpop_invalid");
}

TEST_F(EdgeServiceTest, DpopWrongAth) {
  Call c = h.EstablishCall();
  c.ath = jose::DpopHash("some other token");
  ExpectRefused(h.Send(c), 401, "dpop_invalid");
}

TEST_F(EdgeServiceTest, DpopWrongBh) {
  Call c = h.EstablishCall();
  c.bh = jose::DpopHash("{\"recipient\":{}}");
  ExpectRefused(h.Send(c), 401, "dpop_invalid");
  c.bh.reset();
  c.omit_bh = true;
  ExpectRefused(h.Send(c), 401, "dpop_invalid");
}

TEST_F(EdgeServiceTest, MissingNonceGetsUseDpopNonce) {
  Call c = h.EstablishCall();
  c.omit_nonce = true;
  auto r = h.Send(c);
  ExpectRefused(r, 401, "use_dpop_nonce");
  EXPECT_EQ(Header(r, "WWW-Authenticate"), "DPoP error=\"use_dpop_nonce\"");
  // RFC 9449 §8: the client retries with the nonce from the response.
  c.omit_nonce = false;
  c.nonce = Header(r, "DPoP-Nonce");
  EXPECT_EQ(h.Send(c).status, 201);
}

TEST_F(EdgeServiceTest, StaleNonce) {
  const std::string old = h.CurrentNonce();
  h.clock.Advance(2 * h.config.dpop.nonce_window_seconds);
  Call c = h.EstablishCall();
  c.nonce = old;
  ExpectRefused(h.Send(c), 401, "use_dpop_nonce");
}

TEST_F(EdgeServiceTest, NonceSharedAcrossReplicas) {
  // A second EdgeService over the same store (another replica) accepts the first's nonce.
  const std::string nonce = h.CurrentNonce();
  auto first = std::move(h.service);
  h.MakeService();
  Call c = h.EstablishCall();
  c.nonce = nonce;
  EXPECT_EQ(h.Send(c).status, 201);
}

// ------------------------------------------------------------------ sessions

TEST_F(EdgeServiceTest, SecondEnrollmentPinned) {
  h.Establish();
  Ed25519PrivateKey attacker = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  Call c = h.EstablishCall();
  c.dpop_key = &attacker;
  ExpectRefused(h.Send(c), 409, "credential_pinned");
}

// ------------------------------------------------- pin release on restart
// docs/edge.md "Restarted containers": gate 4's fresh read of the pod shows
// a container restarted since the pin was taken, so the holder's key died
// with its process and a new key may take the pin.

TEST_F(EdgeServiceTest, RestartReleasesPinForNewKey) {
  const std::string first = h.Establish();
  kube::PodView restarted = EdgeHarness::GoodPod();
  restarted.container_statuses[0].restart_count = 1;
  restarted.container_statuses[0].container_id = "containerd://new";
  h.kube_main.PutPod(restarted);
  Ed25519PrivateKey next = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  Call c = h.EstablishCall();
  c.dpop_key = &next;
  auto resp = h.Send(c);
  ASSERT_EQ(resp.status, 201) << resp.body;
  const std::string second = Must(ParseJson(resp.body))["session"].get<std::string>();
  EXPECT_NE(second, first);
  auto old = Must(h.store->GetSession(first));
  EXPECT_TRUE(old.revoked);
  EXPECT_EQ(Must(h.store->GetSession(second)).pod_restarts, 1);
  // The dead process's key no longer opens anything, and the new pin holds.
  ExpectRefused(UnwrapOne(first, h.Seal("x")), 401, "session_invalid");
  ExpectRefused(h.Send(h.EstablishCall()), 409, "credential_pinned");
  bool revoke_line = false;
  for (const auto& e : h.audit_sink.events()) {
    if (e.event == "session.revoke") {
      revoke_line = true;
      EXPECT_EQ(e.decision, audit::Decision::kDeny);
      EXPECT_EQ(e.code, Code::kSessionInvalid);
      EXPECT_NE(e.reason.find("container restarted"), std::string::npos) << e.reason;
      EXPECT_NE(e.reason.find(first), std::string::npos) << e.reason;
      EXPECT_EQ(e.pod_uid, kUid);
    }
  }
  EXPECT_TRUE(revoke_line);
}

TEST_F(EdgeServiceTest, InitContainerRestartAlsoReleasesPin) {
  kube::PodView p = EdgeHarness::GoodPod();
  p.init_containers.push_back({"proxy", "registry.example.com/app:1.0"});
  p.init_container_statuses.push_back({"proxy", "registry.example.com/app:1.0",
                                       "registry.example.com/app@" + testing::kGoodDigest});
  h.kube_main.PutPod(p);
  h.Establish();
  p.init_container_statuses[0].restart_count = 4;  // a sidecar restarted: the edge cannot tell which container
  h.kube_main.PutPod(p);
  Ed25519PrivateKey next = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  Call c = h.EstablishCall();
  c.dpop_key = &next;
  EXPECT_EQ(h.Send(c).status, 201);
}

TEST_F(EdgeServiceTest, NoRestartPinStillHolds) {
  kube::PodView p = EdgeHarness::GoodPod();
  p.container_statuses[0].restart_count = 3;  // restarts before the pin was taken do not count
  h.kube_main.PutPod(p);
  h.Establish();
  p.resource_version = "changed";  // an unrelated change
  h.kube_main.PutPod(p);
  Ed25519PrivateKey attacker = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  Call c = h.EstablishCall();
  c.dpop_key = &attacker;
  ExpectRefused(h.Send(c), 409, "credential_pinned");
  // A read showing fewer restarts (another pod's, an older answer) never releases.
  p.container_statuses[0].restart_count = 2;
  h.kube_main.PutPod(p);
  ExpectRefused(h.Send(c), 409, "credential_pinned");
}

TEST_F(EdgeServiceTest, LiveHolderRenewalRecordsRestarts) {
  const std::string first = h.Establish();
  kube::PodView p = EdgeHarness::GoodPod();
  p.init_containers.push_back({"proxy", "registry.example.com/app:1.0"});
  p.init_container_statuses.push_back({"proxy", "registry.example.com/app:1.0",
                                       "registry.example.com/app@" + testing::kGoodDigest, 1});
  h.kube_main.PutPod(p);
  // The holder renews after a sidecar restart: it outlived it, so that restart
  // no longer releases its pin.
  h.clock.Advance(10);
  auto renewed = h.Send(h.EstablishCall());
  ASSERT_EQ(renewed.status, 201) << renewed.body;
  EXPECT_EQ(Must(ParseJson(renewed.body))["session"], first);
  EXPECT_EQ(Must(h.store->GetSession(first)).pod_restarts, 1);
  Ed25519PrivateKey attacker = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  Call c = h.EstablishCall();
  c.dpop_key = &attacker;
  ExpectRefused(h.Send(c), 409, "credential_pinned");
}

TEST_F(EdgeServiceTest, RestartReleaseAppliesInAuditMode) {
  store::Cluster cl = Must(h.store->GetCluster(astis::store::kDefaultOrg, kCluster));
  cl.mode = "audit";
  ASSERT_TRUE(h.store->PutCluster(cl).ok());
  h.Establish();
  kube::PodView p = EdgeHarness::GoodPod();
  p.container_statuses[0].restart_count = 1;
  h.kube_main.PutPod(p);
  Ed25519PrivateKey next = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  Call c = h.EstablishCall();
  c.dpop_key = &next;
  EXPECT_EQ(h.Send(c).status, 201);
}

TEST_F(EdgeServiceTest, ReplacedPodRestartsDoNotReleasePin) {
  store::Cluster cl = Must(h.store->GetCluster(astis::store::kDefaultOrg, kCluster));
  cl.mode = "audit";  // audit mode lets the request reach the pin with a would_deny
  ASSERT_TRUE(h.store->PutCluster(cl).ok());
  h.Establish();
  kube::PodView p = EdgeHarness::GoodPod();
  p.uid = "another-uid";  // a pod of that name with another UID: not the token's pod
  p.container_statuses[0].restart_count = 7;
  h.kube_main.PutPod(p);
  Ed25519PrivateKey next = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  Call c = h.EstablishCall();
  c.dpop_key = &next;
  ExpectRefused(h.Send(c), 409, "credential_pinned");
}

TEST_F(EdgeServiceTest, RestartReleaseAuditFailureRefuses) {
  h.Establish();
  kube::PodView p = EdgeHarness::GoodPod();
  p.container_statuses[0].restart_count = 1;
  h.kube_main.PutPod(p);
  Ed25519PrivateKey next = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  Call c = h.EstablishCall();
  c.dpop_key = &next;
  h.audit_sink.SetFailing(true);
  ExpectRefused(h.Send(c), 500, "internal_error");
  h.audit_sink.SetFailing(false);
}

TEST_F(EdgeServiceTest, SameKeyReestablishExtends) {
  const std::string first = h.Establish();
  h.clock.Advance(300);
  auto resp = h.Send(h.EstablishCall());
  ASSERT_EQ(resp.status, 201) << resp.body;
  Json j = Must(ParseJson(resp.body));
  EXPECT_EQ(j["session"], first);
  EXPECT_EQ(j["expiresAt"], FormatRfc3339(kNow + 300 + 900));
}

TEST_F(EdgeServiceTest, EnrollAfterSessionEndsAllowsNewKey) {
  h.Establish();
  h.clock.Advance(901);
  Ed25519PrivateKey next = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  Call c = h.EstablishCall();
  c.dpop_key = &next;
  EXPECT_EQ(h.Send(c).status, 201);
}

TEST_F(EdgeServiceTest, UnwrapWithOtherKeySessionInvalid) {
  const std::string session = h.Establish();
  Ed25519PrivateKey attacker = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  Call c = h.UnwrapCall(session, {B64uEncode(h.Seal("x").capsule().bytes())});
  c.dpop_key = &attacker;
  ExpectRefused(h.Send(c), 401, "session_invalid");
}

TEST_F(EdgeServiceTest, UnwrapUnknownSessionInvalid) {
  h.Establish();
  ExpectRefused(h.Send(h.UnwrapCall(B64uEncode(std::string(16, 's')), {B64uEncode(h.Seal("x").capsule().bytes())})),
                401, "session_invalid");
}

TEST_F(EdgeServiceTest, UnwrapExpiredSessionInvalid) {
  const std::string session = h.Establish();
  h.clock.Advance(901);
  ExpectRefused(h.Send(h.UnwrapCall(session, {B64uEncode(h.Seal("x").capsule().bytes())})), 401, "session_invalid");
}

TEST_F(EdgeServiceTest, UnwrapFromOtherPodSessionInvalid) {
  const std::string session = h.Establish();
  kube::PodView other = EdgeHarness::GoodPod();
  other.name = "api-other";
  other.uid = "uid-other";
  h.kube_main.PutPod(other);
  Json claims = h.Claims();
  claims["kubernetes.io"]["pod"] = {{"name", "api-other"}, {"uid", "uid-other"}};
  Call c = h.UnwrapCall(session, {B64uEncode(h.Seal("x").capsule().bytes())});
  c.token = h.Token(claims);
  ExpectRefused(h.Send(c), 401, "session_invalid");
}

// RotateCall builds a rotate request moving the pin to new_key.
Call RotateCall(EdgeHarness& h, const std::string& session, const Ed25519PrivateKey& new_key,
                const X25519PrivateKey& new_recipient, std::optional<std::string> pop = std::nullopt) {
  const std::string old_jkt = jose::Jwk::FromEd25519Public(h.pod_dpop->public_key()).Thumbprint();
  if (!pop.has_value()) {
    pop = jose::SignCompactJws(Json{{"alg", "EdDSA"}},
                               DumpJson(Json{{"session", session}, {"prev", old_jkt}, {"iat", h.clock.NowUnix()}}),
                               new_key);
  }
  Call c;
  c.path = "/v1/sessions/rotate";
  c.body = DumpJson(Json{{"session", session},
                         {"key", jose::Jwk::FromEd25519Public(new_key.public_key()).ToJson()},
                         {"recipient", h.RecipientJwk(new_recipient)},
                         {"pop", *pop}});
  return c;
}

TEST_F(EdgeServiceTest, RotateMovesPin) {
  const std::string session = h.Establish();
  auto new_key = std::make_unique<Ed25519PrivateKey>(Must(Ed25519PrivateKey::Generate(DefaultRandom())));
  auto new_recipient = std::make_unique<X25519PrivateKey>(Must(X25519PrivateKey::Generate(DefaultRandom())));
  auto r = h.Send(RotateCall(h, session, *new_key, *new_recipient));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Must(ParseJson(r.body))["session"], session);
  // The new key unwraps, to the new recipient.
  h.pod_dpop = std::move(new_key);
  h.pod_recipient = std::move(new_recipient);
  auto v = h.Seal("rotated");
  auto u = UnwrapOne(session, v);
  ASSERT_EQ(u.status, 200) << u.body;
  Json res = Must(ParseJson(u.body))["results"][0];
  SecretBytes dek = Must(capsule::OpenRewrapped(*h.pod_recipient, v.capsule().hash(), session,
                                                Must(B64uDecode(res["enc"].get<std::string>())),
                                                Must(B64uDecode(res["ct"].get<std::string>()))));
  EXPECT_EQ(Must(capsule::DecryptValue(dek, v)).RevealString(), "rotated");
}

TEST_F(EdgeServiceTest, OldKeyRefusedAfterRotate) {
  const std::string session = h.Establish();
  Ed25519PrivateKey new_key = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  X25519PrivateKey new_recipient = Must(X25519PrivateKey::Generate(DefaultRandom()));
  ASSERT_EQ(h.Send(RotateCall(h, session, new_key, new_recipient)).status, 200);
  ExpectRefused(UnwrapOne(session, h.Seal("x")), 401, "session_invalid");
}

TEST_F(EdgeServiceTest, RotateWithoutNewKeyProofRefused) {
  const std::string session = h.Establish();
  Ed25519PrivateKey new_key = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  X25519PrivateKey new_recipient = Must(X25519PrivateKey::Generate(DefaultRandom()));
  const std::string old_jkt = jose::Jwk::FromEd25519Public(h.pod_dpop->public_key()).Thumbprint();
  // pop signed by the OLD key instead of the new one.
  const std::string by_old = jose::SignCompactJws(
      Json{{"alg", "EdDSA"}}, DumpJson(Json{{"session", session}, {"prev", old_jkt}, {"iat", kNow}}), *h.pod_dpop);
  ExpectRefused(h.Send(RotateCall(h, session, new_key, new_recipient, by_old)), 401, "dpop_invalid");
  // pop by the new key but naming the wrong previous key.
  const std::string wrong_prev = jose::SignCompactJws(
      Json{{"alg", "EdDSA"}}, DumpJson(Json{{"session", session}, {"prev", "x"}, {"iat", kNow}}), new_key);
  ExpectRefused(h.Send(RotateCall(h, session, new_key, new_recipient, wrong_prev)), 401, "dpop_invalid");
  // The pin did not move: the old key still unwraps.
  EXPECT_EQ(UnwrapOne(session, h.Seal("x")).status, 200);
}

// The rotation pop's iat is compared without arithmetic on the client's
// value: the extremes of int64 and of uint64 are refused, not wrapped into
// the window (UBSan would trap on the old |iat - now|).
TEST_F(EdgeServiceTest, RotatePopExtremeIatRefused) {
  const std::string session = h.Establish();
  Ed25519PrivateKey new_key = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  X25519PrivateKey new_recipient = Must(X25519PrivateKey::Generate(DefaultRandom()));
  const std::string old_jkt = jose::Jwk::FromEd25519Public(h.pod_dpop->public_key()).Thumbprint();
  const std::vector<Json> extremes = {Json(std::numeric_limits<int64_t>::min()),
                                      Json(std::numeric_limits<int64_t>::max()),
                                      Json(std::numeric_limits<uint64_t>::max()),
                                      Json(static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1),
                                      Json(kNow + 0.5)};
  for (const Json& iat : extremes) {
    const std::string pop = jose::SignCompactJws(
        Json{{"alg", "EdDSA"}}, DumpJson(Json{{"session", session}, {"prev", old_jkt}, {"iat", iat}}), new_key);
    ExpectRefused(h.Send(RotateCall(h, session, new_key, new_recipient, pop)), 401, "dpop_invalid");
  }
  EXPECT_EQ(UnwrapOne(session, h.Seal("x")).status, 200);  // the pin did not move
}

TEST_F(EdgeServiceTest, DeleteEndsSession) {
  const std::string session = h.Establish();
  Call del;
  del.method = "DELETE";
  del.path = "/v1/sessions/" + session;
  EXPECT_EQ(h.Send(del).status, 204);
  EXPECT_EQ(h.Send(del).status, 204);  // idempotent
  ExpectRefused(UnwrapOne(session, h.Seal("x")), 401, "session_invalid");
  // Once ended, the pod may pin a new key.
  Ed25519PrivateKey next = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  Call c = h.EstablishCall();
  c.dpop_key = &next;
  EXPECT_EQ(h.Send(c).status, 201);
}

TEST_F(EdgeServiceTest, DeleteByOtherKeyRefused) {
  const std::string session = h.Establish();
  Ed25519PrivateKey attacker = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  Call del;
  del.method = "DELETE";
  del.path = "/v1/sessions/" + session;
  del.dpop_key = &attacker;
  ExpectRefused(h.Send(del), 401, "session_invalid");
  EXPECT_EQ(UnwrapOne(session, h.Seal("x")).status, 200);
}

// ------------------------------------------------------------------ gate 4

TEST_F(EdgeServiceTest, PodDeleted) {
  h.kube_main.RemovePod(kNs, kPod);
  ExpectRefused(h.Send(h.EstablishCall()), 403, "pod_not_live");
}

TEST_F(EdgeServiceTest, PodUidReused) {
  kube::PodView p = EdgeHarness::GoodPod();
  p.uid = "a-new-pod-with-the-same-name";
  ExpectPodRefused(p, "pod_not_live");
}

TEST_F(EdgeServiceTest, PodTerminating) {
  kube::PodView p = EdgeHarness::GoodPod();
  p.deletion_timestamp = "2027-01-15T08:00:00Z";
  ExpectPodRefused(p, "pod_not_live");
}

TEST_F(EdgeServiceTest, PodNotRunning) {
  kube::PodView p = EdgeHarness::GoodPod();
  p.phase = "Pending";
  ExpectPodRefused(p, "pod_not_live");
}

TEST_F(EdgeServiceTest, UnapprovedImage) {
  kube::PodView p = EdgeHarness::GoodPod();
  p.container_statuses[0].image_id = "registry.example.com/app@" + kBadDigest;
  ExpectPodRefused(p, "image_not_allowed");
}

TEST_F(EdgeServiceTest, UnapprovedInitContainer) {
  kube::PodView p = EdgeHarness::GoodPod();
  p.init_containers.push_back({"migrate", "registry.example.com/migrate:2"});
  p.init_container_statuses.push_back({"migrate", "registry.example.com/migrate:2", "sha256:" + std::string(64, 'c')});
  ExpectPodRefused(p, "image_not_allowed");
}

TEST_F(EdgeServiceTest, UnapprovedSidecar) {
  // A restartable init container (native sidecar) is checked like any other.
  kube::PodView p = EdgeHarness::GoodPod();
  p.init_containers.push_back({"proxy", "registry.example.com/proxy:1"});
  p.init_container_statuses.push_back({"proxy", "registry.example.com/proxy:1", "registry.example.com/proxy@" + kBadDigest});
  ExpectPodRefused(p, "image_not_allowed");
}

TEST_F(EdgeServiceTest, UnapprovedEphemeralContainer) {
  const std::string session = h.Establish();
  kube::PodView p = EdgeHarness::GoodPod();
  p.ephemeral_containers.push_back({"debugger", "busybox:1.36"});
  p.ephemeral_container_statuses.push_back({"debugger", "busybox:1.36", "docker.io/library/busybox@" + kBadDigest});
  h.kube_main.PutPod(p);
  // Gate 4 is re-checked from fresh state on every unwrap.
  ExpectRefused(UnwrapOne(session, h.Seal("x")), 403, "image_not_allowed");
}

TEST_F(EdgeServiceTest, TagOnlyImage) {
  kube::PodView p = EdgeHarness::GoodPod();
  p.container_statuses[0].image_id = "registry.example.com/app:1.0";
  ExpectPodRefused(p, "image_not_allowed");
}

// docs/protocol.md §6 gate 4: spec.serviceAccountName equals the token's
// ServiceAccount (a token of one SA presented for a pod that runs as another).
TEST_F(EdgeServiceTest, PodServiceAccountMismatch) {
  kube::PodView p = EdgeHarness::GoodPod();
  p.service_account = "other-sa";
  ExpectPodRefused(p, "pod_not_live");
}

// docs/protocol.md §6 gate 4: container names are unique across the pod.
TEST_F(EdgeServiceTest, PodDuplicateContainerNames) {
  kube::PodView p = EdgeHarness::GoodPod();
  p.ephemeral_containers.push_back({"app", "registry.example.com/app:1.0"});
  p.ephemeral_container_statuses.push_back({"app", "registry.example.com/app:1.0",
                                           "registry.example.com/app@" + testing::kGoodDigest});
  ExpectPodRefused(p, "image_not_allowed");
}

// Gate 2 finds the cluster by a keyed lookup of the token's issuer, and a
// re-registered JWKS takes effect on the next request (the parsed JWKS are
// cached by the hash of their text).
TEST_F(EdgeServiceTest, TrustAnchorsFollowReRegistration) {
  h.Establish();
  store::Cluster c = Must(h.store->GetCluster(astis::store::kDefaultOrg, kCluster));
  const std::string old_jwks = c.jwks_json;
  c.jwks_json = DumpJson(testing::Jwks(*h.other, "other-1"));  // rotate to a key the pod's token is not signed by
  ASSERT_TRUE(h.store->PutCluster(c).ok());
  ExpectRefused(h.Send(h.EstablishCall()), 401, "token_invalid");
  c.jwks_json = old_jwks;
  ASSERT_TRUE(h.store->PutCluster(c).ok());
  EXPECT_EQ(h.Send(h.EstablishCall()).status, 201);
  // Removing the cluster removes the trust at once.
  ASSERT_TRUE(h.store->DeleteCluster(astis::store::kDefaultOrg, kCluster).ok());
  ExpectRefused(h.Send(h.EstablishCall()), 401, "token_invalid");
}

// Gate 2 verifies a pod's token once; later requests with the same token
// re-read its cluster and re-check its times only (VerifiedTokenCache).
TEST_F(EdgeServiceTest, TokenVerifiedOncePerToken) {
  const std::string session = h.Establish();
  EXPECT_EQ(UnwrapOne(session, h.Seal("x")).status, 200);
  EXPECT_EQ(UnwrapOne(session, h.Seal("y")).status, 200);
  const std::string m = h.service->MetricsText();
  EXPECT_NE(m.find("astis_token_verifications_total{kind=\"full\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("astis_token_verifications_total{kind=\"kept\"} 2\n"), std::string::npos) << m;
}

// The kept verification still ends with the token: exp is checked on every use.
TEST_F(EdgeServiceTest, KeptTokenStillExpires) {
  Json claims = h.Claims();
  claims["exp"] = kNow + 30;
  const std::string token = h.Token(claims);
  Call c = h.EstablishCall();
  c.token = token;
  ASSERT_EQ(h.Send(c).status, 201);
  h.clock.Advance(30 + 60);  // past exp + token.max_skew_seconds
  Call late = h.EstablishCall();
  late.token = token;
  ExpectRefused(h.Send(late), 401, "token_invalid");
}

TEST_F(EdgeServiceTest, NoWorkloadIsImageNotAllowed) {
  ASSERT_TRUE(h.store->DeleteWorkload(astis::store::kDefaultOrg, kCluster, kNs, kSa).ok());
  ExpectRefused(h.Send(h.EstablishCall()), 403, "image_not_allowed");
}

TEST_F(EdgeServiceTest, UnwrapRechecksPodFreshly) {
  const std::string session = h.Establish();
  const size_t before = h.kube_main.get_pod_calls();
  EXPECT_EQ(UnwrapOne(session, h.Seal("x")).status, 200);
  EXPECT_EQ(h.kube_main.get_pod_calls(), before + 1);
  h.kube_main.RemovePod(kNs, kPod);
  ExpectRefused(UnwrapOne(session, h.Seal("x")), 403, "pod_not_live");
}

TEST_F(EdgeServiceTest, KubeDown) {
  h.kube_main.SetUnavailable(true);
  ExpectRefused(h.Send(h.EstablishCall()), 503, "kube_unavailable");
}

TEST_F(EdgeServiceTest, AuditModeLetsThroughWithWouldDeny) {
  store::Cluster c = Must(h.store->GetCluster(astis::store::kDefaultOrg, kCluster));
  c.mode = "audit";
  ASSERT_TRUE(h.store->PutCluster(c).ok());
  kube::PodView p = EdgeHarness::GoodPod();
  p.container_statuses[0].image_id = "registry.example.com/app@" + kBadDigest;
  h.kube_main.PutPod(p);
  auto r = h.Send(h.EstablishCall());
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Header(r, "Astis-Audit-Mode"), "true");
  bool would_deny = false;
  for (const auto& e : h.audit_sink.events()) {
    would_deny = would_deny || (e.decision == audit::Decision::kWouldDeny && e.code == Code::kImageNotAllowed);
  }
  EXPECT_TRUE(would_deny);
}

TEST_F(EdgeServiceTest, StrictModeHasNoAuditHeader) {
  auto r = h.Send(h.EstablishCall());
  EXPECT_EQ(r.status, 201);
  EXPECT_TRUE(Header(r, "Astis-Audit-Mode").empty());
}

// ------------------------------------------------------------------ dependencies

TEST_F(EdgeServiceTest, StoreDown) {
  h.store->SetFailing(true);
  ExpectRefused(h.Send(h.EstablishCall()), 503, "store_unavailable");
  h.store->SetFailing(false);
  EXPECT_EQ(h.Send(h.EstablishCall()).status, 201);  // recovers
}

TEST_F(EdgeServiceTest, CvsDown) {
  const std::string session = h.Establish();
  h.cvs->SetDown(true);
  ExpectRefused(UnwrapOne(session, h.Seal("x")), 503, "cvs_unavailable");
  h.cvs->SetDown(false);
  EXPECT_EQ(UnwrapOne(session, h.Seal("x")).status, 200);
}

TEST_F(EdgeServiceTest, AuditSinkDownRefusesRelease) {
  const std::string session = h.Establish();
  h.audit_sink.SetFailing(true);
  auto r = UnwrapOne(session, h.Seal("x"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("\"results\""), std::string::npos);
}

// A success is held until its audit line is durable (HandleHeld, as the
// HTTP server calls it): nothing is released before the sink reports, and
// the metrics count the answer only once it is final.
// Released is what a held answer's Release was called with (nullopt until
// it is called).
using Released = std::optional<std::optional<net::ServerResponse>>;

// HeldUnwrap sends one unwrap through HandleHeld while the sink keeps its
// reports, and starts the hold with a Release that records into *released.
net::ServerResponse HeldUnwrap(testing::EdgeHarness& h, const std::string& session, Released* released) {
  h.audit_sink.SetHolding(true);
  const std::string capsule = B64uEncode(h.Seal("x").capsule().bytes());
  net::ServerResponse resp = h.service->HandleHeld(h.Build(h.UnwrapCall(session, {capsule})));
  EXPECT_TRUE(static_cast<bool>(resp.hold));
  if (resp.hold) resp.hold([released](std::optional<net::ServerResponse> other) { *released = std::move(other); });
  return resp;
}

TEST_F(EdgeServiceTest, HeldUntilAuditLineDurable) {
  Released released;
  net::ServerResponse resp = HeldUnwrap(h, h.Establish(), &released);
  EXPECT_FALSE(released.has_value());
  EXPECT_EQ(h.service->MetricsText().find("endpoint=\"unwrap\",code=\"ok\""), std::string::npos);
  EXPECT_EQ(h.audit_sink.CompleteHeld(OkStatus()), 1u);
  ASSERT_TRUE(released.has_value());
  EXPECT_FALSE(released->has_value());  // the held answer itself goes out
  EXPECT_EQ(resp.status, 200);
  EXPECT_NE(resp.body.find("\"results\""), std::string::npos);
  EXPECT_NE(h.service->MetricsText().find("astis_requests_total{endpoint=\"unwrap\",code=\"ok\"} 1"),
            std::string::npos);
}

// A line the sink reports lost turns the held success into a refusal: no
// data key leaves, the answer carries the usual headers, and it is counted
// as the refusal it became.
TEST_F(EdgeServiceTest, AuditFailureAccountedAsRefusal) {
  Released released;
  net::ServerResponse resp = HeldUnwrap(h, h.Establish(), &released);
  EXPECT_EQ(h.audit_sink.CompleteHeld(Error(Code::kIo, "disk gone (test)")), 1u);
  ASSERT_TRUE(released.has_value() && released->has_value());
  const net::ServerResponse& instead = **released;
  EXPECT_EQ(instead.status, 500);
  EXPECT_EQ(instead.body.find("\"results\""), std::string::npos);
  EXPECT_EQ(instead.body.find("disk gone"), std::string::npos);
  EXPECT_FALSE(Header(instead, "DPoP-Nonce").empty());
  EXPECT_EQ(Header(instead, "Cache-Control"), "no-store");
  EXPECT_EQ(Header(instead, "X-Request-Id"), Header(resp, "X-Request-Id"));
  const std::string metrics = h.service->MetricsText();
  EXPECT_EQ(metrics.find("endpoint=\"unwrap\",code=\"ok\""), std::string::npos);
  EXPECT_NE(metrics.find("endpoint=\"unwrap\",code=\"internal_error\""), std::string::npos) << metrics;
}

// A refusal is held for its line too, and goes out whatever the sink says.
TEST_F(EdgeServiceTest, RefusalReleasedEvenIfItsLineFails) {
  h.audit_sink.SetHolding(true);
  Call c = h.EstablishCall();
  c.omit_api_key = true;
  net::ServerResponse resp = h.service->HandleHeld(h.Build(c));
  ASSERT_TRUE(static_cast<bool>(resp.hold));
  Released released;
  resp.hold([&](std::optional<net::ServerResponse> other) { released = std::move(other); });
  EXPECT_EQ(h.audit_sink.CompleteHeld(Error(Code::kIo, "disk gone (test)")), 1u);
  ASSERT_TRUE(released.has_value());
  EXPECT_FALSE(released->has_value());
  EXPECT_EQ(resp.status, 401);
}

// ------------------------------------------------------------------ capsules

std::string PerCapsuleCode(const net::ServerResponse& r) {
  auto j = ParseJson(r.body);
  if (!j.ok() || !j->contains("results") || (*j)["results"].size() != 1) return "<bad response>";
  const Json& res = (*j)["results"][0];
  EXPECT_FALSE(res.contains("enc"));
  EXPECT_FALSE(res.contains("ct"));
  return res.contains("error") ? res["error"].value("code", "") : "<no error>";
}

TEST_F(EdgeServiceTest, CapsuleOtherNamespace) {
  const std::string session = h.Establish();
  auto r = UnwrapOne(session, h.Seal("x", {kCluster, "billing", kSa, "db", "password"}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(PerCapsuleCode(r), "capsule_scope");
}

TEST_F(EdgeServiceTest, CapsuleUnknownKid) {
  const std::string session = h.Establish();
  auto stranger = Must(capsule::OrgPrivateKey::Generate(DefaultRandom()));
  auto v = Must(capsule::Seal(stranger.public_key(), {kCluster, kNs, kSa, "db", "password"}, AsBytes("x"),
                              DefaultRandom(), h.clock));
  auto r = UnwrapOne(session, v);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(PerCapsuleCode(r), "unknown_key");
}

TEST_F(EdgeServiceTest, TamperedCapsule) {
  const std::string session = h.Establish();
  auto v = h.Seal("x");
  auto cap = v.capsule();
  std::vector<uint8_t> ct = cap.ct();
  ct[0] ^= 1;
  auto tampered = Must(capsule::Capsule::Build(cap.kid(), cap.enc(), ct, cap.binding(), cap.iat()));
  auto r = h.Send(h.UnwrapCall(session, {B64uEncode(tampered.bytes())}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(PerCapsuleCode(r), "capsule_invalid");
}

TEST_F(EdgeServiceTest, OversizeBatch) {
  const std::string session = h.Establish();
  const std::string one = B64uEncode(h.Seal("x").capsule().bytes());
  ExpectRefused(h.Send(h.UnwrapCall(session, std::vector<std::string>(65, one))), 413, "too_large");
  EXPECT_EQ(h.Send(h.UnwrapCall(session, std::vector<std::string>(64, one))).status, 200);
}

TEST_F(EdgeServiceTest, EmptyBatchBadRequest) {
  const std::string session = h.Establish();
  ExpectRefused(h.Send(h.UnwrapCall(session, {})), 400, "bad_request");
}

// ------------------------------------------------------------------ request shape

TEST_F(EdgeServiceTest, MalformedJson) {
  Call c = h.EstablishCall();
  c.body = "{\"recipient\":";
  ExpectRefused(h.Send(c), 400, "bad_request");
  c.body = "{\"recipient\":{},\"recipient\":{}}";
  ExpectRefused(h.Send(c), 400, "bad_request");
}

TEST_F(EdgeServiceTest, UnknownMemberBadRequest) {
  Call c = h.EstablishCall();
  c.body = DumpJson(Json{{"recipient", h.RecipientJwk(*h.pod_recipient)}, {"extra", 1}});
  ExpectRefused(h.Send(c), 400, "bad_request");
}

TEST_F(EdgeServiceTest, RecipientNotX25519BadRequest) {
  Call c = h.EstablishCall();
  c.body = DumpJson(Json{{"recipient", jose::Jwk::FromEd25519Public(h.pod_dpop->public_key()).ToJson()}});
  ExpectRefused(h.Send(c), 400, "bad_request");
}

// docs/protocol.md §4.1, RFC 7748 §6.1, RFC 9180 §7.1.4: a recipient whose X25519
// output is all zero for every private key (the low-order points and their
// non-canonical encodings) is refused at establish with 400, not discovered
// later as a 503 cvs_unavailable from the CVS.
TEST_F(EdgeServiceTest, RecipientLowOrderBadRequest) {
  const std::vector<std::string> low_order_hex = {
      std::string(64, '0'),                                                  // 0
      "0100000000000000000000000000000000000000000000000000000000000000",    // 1
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",    // order 8
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",    // order 8
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",    // p - 1 (order 2)
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",    // p (non-canonical 0)
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",    // p + 1 (non-canonical 1)
      "0000000000000000000000000000000000000000000000000000000000000080",    // 0 with bit 255 set
  };
  for (const std::string& hex : low_order_hex) {
    Call c = h.EstablishCall();
    Json jwk{{"kty", "OKP"}, {"crv", "X25519"}, {"x", B64uEncode(Must(HexDecode(hex)))}};
    c.body = DumpJson(Json{{"recipient", jwk}});
    ExpectRefused(h.Send(c), 400, "bad_request");
  }
  EXPECT_EQ(h.cvs->calls(), 0);
  // Not 32 bytes.
  Call c = h.EstablishCall();
  const Json short_x{{"kty", "OKP"}, {"crv", "X25519"}, {"x", B64uEncode(std::vector<uint8_t>(31, 9))}};
  c.body = DumpJson(Json{{"recipient", short_x}});
  ExpectRefused(h.Send(c), 400, "bad_request");
  h.Establish();  // a real key still works
}

TEST_F(EdgeServiceTest, BodyTooLarge) {
  Call c = h.EstablishCall();
  c.body = "{\"recipient\":\"" + std::string(static_cast<size_t>(h.config.limits.max_body_bytes), 'a') + "\"}";
  ExpectRefused(h.Send(c), 413, "too_large");
}

TEST_F(EdgeServiceTest, RateLimited) {
  h.config.limits.rate_per_pod_uid_per_minute = 2;
  h.MakeService();
  EXPECT_EQ(h.Send(h.EstablishCall()).status, 201);
  EXPECT_EQ(h.Send(h.EstablishCall()).status, 201);
  ExpectRefused(h.Send(h.EstablishCall()), 429, "rate_limited");
  h.clock.Advance(60);  // next window
  EXPECT_EQ(h.Send(h.EstablishCall()).status, 201);
}

TEST_F(EdgeServiceTest, RateLimitPerApiKey) {
  h.config.limits.rate_per_api_key_per_minute = 1;
  h.MakeService();
  EXPECT_EQ(h.Send(h.EstablishCall()).status, 201);
  auto r = h.Send(h.EstablishCall());
  ExpectRefused(r, 429, "rate_limited");
  auto events = h.audit_sink.events();
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.back().reason.find("key:"), std::string::npos) << events.back().reason;
}

// Requests whose DPoP proof is refused still spend the pod's quota, and an
// exhausted quota is answered 429 before the proof is even looked at.
TEST_F(EdgeServiceTest, RateLimitedBeforeBadProof) {
  h.config.limits.rate_per_pod_uid_per_minute = 2;
  h.MakeService();
  Call bad = h.EstablishCall();
  bad.iat = kNow - 61;  // a stale proof: dpop_invalid
  ExpectRefused(h.Send(bad), 401, "dpop_invalid");
  ExpectRefused(h.Send(bad), 401, "dpop_invalid");
  ExpectRefused(h.Send(bad), 429, "rate_limited");
  ExpectRefused(h.Send(h.EstablishCall()), 429, "rate_limited");
}

// A replayed proof is counted too: replaying cannot be used to probe for free.
TEST_F(EdgeServiceTest, ReplayedProofSpendsQuota) {
  h.config.limits.rate_per_pod_uid_per_minute = 2;
  h.MakeService();
  net::ServerRequest req = h.Build(h.EstablishCall());
  EXPECT_EQ(h.service->Handle(req).status, 201);
  ExpectRefused(h.service->Handle(req), 401, "dpop_replay");
  ExpectRefused(h.service->Handle(req), 429, "rate_limited");
}

TEST_F(EdgeServiceTest, ErrorMessageIsBlinded) {
  // The client sees a generic message; the detail goes to the audit log.
  Call c = h.EstablishCall();
  Json claims = h.Claims();
  claims["aud"] = "wrong";
  c.token = h.Token(claims);
  auto r = h.Send(c);
  ExpectRefused(r, 401, "token_invalid");
  EXPECT_EQ(r.body.find("aud"), std::string::npos);
  auto events = h.audit_sink.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().decision, audit::Decision::kDeny);
  EXPECT_EQ(events.back().gate, 2);
  EXPECT_NE(events.back().reason.find("audience"), std::string::npos);
}

// ------------------------------------------------------------------ health

TEST_F(EdgeServiceTest, HealthzReadyzMetrics) {
  net::ServerRequest req;
  req.method = "GET";
  req.path = req.target = "/healthz";
  EXPECT_EQ(h.service->Handle(req).status, 200);
  req.path = req.target = "/readyz";
  EXPECT_EQ(h.service->Handle(req).status, 200);
  h.cvs->SetDown(true);
  EXPECT_EQ(h.service->Handle(req).status, 503);
  h.cvs->SetDown(false);

  h.Establish();
  Call bad = h.EstablishCall();
  bad.omit_dpop = true;
  (void)h.Send(bad);
  req.path = req.target = "/metrics";
  auto m = h.service->Handle(req);
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("astis_requests_total{endpoint=\"sessions\",code=\"ok\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("astis_requests_total{endpoint=\"sessions\",code=\"dpop_invalid\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("astis_gate_refusals_total{gate=\"3\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("astis_active_sessions 1"), std::string::npos);
  EXPECT_NE(m.body.find("astis_request_duration_seconds_count"), std::string::npos);
  EXPECT_NE(m.body.find("astis_gate4_api_reads_total{cluster=\"prod-eu1\"}"), std::string::npos) << m.body;
}

// /metrics carries the audit sink's counters: lines appended and the syncs
// that made them durable (their ratio shows group commit at work).
TEST_F(EdgeServiceTest, MetricsCountAuditLinesAndSyncs) {
  h.Establish();  // one allow line
  Call bad = h.EstablishCall();
  bad.omit_dpop = true;
  (void)h.Send(bad);  // one deny line
  const std::string m = h.service->MetricsText();
  EXPECT_NE(m.find("# TYPE astis_audit_lines_total counter\nastis_audit_lines_total 2\n"), std::string::npos) << m;
  EXPECT_NE(m.find("# TYPE astis_audit_syncs_total counter\nastis_audit_syncs_total 0\n"), std::string::npos) << m;
}

// docs/protocol.md §4.5 (1.1): one cluster's API outage is reported in /readyz's
// body and in metrics but never makes the edge unready, and /readyz makes no
// request to any API server. Until 1.1, HealthzReadyzMetrics asserted 503
// while a cluster was down.
TEST_F(EdgeServiceTest, ReadyzIgnoresClusterOutage) {
  net::ServerRequest req;
  req.method = "GET";
  req.path = req.target = "/readyz";
  h.kube_main.SetUnavailable(true);
  h.kube_other.SetUnavailable(true);
  ExpectRefused(h.Send(h.EstablishCall()), 503, "kube_unavailable");  // gate 4 learns the API is down
  const size_t calls_main = h.kube_main.get_pod_calls(), calls_other = h.kube_other.get_pod_calls();
  auto ready = h.service->Handle(req);
  EXPECT_EQ(ready.status, 200) << ready.body;
  Json body = Must(ParseJson(ready.body));
  EXPECT_EQ(body["status"], "ready");
  EXPECT_EQ(body["checks"]["cluster/" + std::string(kCluster)], "unavailable") << ready.body;
  EXPECT_EQ(body["checks"]["cluster/" + std::string(testing::kOtherCluster)], "unknown") << ready.body;
  EXPECT_EQ(h.kube_main.get_pod_calls(), calls_main);  // no fan-out
  EXPECT_EQ(h.kube_other.get_pod_calls(), calls_other);
  req.path = req.target = "/metrics";
  const std::string m = h.service->Handle(req).body;
  EXPECT_NE(m.find("astis_cluster_api_up{cluster=\"prod-eu1\"} 0"), std::string::npos) << m;
  h.kube_main.SetUnavailable(false);
  h.Establish();
  req.path = req.target = "/readyz";
  EXPECT_EQ(Must(ParseJson(h.service->Handle(req).body))["checks"]["cluster/" + std::string(kCluster)], "ok");
}

// ------------------------------------------------------- GET /v1/keys/{kid}

class EdgeKeysTest : public ::testing::Test {
 protected:
  net::ServerResponse Get(const std::string& path) {
    net::ServerRequest req;  // no API key, token or proof: the route needs none
    req.method = "GET";
    req.path = req.target = path;
    return h.service->Handle(req);
  }
  static void ExpectNotFound(const net::ServerResponse& resp) {
    EXPECT_EQ(resp.status, 404);
    auto body = ParseJsonObject(resp.body);
    ASSERT_TRUE(body.ok()) << resp.body;
    EXPECT_EQ((*body)["error"]["code"], "not_found");
  }
  EdgeHarness h;
};

TEST_F(EdgeKeysTest, ServesTheActiveKeyByKid) {
  const std::string kid = h.org_public->kid();
  net::ServerResponse resp = Get("/v1/keys/" + kid);
  ASSERT_EQ(resp.status, 200) << resp.body;
  EXPECT_EQ(net::FindHeader(resp.headers, "Content-Type").value_or(""), "application/jwk+json");
  auto jwk = ParseJsonObject(resp.body);
  ASSERT_TRUE(jwk.ok());
  EXPECT_FALSE(jwk->contains("d"));
  EXPECT_EQ(jwk->size(), 4u) << resp.body;  // crv, kid, kty, x: no organisation, no status
  Json members = *jwk;
  members.erase("kid");
  auto key = capsule::OrgPublicKey::FromJwk(members);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->kid(), kid);  // the served key's RFC 7638 thumbprint is the kid asked for
}

TEST_F(EdgeKeysTest, UnknownKidIs404) {
  std::string other = h.org_public->kid();
  other[0] = other[0] == 'A' ? 'B' : 'A';
  ExpectNotFound(Get("/v1/keys/" + other));
  ExpectNotFound(Get("/v1/keys/short"));
  ExpectNotFound(Get("/v1/keys/" + h.org_public->kid() + "/x"));
}

TEST_F(EdgeKeysTest, NoListing) {
  ExpectNotFound(Get("/v1/keys"));
  ExpectNotFound(Get("/v1/keys/"));
  net::ServerRequest post;
  post.method = "POST";
  post.path = post.target = "/v1/keys/" + h.org_public->kid();
  EXPECT_EQ(h.service->Handle(post).status, 404);
}

TEST_F(EdgeKeysTest, RetiredKeyIs404) {
  const std::string old_kid = h.org_public->kid();
  auto fresh = Must(capsule::OrgPrivateKey::Generate(DefaultRandom()));
  const std::string new_kid = fresh.kid();
  std::vector<capsule::OrgPrivateKey> retired;
  retired.push_back(Must(capsule::OrgPrivateKey::FromJwk(h.org->ToPrivateJwk(), SecretBytes::Protection::kPlain)));
  h.cvs_service->ReplaceKeys(Must(capsule::OrgKeySet::Create(std::move(fresh), std::move(retired))));
  // Sealing to a retired key is wrong: it is no longer served.
  ExpectNotFound(Get("/v1/keys/" + old_kid));
  EXPECT_EQ(Get("/v1/keys/" + new_kid).status, 200);
}

}  // namespace
}  // namespace astis::edge
