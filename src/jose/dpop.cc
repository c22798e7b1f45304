#include "jose/dpop.h"

#include <array>
#include <cstdint>
#include <limits>
#include <utility>

#include "common/encoding.h"
#include "common/json.h"
#include "crypto/secret_bytes.h"
#include "crypto/sha256.h"
#include "jose/jwk.h"
#include "jose/jws.h"

namespace astis::jose {

// DpopVerifierAccess is the one place that constructs VerifiedDpopProof.
class DpopVerifierAccess {
 public:
  static VerifiedDpopProof Make(std::string jkt, std::string jti, int64_t iat, std::optional<std::string> nonce,
                                const Ed25519PublicKey& pk) {
    VerifiedDpopProof p;
    p.jkt_ = std::move(jkt);
    p.jti_ = std::move(jti);
    p.iat_ = iat;
    p.nonce_ = std::move(nonce);
    p.public_key_ = pk;
    return p;
  }
};

namespace {

constexpr size_t kMinJtiLength = 16;   // RFC 9449 §4.2: enough randomness (>= 96 bits as b64u)
constexpr size_t kMaxJtiLength = 256;  // RFC 9449 §11.1: reject oversized jti values

Status Invalid(std::string message) { return Status(Code::kDpopInvalid, std::move(message)); }

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// NormalizePercent applies RFC 3986 §6.2.2.1 (upper-case hex in escapes) and
// §6.2.2.2 (decode escaped unreserved characters).
Result<std::string> NormalizePercent(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return Invalid("htu has a truncated percent escape");
    const int hi = HexValue(in[i + 1]);
    const int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return Invalid("htu has a bad percent escape");
    const auto v = static_cast<unsigned char>(hi * 16 + lo);
    if (IsUnreserved(v)) {
      out.push_back(static_cast<char>(v));
    } else {
      out.push_back('%');
      out.push_back(kHex[hi]);
      out.push_back(kHex[lo]);
    }
    i += 2;
  }
  return out;
}

// RemoveDotSegments is RFC 3986 §5.2.4, applied as §6.2.2.3 requires.
std::string RemoveDotSegments(std::string_view input) {
  std::string in(input);
  std::string out;
  auto drop_last_segment = [&out] {
    size_t slash = out.rfind('/');
    out.erase(slash == std::string::npos ? 0 : slash);
  };
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.erase(0, 3);
    } else if (in.starts_with("./")) {
      in.erase(0, 2);
    } else if (in.starts_with("/./")) {
      in.erase(0, 2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../")) {
      in.erase(0, 3);
      drop_last_segment();
    } else if (in == "/..") {
      in = "/";
      drop_last_segment();
    } else if (in == "." || in == "..") {
      in.clear();
    } else {
      size_t next = in.find('/', in[0] == '/' ? 1 : 0);
      if (next == std::string::npos) next = in.size();
      out.append(in, 0, next);
      in.erase(0, next);
    }
  }
  return out;
}

// ClaimString reads a required string claim.
Result<std::string> ClaimString(const Json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_string()) return Invalid(std::string("DPoP claim ") + name + " missing");
  return it->get<std::string>();
}

// MatchOptionalHash checks a claim against an expected b64u hash when one is
// expected; the claim is then required.
Status MatchExpectedHash(const Json& claims, const char* name, const std::optional<std::string>& expected) {
  if (!expected.has_value()) return OkStatus();
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_string()) return Invalid(std::string("DPoP claim ") + name + " missing");
  if (!ConstantTimeEquals(AsBytes(it->get_ref<const std::string&>()), AsBytes(*expected))) {
    return Invalid(std::string("DPoP claim ") + name + " does not match");
  }
  return OkStatus();
}

}  // namespace

Result<std::string> NormalizeHtu(std::string_view uri) {
  for (char c : uri) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return Invalid("htu has a control, space or non-ASCII byte");
  }
  const size_t colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0) return Invalid("htu is not an absolute URI");
  std::string scheme;
  for (char c : uri.substr(0, colon)) scheme.push_back(ToLower(c));  // RFC 3986 §6.2.2.1
  if (scheme != "https" && scheme != "http") return Invalid("htu scheme must be http or https");
  std::string_view rest = uri.substr(colon + 1);
  if (!rest.starts_with("//")) return Invalid("htu has no authority");
  rest.remove_prefix(2);
  // Query and fragment are ignored (RFC 9449 §4.3 (9)).
  rest = rest.substr(0, rest.find_first_of("?#"));
  const size_t path_start = rest.find('/');
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  if (authority.find('@') != std::string_view::npos) return Invalid("htu must not carry userinfo");

  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Invalid("htu has a bad IP literal");
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Invalid("htu has a bad authority");
      port = after.substr(1);
    }
  } else if (const size_t c = authority.find(':'); c != std::string_view::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
  }
  if (host.empty()) return Invalid("htu has no host");
  std::string lower_host;
  for (char c : host) lower_host.push_back(ToLower(c));  // RFC 3986 §6.2.2.1
  ASTIS_ASSIGN_OR_RETURN(std::string norm_host, NormalizePercent(lower_host));

  // RFC 3986 §6.2.3: an empty port or the scheme's default port is dropped.
  std::string port_text;
  if (!port.empty()) {
    if (port.size() > 5) return Invalid("htu has a bad port");
    uint32_t value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return Invalid("htu has a bad port");
      value = value * 10 + static_cast<uint32_t>(c - '0');
    }
    if (value > 65535) return Invalid("htu has a bad port");
    const uint32_t default_port = scheme == "https" ? 443 : 80;
    if (value != default_port) port_text = ":" + std::to_string(value);
  }

  ASTIS_ASSIGN_OR_RETURN(std::string norm_path, NormalizePercent(path));
  norm_path = RemoveDotSegments(norm_path);  // RFC 3986 §6.2.2.3
  if (norm_path.empty()) norm_path = "/";    // RFC 3986 §6.2.3: empty path is "/"
  return scheme + "://" + norm_host + port_text + norm_path;
}

Result<VerifiedDpopProof> VerifyDpopProof(std::string_view proof_jwt, const DpopExpectations& expect) {
  // RFC 9449 §4.3 (2): a single well-formed JWT.
  auto jws = UnverifiedJws::Parse(proof_jwt, kMaxDpopProofSize);
  if (!jws.ok()) return Invalid("DPoP proof is not a well-formed JWS: " + jws.status().message());

  // RFC 9449 §4.3 (4): typ is dpop+jwt (test DpopTest.RejectsWrongTyp).
  if (!jws->typ().has_value() || *jws->typ() != "dpop+jwt") return Invalid("DPoP typ must be dpop+jwt");

  // RFC 9449 §4.3 (5) and docs/protocol.md §1: an asymmetric alg local policy
  // accepts: EdDSA or Ed25519 (RFC 9864) (test DpopTest.AcceptsEd25519AlgName).
  const std::string& alg = jws->alg();
  const bool is_ed = alg == "EdDSA" || alg == "Ed25519";
  const bool is_es = expect.allow_es256_for_tests && alg == "ES256";
  if (!is_ed && !is_es) return Invalid("DPoP alg not accepted");

  // RFC 9449 §4.3 (7): the jwk header is a public key
  // (tests DpopTest.RejectsPrivateKeyInHeader, DpopTest.RejectsNonOkpKey).
  const Json* jwk_json = jws->jwk();
  if (jwk_json == nullptr) return Invalid("DPoP header has no jwk");
  auto jwk = Jwk::Parse(*jwk_json);
  if (!jwk.ok()) return Invalid("DPoP header jwk invalid: " + jwk.status().message());
  if (!jwk->RequirePublic().ok()) return Invalid("DPoP header jwk contains a private key");
  const bool key_ok = is_ed ? (jwk->kty() == KeyType::kOkp && jwk->crv() == "Ed25519")
                            : (jwk->kty() == KeyType::kEc && jwk->crv() == "P-256");
  if (!key_ok) return Invalid("DPoP header jwk has the wrong key type");

  // RFC 9449 §4.3 (6): the signature verifies with the header jwk.
  auto verified = VerifyJws(*jws, *jwk);
  if (!verified.ok()) return Invalid("DPoP signature invalid: " + verified.status().message());

  JsonLimits limits;
  limits.max_bytes = kMaxDpopProofSize;
  limits.max_depth = 4;
  auto claims_or = ParseJsonObject(verified->payload(), limits);
  if (!claims_or.ok()) return Invalid("DPoP claims are not a JSON object");
  const Json& claims = *claims_or;

  // RFC 9449 §4.3 (3): required claims jti, htm, htu, iat.
  ASTIS_ASSIGN_OR_RETURN(std::string jti, ClaimString(claims, "jti"));
  ASTIS_ASSIGN_OR_RETURN(std::string htm, ClaimString(claims, "htm"));
  ASTIS_ASSIGN_OR_RETURN(std::string htu, ClaimString(claims, "htu"));
  auto iat_it = claims.find("iat");
  if (iat_it == claims.end() || !iat_it->is_number_integer()) return Invalid("DPoP claim iat missing");
  const std::optional<int64_t> iat_or = IntegerNumericDate(*iat_it);
  if (!iat_or.has_value()) return Invalid("DPoP claim iat out of range");
  const int64_t iat = *iat_or;
  // RFC 9449 §4.2 / §11.1: jti has enough entropy, and oversize values are
  // refused (test DpopTest.RejectsShortJti).
  if (jti.size() < kMinJtiLength || jti.size() > kMaxJtiLength) return Invalid("DPoP jti length out of range");

  // RFC 9449 §4.3 (8): htm matches the request method (test DpopTest.RejectsWrongHtm).
  if (htm != expect.htm) return Invalid("DPoP htm does not match");

  // RFC 9449 §4.3 (9) and docs/protocol.md §5: the proof's htu has no query or
  // fragment (test DpopTest.RejectsHtuWithQuery) and equals the request URI
  // after RFC 3986 §6.2.2/§6.2.3 normalisation (tests DpopTest.RejectsWrongHtu,
  // DpopTest.AcceptsNormalisedHtu).
  if (htu.find_first_of("?#") != std::string::npos) return Invalid("DPoP htu carries a query or fragment");
  ASTIS_ASSIGN_OR_RETURN(std::string proof_htu, NormalizeHtu(htu));
  ASTIS_ASSIGN_OR_RETURN(std::string request_htu, NormalizeHtu(expect.htu));
  if (proof_htu != request_htu) return Invalid("DPoP htu does not match");

  // RFC 9449 §4.3 (11): iat within the acceptance window, both directions
  // (tests DpopTest.RejectsStaleIat, DpopTest.RejectsFutureIat). Compared as
  // differences so extreme values cannot overflow.
  switch (PlaceIat(iat, expect.now, expect.max_skew_seconds)) {
    case IatPosition::kTooOld: return Invalid("DPoP iat too old");
    case IatPosition::kInFuture: return Invalid("DPoP iat in the future");
    case IatPosition::kWithin: break;
  }

  // RFC 9449 §4.3 (12): ath equals the hash of the access token
  // (tests DpopTest.RejectsMissingAth, DpopTest.RejectsWrongAth).
  ASTIS_RETURN_IF_ERROR(MatchExpectedHash(claims, "ath", expect.ath));
  // docs/protocol.md §5: bh binds the body (test DpopTest.RejectsWrongBh).
  ASTIS_RETURN_IF_ERROR(MatchExpectedHash(claims, "bh", expect.bh));

  // RFC 9449 §4.3 (10) and §8: a missing or stale nonce gets its own code so
  // the edge can answer use_dpop_nonce; checked last so that any other defect
  // is reported as dpop_invalid (tests DpopTest.RejectsMissingNonce,
  // DpopTest.RejectsInvalidNonce).
  std::optional<std::string> nonce;
  if (auto it = claims.find("nonce"); it != claims.end()) {
    if (!it->is_string()) return Invalid("DPoP claim nonce is not a string");
    nonce = it->get<std::string>();
  }
  if (expect.nonce_valid) {
    if (!nonce.has_value()) return Status(Code::kUseDpopNonce, "DPoP proof has no nonce");
    if (!expect.nonce_valid(*nonce)) return Status(Code::kUseDpopNonce, "DPoP nonce is not current");
  }

  Ed25519PublicKey pk{};
  if (is_ed) {
    auto ed = jwk->ToEd25519Public();
    if (!ed.ok()) return Invalid("DPoP jwk is not Ed25519");
    pk = *ed;
  }
  // Replay of (jkt, jti) is deliberately not checked here: see dpop.h.
  return DpopVerifierAccess::Make(jwk->Thumbprint(), std::move(jti), iat, std::move(nonce), pk);
}

std::optional<int64_t> IntegerNumericDate(const Json& value) {
  if (!value.is_number_integer()) return std::nullopt;
  if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
    return std::nullopt;
  }
  return value.get<int64_t>();
}

IatPosition PlaceIat(int64_t t, int64_t now, int64_t skew) {
  const uint64_t bound = static_cast<uint64_t>(skew < 0 ? 0 : skew);
  if (t < now && static_cast<uint64_t>(now) - static_cast<uint64_t>(t) > bound) return IatPosition::kTooOld;
  if (t > now && static_cast<uint64_t>(t) - static_cast<uint64_t>(now) > bound) return IatPosition::kInFuture;
  return IatPosition::kWithin;
}

std::string DpopHash(std::string_view data) { return B64uEncode(Sha256(data)); }

Result<std::string> NewDpopJti(Random& rng) {
  std::array<uint8_t, 16> bytes{};
  ASTIS_RETURN_IF_ERROR(rng.Fill(bytes));
  return B64uEncode(bytes);
}

std::string MakeDpopProof(const Ed25519PrivateKey& key, std::string_view htm, std::string_view htu, int64_t iat,
                          std::string_view jti, std::optional<std::string_view> ath,
                          std::optional<std::string_view> nonce, std::optional<std::string_view> bh) {
  Json header = Json::object();
  header["typ"] = "dpop+jwt";
  header["alg"] = "EdDSA";
  header["jwk"] = Jwk::FromEd25519Public(key.public_key()).ToJson();
  Json claims = Json::object();
  claims["jti"] = std::string(jti);
  claims["htm"] = std::string(htm);
  claims["htu"] = std::string(htu);
  claims["iat"] = iat;
  if (ath.has_value()) claims["ath"] = std::string(*ath);
  if (nonce.has_value()) claims["nonce"] = std::string(*nonce);
  if (bh.has_value()) claims["bh"] = std::string(*bh);
  return SignCompactJws(header, DumpJson(claims), key);
}

}  // namespace astis::jose
