// How astis reaches one cluster's Kubernetes API: the endpoint, the trust
// anchor and a read-only credential (a bearer token re-read from its file as
// the kubelet rotates it, or a client certificate). See docs/kube.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "net/tls.h"

namespace astis::kube {

// ClusterConnection describes one Kubernetes API endpoint and credential. It
// owns its secrets (token, client key), so it is move-only. At most one of
// token_file / token is used: token_file when non-empty, else token.
struct ClusterConnection {
  std::string api_url;                  // "https://host:port", no path
  std::optional<std::string> ca_pem;    // nullopt: the system trust store
  std::string tls_server_name;          // "" : the host of api_url
  std::string token_file;               // bearer token file, re-read on change
  SecretBytes token;                    // static bearer token (kubeconfig user.token)
  std::optional<std::string> client_cert_pem;  // client certificate (mTLS)
  SecretBytes client_key_pem;                  // its private key
};

// TlsConfigOf is the TLS side of a connection to the API server: its CA (or
// the system trust store), server name and client certificate, if any. The
// API client and the pod watch connect the same way.
net::TlsClientConfig TlsConfigOf(const ClusterConnection& conn);

// kServiceAccountDir is where the kubelet mounts the pod's API credentials.
inline constexpr std::string_view kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// EnvLookup returns an environment variable's value, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// InClusterOptions injects the environment and the credential directory so
// tests need neither a real pod nor /var/run.
struct InClusterOptions {
  std::string base_dir = std::string(kServiceAccountDir);
  EnvLookup getenv;  // empty: the process environment
};

// InClusterConnection builds the connection a pod uses for its own cluster,
// as client-go's rest.InClusterConfig does: https://KUBERNETES_SERVICE_HOST:
// KUBERNETES_SERVICE_PORT (IPv6 hosts bracketed), CA <base_dir>/ca.crt,
// token file <base_dir>/token. Unlike client-go it fails closed: a missing or
// unreadable CA is an error. Fails with kFailedPrecondition when not in a
// cluster (either variable unset or empty), kInvalidArgument for a bad port,
// kIo when a file cannot be read, kInvalidArgument for a bad CA or token.
Result<ClusterConnection> InClusterConnection(const InClusterOptions& options = {});

// FromKubeconfig reads a kubeconfig file and returns the connection of
// context (current-context when nullopt). Supported: cluster.server (https
// only), certificate-authority(-data), tls-server-name; user.token,
// user.tokenFile, client-certificate(-data) with client-key(-data). Relative
// file paths resolve against the kubeconfig's directory; "-data" wins over a
// file and token over tokenFile, as in client-go. Refused with
// kInvalidArgument and a message naming the field: exec and auth-provider
// plugins, username/password, impersonation, proxy-url,
// insecure-skip-tls-verify: true, a user with no credential, and malformed
// YAML or base64. Unreadable files are kIo. yaml-cpp exceptions never escape.
Result<ClusterConnection> FromKubeconfig(const std::string& path,
                                         const std::optional<std::string>& context = std::nullopt);

// Explicit builds a connection from an https URL, a CA PEM file and a token
// file (read now once to fail early, then re-read on use). Errors as
// InClusterConnection.
Result<ClusterConnection> Explicit(const std::string& api_url, const std::string& ca_file,
                                   const std::string& token_file);

// TokenSource hands out the current bearer token. Implementations are
// thread-safe.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // Token returns a copy of the current token, owned by the caller. Errors
  // are kIo (file unreadable) or kInvalidArgument (empty or not a header-safe
  // token); the message names the file, never the token.
  virtual Result<SecretBytes> Token() = 0;
};

// FileTokenSource reads a token file and re-reads it when the file it
// resolves to changes (device, inode, size or mtime after following
// symlinks; the kubelet rotates projected tokens by swapping a ..data
// symlink) and at least every max_age_seconds by clock, as client-go's
// cached file token source does (one minute). A failed re-read fails closed:
// the old token is not used.
class FileTokenSource final : public TokenSource {
 public:
  // FileTokenSource keeps a reference to clock, which must outlive it.
  FileTokenSource(std::string path, const Clock& clock, int64_t max_age_seconds = 60);
  Result<SecretBytes> Token() override;

 private:
  struct FileId {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_sec = 0, mtime_nsec = 0;
    bool operator==(const FileId&) const = default;
  };
  const std::string path_;
  const Clock& clock_;
  const int64_t max_age_seconds_;
  std::mutex mu_;
  std::optional<FileId> cached_id_;
  int64_t read_at_ = 0;
  SecretBytes cached_;
};

// StaticTokenSource always returns the same token (kubeconfig user.token).
class StaticTokenSource final : public TokenSource {
 public:
  explicit StaticTokenSource(SecretBytes token) : token_(std::move(token)) {}
  Result<SecretBytes> Token() override { return token_.Clone(); }

 private:
  SecretBytes token_;
};

// MakeTokenSource returns the TokenSource for conn: a FileTokenSource over
// conn.token_file (clock must outlive it), a StaticTokenSource over a copy
// of conn.token, or nullptr when conn has no bearer token (client
// certificate only). Never fails.
std::unique_ptr<TokenSource> MakeTokenSource(const ClusterConnection& conn, const Clock& clock);

// ReadTokenFile reads and validates one token file: surrounding whitespace
// is trimmed (as client-go does); the rest must be 1..64 KiB of visible
// ASCII. Errors as TokenSource::Token.
Result<SecretBytes> ReadTokenFile(const std::string& path);

}  // namespace astis::kube
