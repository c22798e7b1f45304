// The `astis` CLI's commands as functions over values, so tests call them
// in-process. cli.h wires them to argv, stdin/stdout and exit codes.
#pragma once

#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "capsule/org_key.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "crypto/random.h"

namespace astis::cli {

// Annotation names written by `astis seal` and removed by `astis unseal`.
inline constexpr std::string_view kAnnotationSealed = "astis.io/sealed";
inline constexpr std::string_view kAnnotationCluster = "astis.io/cluster";
inline constexpr std::string_view kAnnotationServiceAccount = "astis.io/service-account";
// kLastAppliedAnnotation holds kubectl's copy of the whole applied object,
// plaintext included; sealing drops it.
inline constexpr std::string_view kLastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

// KeygenResult names the files Keygen wrote and the new key's KID.
struct KeygenResult {
  std::string private_path;
  std::string public_path;
  std::string kid;
};

// Keygen creates dir (mode 0700) when absent and writes dir/org-key.jwk (the
// private JWK with "d" and "kid", mode 0600, O_EXCL) and dir/org-key.pub.jwk
// (public JWK with "kid", mode 0644, O_EXCL). It refuses (kAlreadyExists)
// when either file exists and writes nothing then; other errors are kIo or
// kCrypto. On a failure after the private file was created, it is removed.
// suite picks the org key's KEM (docs/protocol.md §1): X25519 (the default)
// or P-256.
Result<KeygenResult> Keygen(const std::string& dir, Random& rng,
                            capsule::OrgKeySuite suite = capsule::OrgKeySuite::kX25519);

// KeygenInToken generates a P-256 org key inside a PKCS#11 token (the key
// named by uri, through module and the PIN in pin_file; docs/hsm.md) and
// writes only dir/org-key.pub.jwk (0644, O_EXCL) and dir/org-key.jwk, the
// key set member that names the token key ({...public JWK, "pkcs11":uri},
// no "d"; 0600). Errors: kAlreadyExists (a file, or the object in the
// token), kNotFound / kIo, kCvsUnavailable when the token cannot be used.
Result<KeygenResult> KeygenInToken(const std::string& dir, const std::string& uri, const std::string& module,
                                   const std::string& pin_file);

// SealScope is where sealed values may be opened: docs/protocol.md §3.1 BIND
// fields other than name and key (which come from the Secret).
// clusters holds 1 to 16 clusters: one writes v1 capsules, several write v2
// capsules bound to all of them (sorted; §3.1).
struct SealScope {
  std::vector<std::string> clusters;
  std::string namespace_;
  std::string service_account;
};

// SealSecret returns secret with every data / stringData value replaced by
// base64 of a sealed value (stringData folded into data), the annotations
// astis.io/sealed "v1", astis.io/cluster (the clusters, sorted and
// comma-separated), astis.io/service-account added,
// metadata.namespace set to scope.namespace_ when absent, and kubectl's
// last-applied-configuration annotation removed. The values are bound to
// the Secret's metadata.namespace, or scope.namespace_ when the Secret has
// none (an empty scope.namespace_ means "not given"). Refuses
// (kInvalidArgument): a kind other than v1 Secret, a missing or invalid
// metadata.name, a namespace differing from a non-empty scope.namespace_,
// no namespace in either, an already-sealed Secret, no values, a
// key in both data and stringData, an invalid key, non-string values,
// invalid base64 in data. Crypto errors are kCrypto. Messages name keys,
// never values.
Result<Json> SealSecret(const Json& secret, const capsule::OrgPublicKey& org_key, const SealScope& scope,
                        Random& rng, Clock& clock);

// PlaintextSecretTypeReason returns, for a Secret type whose consumer is
// the kubelet or the API server and needs the values in plaintext
// (kubernetes.io/dockerconfigjson, kubernetes.io/dockercfg,
// kubernetes.io/tls, kubernetes.io/service-account-token,
// bootstrap.kubernetes.io/token), why sealing it would break that
// consumer; "" for any other type.
std::string_view PlaintextSecretTypeReason(std::string_view type);

// CheckSealableType refuses (kInvalidArgument, naming the Secret, its type
// and the reason) a Secret whose type has a PlaintextSecretTypeReason,
// unless the type is in allowed (`astis seal --allow-type`); then warning
// receives the reason and it returns OK. Other types pass.
// Tests: CliTypeTest.SealRefusesDockerConfigJson and its neighbours.
Status CheckSealableType(const Json& secret, const std::vector<std::string>& allowed, std::string* warning);

// UnsealSecret opens every value of a sealed Secret with keys and returns
// the plain Secret (data = base64 of the plaintext, astis annotations
// removed). Each value's binding must equal the Secret's own namespace,
// name and data key, and the astis.io/cluster and astis.io/service-account
// annotations when present (kCapsuleScope otherwise: a value moved to
// another Secret is refused; the cluster annotation is the binding's
// comma-separated cluster list). A non-empty in_cluster further requires
// every value to be in scope for that cluster, as the edge would check for
// a pod there (kCapsuleScope). Other errors: kInvalidArgument (shape),
// kUnknownKey, kCapsuleInvalid, kCrypto.
Result<Json> UnsealSecret(const Json& secret, const capsule::OrgKeySet& keys, std::string_view in_cluster = "");

// LoadOrgKeySetForCli reads an org key set file for `astis unseal` /
// `astis reseal`. Members held in a PKCS#11 token (docs/hsm.md) are opened
// through module with the PIN in pin_file when both are given; without them
// such a member is refused (kInvalidArgument naming the missing flags).
// A file holding only public keys is refused as such, naming command
// ("unseal needs the private org key"), before its mode is looked at.
Result<capsule::OrgKeySet> LoadOrgKeySetForCli(const std::string& path, const std::string& module,
                                               const std::string& pin_file, std::string_view command = "unseal");

// IsPublicKeyUrl reports whether an `astis seal --public-key` argument is
// a URL (it has a scheme, "https://" or any other) rather than a file path.
bool IsPublicKeyUrl(std::string_view arg);

// kMaxFetchedKeyBytes bounds the body FetchOrgPublicKey accepts.
inline constexpr size_t kMaxFetchedKeyBytes = 16 * 1024;

// FetchOrgPublicKey fetches an org public key from an edge's
// GET /v1/keys/{kid} (docs/protocol.md "Org public keys"): url must be
// https://HOST[:PORT][/PREFIX]/v1/keys/KID, KID 43 base64url characters, no
// query or fragment (kInvalidArgument otherwise; http:// is refused). TLS
// is verified against ca_file, or the system trust store when empty; the
// body is at most kMaxFetchedKeyBytes and the call has a 10 s deadline. The
// key is refused (kCrypto) unless its RFC 7638 thumbprint equals KID, so
// the edge need not be trusted; a JWK with "d" is refused
// (kInvalidArgument). A 404 is kNotFound; an unreachable edge or TLS
// failure kUnavailable; another status kUnavailable.
// Tests: CliFetchKeyTest.*.
Result<capsule::OrgPublicKey> FetchOrgPublicKey(const std::string& url, const std::string& ca_file);

// SecretSource is one --from-literal KEY=VALUE or --from-file [KEY=]PATH.
struct SecretSource {
  enum class Kind { kLiteral, kFile } kind;
  std::string spec;  // the argument as given
};

// BuildSecret makes a v1 Secret named name in namespace_ with type type
// (Opaque when empty) from sources, like `kubectl create secret generic`.
// Refuses (kInvalidArgument) a spec without '=' for literals, a duplicate or
// invalid key, an invalid name; unreadable files are kIo. The values pass
// through the returned JSON (base64), which the caller seals at once.
Result<Json> BuildSecret(const std::string& name, const std::string& namespace_, const std::string& type,
                         const std::vector<SecretSource>& sources);

// ReadFileLimited reads a whole file of at most limit bytes. Errors:
// kNotFound, kIo, kTooLarge. The caller owns (and wipes, if secret) the text.
Result<std::string> ReadFileLimited(const std::string& path, size_t limit);

// ReadInput reads the command's input: the file named by file, or stdin (in)
// when file is empty or "-", at most kMaxManifestBytes either way. Errors:
// those of ReadFileLimited; kTooLarge or kIo for stdin.
Result<std::string> ReadInput(const std::string& file, std::istream& in);

}  // namespace astis::cli
