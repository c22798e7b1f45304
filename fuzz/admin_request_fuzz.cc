// libFuzzer target for the edge's admin socket requests: one line as a
// client connected to the Unix socket sends it (docs/admin.md "Admin
// socket"). The line goes through admin::internal::DecodeRequest, the
// decoder AdminServer uses, and an accepted request is executed by
// internal::Dispatch against LocalOperations over a fresh in-memory SQLite
// store, as the server does after its peer-credential check.
//
// Invariants (trap on violation): DecodeRequest accepts only a known op with
// an args object; a refusal is kInvalidArgument; an error message never
// contains an API key ("astis_" + id + "_" secret) and a successful
// apikey.create returns exactly one well-formed key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "admin/internal/protocol.h"
#include "admin/operations.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "crypto/random.h"
#include "crypto/sha256.h"
#include "store/sqlite_store.h"

namespace {

using astis::Code;
using astis::Result;

// A deterministic key generator (the edge's is edge::GenerateApiKey): the
// fuzzer needs no real entropy, and the shape is what is checked.
Result<astis::admin::NewApiKey> Generate(astis::Random& rng) {
  uint8_t raw[8 + 32] = {};
  ASTIS_RETURN_IF_ERROR(rng.Fill(std::span<uint8_t>(raw)));
  astis::admin::NewApiKey key;
  key.id = astis::HexEncode(std::span<const uint8_t>(raw, 8));
  const std::string secret = astis::B64uEncode(std::span<const uint8_t>(raw + 8, 32));
  key.hash = astis::Sha256(secret);
  key.header_value = astis::SecretBytes::CopyFrom("astis_" + key.id + "_" + secret);
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto request = astis::admin::internal::DecodeRequest(line, 64 * 1024);
  if (!request.ok()) {
    if (request.status().code() != Code::kInvalidArgument) __builtin_trap();
    return 0;
  }
  if (!astis::admin::internal::IsKnownOp(request->op) || !request->args.is_object()) __builtin_trap();

  // A store holding one cluster and workload, so that apikey.create and
  // the session operations can succeed, not only fail.
  auto store = astis::store::OpenSqliteStore(":memory:");
  if (!store.ok()) __builtin_trap();
  astis::store::Cluster cluster;
  cluster.name = "prod";
  cluster.issuer = "https://kubernetes.default.svc";
  cluster.jwks_json = R"({"keys":[]})";
  astis::store::Workload workload{"prod", "payments", "api", {"sha256:" + std::string(64, 'a')}};
  if (!(*store)->PutCluster(cluster).ok() || !(*store)->PutWorkload(workload).ok()) __builtin_trap();
  astis::FakeClock clock(1'750'000'000);
  astis::admin::LocalOperations ops(**store, clock, astis::DefaultRandom(), Generate, "fuzz");
  auto result = astis::admin::internal::Dispatch(ops, request->op, request->args);
  if (!result.ok()) {
    if (result.status().message().find("astis_") != std::string::npos) __builtin_trap();
    return 0;
  }
  if (request->op == "apikey.create") {
    const astis::Json* key = result->contains("key") ? &result->at("key") : nullptr;
    if (key == nullptr || !key->is_string() || key->get_ref<const std::string&>().rfind("astis_", 0) != 0) {
      __builtin_trap();
    }
  }
  return 0;
}
