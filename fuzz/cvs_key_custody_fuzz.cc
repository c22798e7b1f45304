// libFuzzer target for the Tier 1 key custody contract (cvs/remote.h): the
// edge's parser of a key custody reply (cvs::ParseOrgKeyReply, input from
// the network) and the CVS handler's routing of /cvs/v1/orgs/{org}/keys
// paths (input from the pinned edge), over a recording custodian: no files.
//
// Input layout: byte 0 bit 0 picks the part (0 = reply parser, 1 =
// handler), bit 1 the rotation form. Parser: the rest is the reply body.
// Handler: the rest, up to the first '\n', is appended to /cvs/v1/orgs/ as
// the path; after it comes the body.
//
// Invariants (trap on violation): an accepted reply names the organisation
// asked for and carries a publicJwk without "d"; the handler calls the
// custodian only for a DNS-1123 label, never for a request with a query, a
// body other than "" / "{}", or an unpinned peer.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/dns1123.h"
#include "common/json.h"
#include "crypto/sha256.h"
#include "cvs/cvs.h"
#include "cvs/key_management.h"
#include "cvs/remote.h"
#include "net/http_server.h"

namespace {

using namespace astis;  // NOLINT(google-build-using-namespace): fuzz harness only

// RecordingCustodian answers a fixed public JWK and checks the org it is
// asked for.
class RecordingCustodian final : public cvs::OrgKeyCustodian {
 public:
  Result<cvs::OrgPublicKeyInfo> CreateOrgKey(std::string_view org) override { return Answer(org); }
  Result<cvs::OrgPublicKeyInfo> RotateOrgKey(std::string_view org) override { return Answer(org); }

 private:
  static Result<cvs::OrgPublicKeyInfo> Answer(std::string_view org) {
    if (!IsDns1123Label(org)) __builtin_trap();  // the handler let a bad name through
    if (org == "exists") return Error(Code::kAlreadyExists, "exists");
    cvs::OrgPublicKeyInfo info;
    info.org = std::string(org);
    info.kid = "kid-1";
    info.public_jwk = Json{{"kty", "OKP"}, {"crv", "X25519"}, {"kid", "kid-1"},
                           {"x", "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}};
    return info;
  }
};

class NoCvs final : public cvs::CvsPort {
 public:
  Result<std::vector<cvs::RewrapResult>> Rewrap(const cvs::VerifiedScope&, const X25519PublicKey&, std::string_view,
                                                std::span<const std::vector<uint8_t>>) override {
    return Error(Code::kCvsUnavailable, "no cvs");
  }
  Status Ping() override { return OkStatus(); }
};

struct World {
  World() : pinned(Sha256(std::string_view("edge client certificate"))), handler(cvs, {pinned}, &custodian) {}
  NoCvs cvs;
  RecordingCustodian custodian;
  Sha256Digest pinned;
  cvs::CvsHttpHandler handler;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();  // lives for the process
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  const bool rotation = (sel & 2) != 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((sel & 1) == 0) {
    auto info = cvs::ParseOrgKeyReply(rest, "tenant-a", rotation);
    if (info.ok()) {
      if (info->org != "tenant-a" || !info->public_jwk.is_object() || info->public_jwk.contains("d")) __builtin_trap();
    } else if (info.status().code() != Code::kCvsUnavailable) {
      __builtin_trap();
    }
    return 0;
  }
  const size_t nl = rest.find('\n');
  net::ServerRequest req;
  req.method = (sel & 4) != 0 ? "GET" : "POST";
  req.path = std::string(cvs::kOrgsPathPrefix) + rest.substr(0, nl);
  req.target = req.path;
  req.body = nl == std::string::npos ? "" : rest.substr(nl + 1);
  if ((sel & 8) == 0) req.peer_cert_sha256 = world->pinned;
  if ((sel & 16) != 0) req.query = "x=1";
  const net::ServerResponse resp = world->handler.Handle(req);
  const bool served = resp.status == 200 || resp.status == 201 || resp.status == 409;
  if (served && (!req.peer_cert_sha256.has_value() || !req.query.empty() || req.method != "POST" ||
                 (!req.body.empty() && req.body != "{}"))) {
    __builtin_trap();
  }
  return 0;
}
