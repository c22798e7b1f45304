// libFuzzer target for the documents of `astis apply` / `astis diff`
// (docs/admin.md "Declarative configuration"): the input is one file's text
// as it comes from a Git repository, parsed by admin::ParseApplyFile, the
// parser the CLI runs before anything is sent. A Cluster's spec.jwksFile
// resolves to a valid JWKS when it is "jwks.json", to an oversized file when
// it is "big.json", and is absent otherwise (no file system access).
//
// Invariants (trap on violation): a refusal is kInvalidArgument, kNotFound
// or kTooLarge and its message starts with the file's name; an accepted file
// yields only objects that `astis cluster add` / `workload add` would take
// (the JWKS parses, the API URL is https, a mode, valid digests, names the
// store accepts), each declared once.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

#include "admin/apply_document.h"
#include "admin/operations.h"
#include "common/json.h"
#include "crypto/public_key.h"
#include "store/store.h"

namespace {

const std::string& ValidJwks() {
  static const std::string* jwks = [] {
    auto key = astis::SigningKey::GenerateEc(astis::PublicKeyKind::kEcP256);
    if (!key.ok()) __builtin_trap();
    astis::Json jwk = key->PublicJwkMembers();
    jwk["kid"] = "ec-1";
    return new std::string(astis::DumpJson(astis::Json{{"keys", astis::Json::array({jwk})}}));
  }();
  return *jwks;
}

astis::Result<std::string> Read(const std::string& path) {
  if (path == "jwks.json") return ValidJwks();
  if (path == "big.json") return std::string(astis::admin::kMaxJwksBytes + 1, ' ');
  return astis::Error(astis::Code::kNotFound, "no such file");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  astis::admin::ApplyDocuments docs;
  const astis::Status s = astis::admin::ParseApplyFile("fuzz.yaml", text, Read, docs);
  if (!s.ok()) {
    const astis::Code c = s.code();
    if (c != astis::Code::kInvalidArgument && c != astis::Code::kNotFound && c != astis::Code::kTooLarge) {
      __builtin_trap();
    }
    if (s.message().rfind("fuzz.yaml: ", 0) != 0) __builtin_trap();
    return 0;
  }
  std::set<std::string> clusters;
  for (const auto& c : docs.clusters) {
    if (!astis::admin::CheckJwksText(c.jwks_json).ok() || !astis::admin::IsHttpsUrl(c.api_url)) __builtin_trap();
    astis::store::Cluster sc{c.name, c.issuer, c.audience, c.jwks_json, c.api_url, c.ca_file, c.token_file, c.mode};
    if (!astis::store::ValidateCluster(sc).ok() || !clusters.insert(c.name).second) __builtin_trap();
  }
  std::set<std::tuple<std::string, std::string, std::string>> workloads;
  for (const auto& w : docs.workloads) {
    if (w.image_digests.empty() || !astis::store::ValidateWorkload(w).ok()) __builtin_trap();
    if (!workloads.emplace(w.cluster, w.namespace_, w.service_account).second) __builtin_trap();
  }
  return 0;
}
