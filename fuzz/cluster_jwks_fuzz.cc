// libFuzzer target for what `astis cluster jwks fetch` reads from a cluster
// (admin/cluster_jwks.h): the OIDC discovery document
// (ParseOpenIdConfiguration) and the served JWKS, diffed against a pinned
// set (DiffJwks) and merged into the set --apply pins (JwksToPin).
//
// Invariants (trap on violation): a discovery refusal is kInvalidArgument;
// an accepted one has an issuer and an origin-form path without '?', '#'
// or spaces. An accepted diff puts every served kid in exactly one of
// added / kept and every pinned kid in exactly one of removed / kept; the
// pinned set without prune holds every kid of both sets, with prune exactly
// the served kids.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "admin/cluster_jwks.h"
#include "common/json.h"

namespace {

// A valid pinned set: one P-256 key (RFC 7515 A.3's public key), kid "pinned".
constexpr std::string_view kPinned =
    R"({"keys":[{"kty":"EC","crv":"P-256","kid":"pinned",)"
    R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})";

std::set<std::string> Kids(std::string_view jwks) {
  std::set<std::string> out;
  auto root = astis::ParseJsonObject(jwks, astis::JsonLimits{2 * 1024 * 1024, 16});
  if (!root.ok()) __builtin_trap();
  for (const astis::Json& k : (*root)["keys"]) out.insert(k["kid"].get<std::string>());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto oidc = astis::admin::ParseOpenIdConfiguration(text);
  if (!oidc.ok()) {
    if (oidc.status().code() != astis::Code::kInvalidArgument) __builtin_trap();
  } else {
    const std::string& p = oidc->jwks_path;
    if (oidc->issuer.empty() || p.empty() || p[0] != '/') __builtin_trap();
    if (p.find_first_of("?# ") != std::string::npos) __builtin_trap();
  }

  auto diff = astis::admin::DiffJwks(kPinned, text);
  if (!diff.ok()) return 0;
  const std::set<std::string> served = Kids(text);
  std::set<std::string> seen;
  for (const auto* list : {&diff->added, &diff->kept}) {
    for (const std::string& k : *list) {
      if (!served.count(k) || !seen.insert(k).second) __builtin_trap();
    }
  }
  if (seen != served) __builtin_trap();
  if (diff->removed.size() + diff->kept.size() != 1) __builtin_trap();
  auto keep = astis::admin::JwksToPin(kPinned, text, /*prune=*/false);
  auto prune = astis::admin::JwksToPin(kPinned, text, /*prune=*/true);
  if (!keep.ok() || !prune.ok()) return 0;  // e.g. the merged set over 1 MiB
  std::set<std::string> both = served;
  both.insert("pinned");
  if (Kids(*keep) != both || Kids(*prune) != served) __builtin_trap();
  return 0;
}
