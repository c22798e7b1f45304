#include "cli/commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <istream>

#include "capsule/binding.h"
#include "capsule/capsule.h"
#include "capsule/seal.h"
#include "cli/secret_manifest.h"
#include "hsm/pkcs11.h"
#include "common/encoding.h"
#include "crypto/secret_bytes.h"
#include "net/https_client.h"
#include "net/tls.h"

namespace astis::cli {
namespace {

using capsule::Binding;

// Quote renders a Secret key or name for an error message (JSON-escaped, so
// a control character cannot forge a log line). Keys are not secret.
std::string Quote(std::string_view s) { return DumpJson(Json(std::string(s))); }

Status WriteNewFile(const std::string& path, std::string_view text, mode_t mode) {
  // O_EXCL: never overwrite, never follow a planted symlink. Test:
  // KeygenRefusesOverwrite.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    if (errno == EEXIST) return Error(Code::kAlreadyExists, path + " already exists; refusing to overwrite");
    return Error(Code::kIo, "cannot create " + path + ": " + std::strerror(errno));
  }
  Status st;
  if (::fchmod(fd, mode) != 0) st = Error(Code::kIo, "cannot chmod " + path);
  size_t off = 0;
  while (st.ok() && off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      st = Error(Code::kIo, "cannot write " + path);
      break;
    }
    off += static_cast<size_t>(n);
  }
  if (st.ok() && ::fsync(fd) != 0) st = Error(Code::kIo, "cannot sync " + path);
  if (::close(fd) != 0 && st.ok()) st = Error(Code::kIo, "cannot close " + path);
  if (!st.ok()) ::unlink(path.c_str());
  return st;
}

Status RequireSecretKind(const Json& secret) {
  if (!secret.is_object()) return Error(Code::kInvalidArgument, "manifest is not an object");
  auto kind = secret.find("kind");
  auto api = secret.find("apiVersion");
  if (kind == secret.end() || !kind->is_string() || kind->get<std::string>() != "Secret")
    return Error(Code::kInvalidArgument, "manifest is not a Secret (kind must be \"Secret\")");
  if (api == secret.end() || !api->is_string() || api->get<std::string>() != "v1")
    return Error(Code::kInvalidArgument, "Secret apiVersion must be \"v1\"");
  auto meta = secret.find("metadata");
  if (meta == secret.end() || !meta->is_object()) return Error(Code::kInvalidArgument, "Secret has no metadata");
  auto name = meta->find("name");
  if (name == meta->end() || !name->is_string() || !capsule::IsDns1123Subdomain(name->get<std::string>()))
    return Error(Code::kInvalidArgument, "Secret metadata.name missing or not a DNS-1123 subdomain");
  return OkStatus();
}

// OptionalObject returns the object at obj[key], an empty object when the
// member is absent or null, and an error when it is another type.
Result<Json> OptionalObject(const Json& obj, std::string_view key, std::string_view what) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Json::object();
  if (!it->is_object()) return Error(Code::kInvalidArgument, std::string(what) + " is not a mapping");
  return *it;
}

Result<std::string> OptionalString(const Json& obj, std::string_view key, std::string_view what) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::string();
  if (!it->is_string()) return Error(Code::kInvalidArgument, std::string(what) + " is not a string");
  return it->get<std::string>();
}

// DecodeDataValue decodes a Secret data value (standard base64) into SecretBytes.
Result<SecretBytes> DecodeDataValue(const Json& v, const std::string& key) {
  if (!v.is_string()) return Error(Code::kInvalidArgument, "data[" + Quote(key) + "] is not a string");
  auto bytes = B64Decode(v.get<std::string>());
  if (!bytes.ok()) return Error(Code::kInvalidArgument, "data[" + Quote(key) + "] is not valid base64");
  SecretBytes out = SecretBytes::CopyFrom(*bytes);
  SecureWipe(bytes->data(), bytes->size());
  return out;
}

bool LooksSealed(const SecretBytes& v) { return v.RevealString().substr(0, 9) == capsule::kSealedValuePrefix; }

}  // namespace

Result<std::string> ReadFileLimited(const std::string& path, size_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(errno == ENOENT ? Code::kNotFound : Code::kIo, "cannot open " + path);
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return Error(Code::kIo, "cannot read " + path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > limit) {
      ::close(fd);
      SecureWipe(out.data(), out.size());
      return Error(Code::kTooLarge, path + " exceeds the size limit");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  SecureWipe(buf, sizeof buf);
  ::close(fd);
  return out;
}

Result<std::string> ReadInput(const std::string& file, std::istream& in) {
  if (!file.empty() && file != "-") return ReadFileLimited(file, kMaxManifestBytes);
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxManifestBytes) return Error(Code::kTooLarge, "stdin exceeds the size limit");
  }
  if (in.bad()) return Error(Code::kIo, "cannot read stdin");
  return text;
}

Result<capsule::OrgKeySet> LoadOrgKeySetForCli(const std::string& path, const std::string& module,
                                               const std::string& pin_file, std::string_view command) {
  if (module.empty() != pin_file.empty())
    return Error(Code::kInvalidArgument, "--pkcs11-module and --pin-file go together");
  if (module.empty()) {
    auto keys = capsule::OrgKeySet::LoadFile(path, {}, command);
    // A key set naming a token key needs the token: say which flags.
    // Test: CliHsmTest.UnsealTokenKeySetNeedsModule.
    if (!keys.ok() && keys.status().message().find("no pkcs11 module") != std::string::npos)
      return Error(Code::kInvalidArgument, path + ": a key is held in a PKCS#11 token; pass --pkcs11-module and "
                                                  "--pin-file");
    return keys;
  }
  ASTIS_ASSIGN_OR_RETURN(std::shared_ptr<hsm::Pkcs11Module> token,
                         hsm::Pkcs11Module::Load(hsm::Pkcs11Config{module, pin_file, 2}));
  capsule::TokenKeyResolver resolver = [token](std::string_view uri) { return token->OpenP256Key(uri); };
  return capsule::OrgKeySet::LoadFile(path, resolver, command);
}

bool IsPublicKeyUrl(std::string_view arg) { return arg.find("://") != std::string_view::npos; }

Result<capsule::OrgPublicKey> FetchOrgPublicKey(const std::string& url, const std::string& ca_file) {
  constexpr std::string_view kHttps = "https://";
  constexpr std::string_view kKeysPath = "/v1/keys/";
  // The key is fetched over verified TLS only; plain http is refused even
  // though the thumbprint check would catch a swapped key, so that a
  // refusal is never the first sign of an attacker on the path.
  // Test: CliFetchKeyTest.RefusesHttp.
  if (url.rfind(kHttps, 0) != 0)
    return Error(Code::kInvalidArgument, "--public-key URL must start with https:// (got another scheme)");
  const size_t path_at = url.find('/', kHttps.size());
  if (path_at == std::string::npos || path_at == kHttps.size())
    return Error(Code::kInvalidArgument, "--public-key URL must be https://HOST[:PORT]/v1/keys/KID");
  const std::string origin = url.substr(0, path_at);
  const std::string path = url.substr(path_at);
  const size_t keys_at = path.rfind(kKeysPath);
  const std::string kid = keys_at == std::string::npos ? "" : path.substr(keys_at + kKeysPath.size());
  // An RFC 7638 SHA-256 thumbprint is 43 base64url characters.
  // Test: CliFetchKeyTest.RefusesWrongUrlShape.
  bool kid_ok = kid.size() == 43;
  for (char c : kid) kid_ok = kid_ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  if (path.find_first_of("?#") != std::string::npos || !kid_ok)
    return Error(Code::kInvalidArgument,
                 "--public-key URL must be https://HOST[:PORT]/v1/keys/KID with KID the key's RFC 7638 thumbprint "
                 "(43 base64url characters; `astis org key list` shows it)");
  net::TlsClientConfig tls;
  if (!ca_file.empty()) {
    ASTIS_ASSIGN_OR_RETURN(std::string ca, net::ReadPemFile(ca_file));
    tls.ca_pem = std::move(ca);
  }
  net::ClientOptions options;
  options.connect_timeout = std::chrono::milliseconds(5000);
  options.request_timeout = std::chrono::milliseconds(10000);
  options.max_response_body_bytes = kMaxFetchedKeyBytes;
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> client, net::HttpsClient::Create(origin, tls, options));
  net::HttpRequest request;
  request.target = path;
  request.headers.emplace_back("Accept", "application/jwk+json");
  auto response = client->Send(request);
  if (!response.ok()) return response.status().Annotate("fetching " + url);
  if (response->status == 404)
    return Error(Code::kNotFound, url + ": the edge serves no active org key with this kid (retired or unknown; "
                                        "`astis org key list` shows the active kid)");
  if (response->status != 200)
    return Error(Code::kUnavailable, url + ": the edge answered HTTP " + std::to_string(response->status));
  auto jwk = ParseJsonObject(response->body);
  if (!jwk.ok()) return jwk.status().Annotate(url);
  if (jwk->contains("d")) return Error(Code::kInvalidArgument, url + ": the answer holds a private key; refused");
  // The address is self-certifying: the key is used only when its RFC 7638
  // thumbprint is the KID in the URL, whoever answered.
  // Test: CliFetchKeyTest.RefusesThumbprintMismatch.
  Json members = *jwk;
  members.erase("kid");
  auto key = capsule::OrgPublicKey::FromJwk(members);
  if (!key.ok()) return key.status().Annotate(url);
  if (key->kid() != kid)
    return Error(Code::kCrypto, url + ": the key's RFC 7638 thumbprint " + key->kid() +
                                    " is not the kid in the URL; refused");
  return std::move(*key);
}

namespace {

// PrepareKeyDir creates dir (0700) when absent and names the two key files,
// refusing (kAlreadyExists) when either exists: keygen never overwrites.
Result<KeygenResult> PrepareKeyDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Error(Code::kIo, "cannot create directory " + dir + ": " + std::strerror(errno));
  KeygenResult r{dir + "/org-key.jwk", dir + "/org-key.pub.jwk", ""};
  struct stat st {};
  for (const std::string& p : {r.private_path, r.public_path}) {
    if (::lstat(p.c_str(), &st) == 0) return Error(Code::kAlreadyExists, p + " already exists; refusing to overwrite");
  }
  return r;
}

}  // namespace

Result<KeygenResult> KeygenInToken(const std::string& dir, const std::string& uri, const std::string& module,
                                   const std::string& pin_file) {
  ASTIS_ASSIGN_OR_RETURN(KeygenResult r, PrepareKeyDir(dir));
  // The key pair is generated inside the token (sensitive, non-extractable;
  // docs/hsm.md "Key ceremony"); only its public point leaves it.
  // Test: CliHsmTest.KeygenPkcs11WritesOnlyPublicMaterial.
  ASTIS_ASSIGN_OR_RETURN(std::shared_ptr<hsm::Pkcs11Module> token,
                         hsm::Pkcs11Module::Load(hsm::Pkcs11Config{module, pin_file, 1}));
  ASTIS_ASSIGN_OR_RETURN(P256PublicKey pk, token->GenerateP256Key(uri));
  capsule::OrgPublicKey pub = capsule::OrgPublicKey::FromP256(pk);
  r.kid = pub.kid();
  // org-key.jwk is the key set member that names the token key: the public
  // JWK plus "pkcs11": URI, never a "d".
  Json member = pub.ToJwk();
  member["pkcs11"] = uri;
  ASTIS_RETURN_IF_ERROR(WriteNewFile(r.private_path, DumpJson(member) + "\n", 0600));
  Status s = WriteNewFile(r.public_path, DumpJson(pub.ToJwk()) + "\n", 0644);
  if (!s.ok()) {
    ::unlink(r.private_path.c_str());
    return s;
  }
  return r;
}

Result<KeygenResult> Keygen(const std::string& dir, Random& rng, capsule::OrgKeySuite suite) {
  ASTIS_ASSIGN_OR_RETURN(KeygenResult r, PrepareKeyDir(dir));
  ASTIS_ASSIGN_OR_RETURN(capsule::OrgPrivateKey key,
                         capsule::OrgPrivateKey::Generate(suite, rng, SecretBytes::Protection::kLocked));
  r.kid = key.kid();
  {
    std::string priv = DumpJson(key.ToPrivateJwk()) + "\n";
    Status s = WriteNewFile(r.private_path, priv, 0600);
    SecureWipe(priv.data(), priv.size());
    ASTIS_RETURN_IF_ERROR(s);
  }
  Status s = WriteNewFile(r.public_path, DumpJson(key.public_key().ToJwk()) + "\n", 0644);
  if (!s.ok()) {
    ::unlink(r.private_path.c_str());
    return s;
  }
  return r;
}

Result<Json> SealSecret(const Json& secret, const capsule::OrgPublicKey& org_key, const SealScope& scope,
                        Random& rng, Clock& clock) {
  ASTIS_RETURN_IF_ERROR(RequireSecretKind(secret));
  Json out = secret;
  Json& meta = out["metadata"];
  const std::string name = meta["name"].get<std::string>();
  ASTIS_ASSIGN_OR_RETURN(std::string ns, OptionalString(meta, "namespace", "metadata.namespace"));
  // Like kubectl: --namespace may be left out when the Secret names its
  // own; both given must agree, and one of them must be given.
  // Tests: SealRefusesNamespaceMismatch, CliTest.SealTakesNamespaceFromMetadata,
  // CliTest.SealRefusesNoNamespaceAnywhere.
  if (!ns.empty() && !scope.namespace_.empty() && ns != scope.namespace_)
    return Error(Code::kInvalidArgument, "Secret " + Quote(name) + ": namespace " + Quote(ns) +
                                             " differs from --namespace " + Quote(scope.namespace_));
  if (ns.empty()) ns = scope.namespace_;
  if (ns.empty())
    return Error(Code::kInvalidArgument, "Secret " + Quote(name) + " has no metadata.namespace; give --namespace");
  if (!capsule::IsDns1123Label(ns))
    return Error(Code::kInvalidArgument, "Secret " + Quote(name) + ": namespace is not a DNS-1123 label");
  meta["namespace"] = ns;

  ASTIS_ASSIGN_OR_RETURN(Json annotations, OptionalObject(meta, "annotations", "metadata.annotations"));
  // Test: SealRefusesAlreadySealed.
  if (annotations.contains(kAnnotationSealed))
    return Error(Code::kInvalidArgument, "Secret is already sealed (astis.io/sealed annotation present)");
  ASTIS_ASSIGN_OR_RETURN(Json data, OptionalObject(secret, "data", "data"));
  ASTIS_ASSIGN_OR_RETURN(Json string_data, OptionalObject(secret, "stringData", "stringData"));
  if (data.empty() && string_data.empty()) return Error(Code::kInvalidArgument, "Secret has no data to seal");

  // docs/protocol.md §3.1: 1 to 16 clusters; one seals v1, several v2.
  // Tests: CliTest.SealTwoClustersWritesV2, SealRefusesDuplicateCluster.
  if (scope.clusters.empty() || scope.clusters.size() > capsule::kMaxBindingClusters)
    return Error(Code::kInvalidArgument, "--cluster must be given 1 to 16 times");
  Json sealed_data = Json::object();
  std::string cluster_list;
  auto seal_one = [&](const std::string& key, const SecretBytes& plaintext) -> Status {
    if (LooksSealed(plaintext))
      return Error(Code::kInvalidArgument, "data[" + Quote(key) + "] is already a sealed value");
    ASTIS_ASSIGN_OR_RETURN(Binding b,
                           Binding::ForClusters(scope.clusters, ns, scope.service_account, name, key));
    cluster_list = b.ClusterList();
    auto v = capsule::Seal(org_key, b, plaintext.Reveal(), rng, clock);
    if (!v.ok()) return v.status().Annotate("sealing data[" + Quote(key) + "]");
    sealed_data[key] = B64Encode(v->ToString());
    return OkStatus();
  };
  for (auto it = data.begin(); it != data.end(); ++it) {
    ASTIS_ASSIGN_OR_RETURN(SecretBytes pt, DecodeDataValue(it.value(), it.key()));
    ASTIS_RETURN_IF_ERROR(seal_one(it.key(), pt));
  }
  for (auto it = string_data.begin(); it != string_data.end(); ++it) {
    // Test: SealRefusesKeyInDataAndStringData.
    if (data.contains(it.key()))
      return Error(Code::kInvalidArgument, "key " + Quote(it.key()) + " is in both data and stringData");
    if (!it.value().is_string())
      return Error(Code::kInvalidArgument, "stringData[" + Quote(it.key()) + "] is not a string (quote it)");
    SecretBytes pt = SecretBytes::CopyFrom(it.value().get_ref<const std::string&>());
    ASTIS_RETURN_IF_ERROR(seal_one(it.key(), pt));
  }

  out.erase("stringData");
  out["data"] = std::move(sealed_data);
  annotations.erase(kLastAppliedAnnotation);
  annotations[kAnnotationSealed] = "v1";
  annotations[kAnnotationServiceAccount] = scope.service_account;
  annotations[kAnnotationCluster] = cluster_list;
  meta["annotations"] = std::move(annotations);
  return out;
}

std::string_view PlaintextSecretTypeReason(std::string_view type) {
  // The consumer of these types is Kubernetes itself, which reads the
  // values in clear; only a pod's own code calls the edge.
  if (type == "kubernetes.io/dockerconfigjson" || type == "kubernetes.io/dockercfg")
    return "the kubelet reads this Secret to pull images; a sealed value would break image pulls";
  if (type == "kubernetes.io/tls")
    return "Ingress controllers and TLS terminators read tls.crt and tls.key from this Secret; a sealed value "
           "would break TLS termination";
  if (type == "kubernetes.io/service-account-token")
    return "the API server's token controller writes and reads this Secret; a sealed token would not "
           "authenticate";
  if (type == "bootstrap.kubernetes.io/token")
    return "the API server reads bootstrap tokens from this Secret to let nodes join; a sealed value would break "
           "node bootstrap";
  return "";
}

Status CheckSealableType(const Json& secret, const std::vector<std::string>& allowed, std::string* warning) {
  if (!secret.is_object()) return OkStatus();
  auto type = secret.find("type");
  if (type == secret.end() || !type->is_string()) return OkStatus();
  const std::string& t = type->get_ref<const std::string&>();
  std::string_view reason = PlaintextSecretTypeReason(t);
  if (reason.empty()) return OkStatus();
  std::string name = "(unnamed)";
  auto meta = secret.find("metadata");
  if (meta != secret.end() && meta->is_object() && meta->contains("name") && (*meta)["name"].is_string())
    name = (*meta)["name"].get<std::string>();
  const std::string what = "Secret " + Quote(name) + " has type " + Quote(t) + ": " + std::string(reason);
  for (const std::string& a : allowed) {
    if (a == t) {
      if (warning != nullptr) *warning = what + " (sealed anyway: --allow-type)";
      return OkStatus();
    }
  }
  return Error(Code::kInvalidArgument, what + "; leave it plaintext, or pass --allow-type " + t +
                                           " if a pod reads it through ASTIS");
}

Result<Json> UnsealSecret(const Json& secret, const capsule::OrgKeySet& keys, std::string_view in_cluster) {
  ASTIS_RETURN_IF_ERROR(RequireSecretKind(secret));
  Json out = secret;
  Json& meta = out["metadata"];
  const std::string name = meta["name"].get<std::string>();
  ASTIS_ASSIGN_OR_RETURN(std::string ns, OptionalString(meta, "namespace", "metadata.namespace"));
  if (ns.empty()) return Error(Code::kInvalidArgument, "sealed Secret has no metadata.namespace");
  ASTIS_ASSIGN_OR_RETURN(Json annotations, OptionalObject(meta, "annotations", "metadata.annotations"));
  ASTIS_ASSIGN_OR_RETURN(std::string cluster, OptionalString(annotations, kAnnotationCluster, "astis.io/cluster"));
  ASTIS_ASSIGN_OR_RETURN(std::string sa, OptionalString(annotations, kAnnotationServiceAccount,
                                                         "astis.io/service-account"));
  if (secret.contains("stringData")) return Error(Code::kInvalidArgument, "sealed Secret has stringData");
  ASTIS_ASSIGN_OR_RETURN(Json data, OptionalObject(secret, "data", "data"));
  if (data.empty()) return Error(Code::kInvalidArgument, "Secret has no data to unseal");

  Json plain = Json::object();
  for (auto it = data.begin(); it != data.end(); ++it) {
    const std::string& key = it.key();
    ASTIS_ASSIGN_OR_RETURN(SecretBytes text, DecodeDataValue(it.value(), key));
    auto value = capsule::SealedValue::Parse(text.RevealString());
    if (!value.ok()) return value.status().Annotate("data[" + Quote(key) + "]");
    const Binding& b = value->capsule().binding();
    // A value copied into another Secret, key or namespace is refused even
    // though the org key would open it. Test: UnsealRefusesMovedValue.
    if (b.namespace_ != ns || b.name != name || b.key != key)
      return Error(Code::kCapsuleScope, "data[" + Quote(key) + "] is bound to " + Quote(b.namespace_) + "/" +
                                            Quote(b.name) + "[" + Quote(b.key) + "], not to this Secret");
    if ((!cluster.empty() && b.ClusterList() != cluster) || (!sa.empty() && b.service_account != sa))
      return Error(Code::kCapsuleScope,
                   "data[" + Quote(key) + "] is bound to another cluster or ServiceAccount than annotated");
    // docs/protocol.md §4.2 capsule_scope, as the edge checks it for a pod
    // in in_cluster. Test: CliTest.UnsealInClusterChecksScope.
    if (!in_cluster.empty() && !b.InScope(in_cluster))
      return Error(Code::kCapsuleScope, "data[" + Quote(key) + "] is not bound to cluster " + Quote(in_cluster));
    auto dek = capsule::OpenCapsule(keys, value->capsule());
    if (!dek.ok()) return dek.status().Annotate("data[" + Quote(key) + "]");
    auto pt = capsule::DecryptValue(*dek, *value);
    if (!pt.ok()) return pt.status().Annotate("data[" + Quote(key) + "]");
    plain[key] = B64Encode(pt->Reveal());
  }
  out["data"] = std::move(plain);
  annotations.erase(kAnnotationSealed);
  annotations.erase(kAnnotationCluster);
  annotations.erase(kAnnotationServiceAccount);
  if (annotations.empty()) {
    meta.erase("annotations");
  } else {
    meta["annotations"] = std::move(annotations);
  }
  return out;
}

Result<Json> BuildSecret(const std::string& name, const std::string& namespace_, const std::string& type,
                         const std::vector<SecretSource>& sources) {
  if (!capsule::IsDns1123Subdomain(name))
    return Error(Code::kInvalidArgument, "--name must be a DNS-1123 subdomain");
  Json data = Json::object();
  for (const auto& src : sources) {
    std::string key;
    std::string value;
    size_t eq = src.spec.find('=');
    if (src.kind == SecretSource::Kind::kLiteral) {
      if (eq == std::string::npos || eq == 0)
        return Error(Code::kInvalidArgument, "--from-literal expects KEY=VALUE");
      key = src.spec.substr(0, eq);
      value = src.spec.substr(eq + 1);
    } else {
      std::string path = eq == std::string::npos ? src.spec : src.spec.substr(eq + 1);
      key = eq == std::string::npos ? path.substr(path.rfind('/') + 1) : src.spec.substr(0, eq);
      ASTIS_ASSIGN_OR_RETURN(value, ReadFileLimited(path, capsule::kMaxSealedValueBytes / 2));
    }
    if (!capsule::IsSecretDataKey(key)) {
      SecureWipe(value.data(), value.size());
      return Error(Code::kInvalidArgument, "invalid Secret data key " + Quote(key));
    }
    if (data.contains(key)) {
      SecureWipe(value.data(), value.size());
      return Error(Code::kInvalidArgument, "duplicate Secret data key " + Quote(key));
    }
    data[key] = B64Encode(value);
    SecureWipe(value.data(), value.size());
  }
  if (data.empty()) return Error(Code::kInvalidArgument, "no --from-literal or --from-file given");
  Json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", name}, {"namespace", namespace_}}},
                 {"type", type.empty() ? "Opaque" : type},
                 {"data", std::move(data)}};
  return secret;
}

}  // namespace astis::cli
