// TLS configuration for astis::net: what the HTTPS server and client accept.
//
// Policy (docs/net.md): TLS 1.2 minimum, 1.3 preferred; TLS 1.2 only with
// ECDHE + AEAD cipher suites; no compression; no renegotiation. This header is
// Boost-free: the contexts are built inside src/net (internal/tls_context.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "crypto/sha256.h"

namespace astis::net {

// TlsServerConfig is the server side of TLS. It owns its key (move-only).
struct TlsServerConfig {
  std::string cert_chain_pem;  // leaf first, then intermediates
  SecretBytes key_pem;         // the leaf's private key
  // client_ca_pem, when set, turns on mutual TLS: a client certificate is
  // required and must chain to one of these CAs.
  std::optional<std::string> client_ca_pem;
  // pinned_client_cert_sha256, when non-empty (and client_ca_pem is set),
  // accepts only client leaf certificates whose DER SHA-256 is listed.
  std::vector<Sha256Digest> pinned_client_cert_sha256;
};

// TlsClientConfig is the client side of TLS. It owns its key (move-only).
struct TlsClientConfig {
  // ca_pem is the trust anchor set; nullopt means the system default store.
  std::optional<std::string> ca_pem;
  // client_cert_pem / client_key_pem present a client certificate (mTLS).
  std::optional<std::string> client_cert_pem;
  SecretBytes client_key_pem;
  // pinned_server_cert_sha256, when non-empty, additionally requires the
  // server's leaf certificate DER SHA-256 to be one of these (the chain must
  // still verify against ca_pem).
  std::vector<Sha256Digest> pinned_server_cert_sha256;
  // pinned_server_spki_sha256, when non-empty, additionally requires the
  // SHA-256 of the server leaf's DER SubjectPublicKeyInfo (RFC 5280
  // §4.1.2.7; the value RFC 7469 §2.4 pins) to be one of these: a renewed
  // certificate for the same key is accepted, a new key is not. The chain
  // must still verify against ca_pem, and both pin lists apply when both
  // are set.
  std::vector<Sha256Digest> pinned_server_spki_sha256;
  // server_name overrides the name used for SNI and hostname verification;
  // empty means the host of the URL. An IP address is checked against the
  // certificate's IP SANs and not sent as SNI (RFC 6066 §3).
  std::string server_name;
  // verify_hostname checks the certificate against server_name (RFC 6125).
  // Turning it off is for pinned-certificate deployments only.
  bool verify_hostname = true;
};

// CertSha256 returns the SHA-256 of the DER encoding of the first certificate
// in pem (the value used for pinning). Fails with kInvalidArgument if pem holds
// no certificate.
Result<Sha256Digest> CertSha256(std::string_view pem);

// SpkiSha256 returns the SHA-256 of the DER SubjectPublicKeyInfo of the
// first certificate in pem (the value of pinned_server_spki_sha256). Fails
// with kInvalidArgument if pem holds no certificate.
Result<Sha256Digest> SpkiSha256(std::string_view pem);

// ReadPemFile reads a certificate/CA PEM file. Fails with kIo (naming the path)
// if it cannot be read and kInvalidArgument if it holds no certificate.
Result<std::string> ReadPemFile(const std::string& path);

// ReadKeyFile reads a private key PEM file into SecretBytes. Fails with kIo
// (naming the path) if unreadable, kInvalidArgument if it is not an
// unencrypted PEM private key; the error never quotes the file's contents.
Result<SecretBytes> ReadKeyFile(const std::string& path);

// LoadTlsServerConfig reads cert/key (and, when client_ca_path is non-empty,
// the client CA for mTLS) from files, and checks that the key matches the
// certificate. Errors as ReadPemFile/ReadKeyFile, plus kInvalidArgument on a
// key/certificate mismatch.
Result<TlsServerConfig> LoadTlsServerConfig(const std::string& cert_path, const std::string& key_path,
                                            const std::string& client_ca_path = "");

// ValidateTlsServerConfig checks that the config parses and the key matches
// the leaf certificate; kInvalidArgument otherwise.
Status ValidateTlsServerConfig(const TlsServerConfig& config);

}  // namespace astis::net
