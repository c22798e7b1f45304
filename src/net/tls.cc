#include "net/tls.h"

#include <boost/asio/ip/address.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

#include "net/internal/ossl.h"
#include "net/internal/tls_context.h"

namespace astis::net {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 suites: forward secret (ECDHE) and AEAD only. TLS 1.3 keeps
// OpenSSL's defaults, which are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kIo, "cannot open " + path);
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return Status(Code::kIo, "cannot read " + path);
  return out.str();
}

// Applies the common policy to a fresh context.
Status ApplyPolicy(ssl::context& ctx) {
  SSL_CTX* native = ctx.native_handle();
  // docs/protocol.md §4: TLS 1.2+ (1.3 preferred: OpenSSL negotiates the highest).
  // Checked by NetTest.RefusesTls11.
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    return internal::OpensslError(Code::kCrypto, "SSL_CTX_set_min_proto_version");
  }
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                  SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    return internal::OpensslError(Code::kCrypto, "SSL_CTX_set_cipher_list");
  }
  return OkStatus();
}

// Loads every certificate of pem into the context's trust store.
Status AddTrustAnchors(ssl::context& ctx, std::string_view pem) {
  boost::system::error_code ec;
  ctx.add_certificate_authority(boost::asio::buffer(pem.data(), pem.size()), ec);
  if (ec) {
    ossl::DrainErrors();
    return Status(Code::kInvalidArgument, "CA PEM holds no usable certificate");
  }
  return OkStatus();
}

Status UseKeyAndChain(ssl::context& ctx, std::string_view chain_pem, const SecretBytes& key_pem) {
  boost::system::error_code ec;
  ctx.use_certificate_chain(boost::asio::buffer(chain_pem.data(), chain_pem.size()), ec);
  if (ec) {
    ossl::DrainErrors();
    return Status(Code::kInvalidArgument, "certificate chain PEM is not usable");
  }
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<EVP_PKEY> key, internal::ParseKeyPem(key_pem));
  if (SSL_CTX_use_PrivateKey(ctx.native_handle(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    ossl::DrainErrors();
    return Status(Code::kInvalidArgument, "private key does not match the certificate");
  }
  return OkStatus();
}

// LeafSpkiSha256 is the SHA-256 of cert's DER SubjectPublicKeyInfo.
Result<Sha256Digest> LeafSpkiSha256(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) return internal::OpensslError(Code::kCrypto, "i2d_X509_PUBKEY");
  Sha256Digest digest = Sha256(std::span<const uint8_t>(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  return digest;
}

bool Listed(const std::vector<Sha256Digest>& pins, const Sha256Digest& digest) {
  return std::any_of(pins.begin(), pins.end(),
                     [&](const Sha256Digest& pin) { return ConstantTimeEquals(pin, digest); });
}

// Pinning: accept the leaf (depth 0) only if its DER SHA-256 is in
// cert_pins (when any) and its SubjectPublicKeyInfo SHA-256 in spki_pins
// (when any), on top of normal chain verification (preverified). Checked by
// MutualTlsRejectsUnpinnedClientCert, ClientRejectsUnpinnedServerCert,
// ClientAcceptsPinnedSpkiAndRefusesAnotherKey.
void SetPinnedVerifyCallback(ssl::context& ctx, std::vector<Sha256Digest> cert_pins,
                             std::vector<Sha256Digest> spki_pins = {}) {
  if (cert_pins.empty() && spki_pins.empty()) return;
  ctx.set_verify_callback([cert_pins = std::move(cert_pins), spki_pins = std::move(spki_pins)](
                              bool preverified, ssl::verify_context& vctx) {
    if (!preverified) return false;
    X509_STORE_CTX* store = vctx.native_handle();
    if (X509_STORE_CTX_get_error_depth(store) != 0) return true;
    X509* leaf = X509_STORE_CTX_get_current_cert(store);
    if (leaf == nullptr) return false;
    bool pinned = true;
    if (!cert_pins.empty()) {
      Result<Sha256Digest> digest = internal::DerSha256(leaf);
      pinned = digest.ok() && Listed(cert_pins, *digest);
    }
    if (pinned && !spki_pins.empty()) {
      Result<Sha256Digest> digest = LeafSpkiSha256(leaf);
      pinned = digest.ok() && Listed(spki_pins, *digest);
    }
    if (!pinned) X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return pinned;
  });
}

Result<std::shared_ptr<ssl::context>> NewContext(ssl::context::method method) {
  try {
    auto ctx = std::make_shared<ssl::context>(method);
    ASTIS_RETURN_IF_ERROR(ApplyPolicy(*ctx));
    return ctx;
  } catch (const std::exception&) {
    return internal::OpensslError(Code::kCrypto, "SSL_CTX_new");
  }
}

}  // namespace

Result<Sha256Digest> CertSha256(std::string_view pem) {
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<X509> cert, internal::ParseCertPem(pem));
  return internal::DerSha256(cert.get());
}

Result<Sha256Digest> SpkiSha256(std::string_view pem) {
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<X509> cert, internal::ParseCertPem(pem));
  return LeafSpkiSha256(cert.get());
}

Result<std::string> ReadPemFile(const std::string& path) {
  ASTIS_ASSIGN_OR_RETURN(std::string pem, ReadFile(path));
  Result<ossl::UniquePtr<X509>> cert = internal::ParseCertPem(pem);
  if (!cert.ok()) return Status(Code::kInvalidArgument, path + ": no PEM certificate");
  return pem;
}

Result<SecretBytes> ReadKeyFile(const std::string& path) {
  ASTIS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  SecretBytes pem = SecretBytes::CopyFrom(text);
  SecureWipe(text.data(), text.size());
  Result<ossl::UniquePtr<EVP_PKEY>> key = internal::ParseKeyPem(pem);
  if (!key.ok()) return Status(Code::kInvalidArgument, path + ": not an unencrypted PEM private key");
  return pem;
}

Status ValidateTlsServerConfig(const TlsServerConfig& config) {
  ASTIS_ASSIGN_OR_RETURN(auto ctx, internal::MakeServerContext(config));
  return OkStatus();
}

Result<TlsServerConfig> LoadTlsServerConfig(const std::string& cert_path, const std::string& key_path,
                                            const std::string& client_ca_path) {
  TlsServerConfig config;
  ASTIS_ASSIGN_OR_RETURN(config.cert_chain_pem, ReadPemFile(cert_path));
  ASTIS_ASSIGN_OR_RETURN(config.key_pem, ReadKeyFile(key_path));
  if (!client_ca_path.empty()) {
    ASTIS_ASSIGN_OR_RETURN(config.client_ca_pem, ReadPemFile(client_ca_path));
  }
  Status valid = ValidateTlsServerConfig(config);
  if (!valid.ok()) return valid.Annotate(cert_path + " / " + key_path);
  return config;
}

namespace internal {

Result<std::shared_ptr<ssl::context>> MakeServerContext(const TlsServerConfig& config) {
  ASTIS_ASSIGN_OR_RETURN(auto ctx, NewContext(ssl::context::tls_server));
  ASTIS_RETURN_IF_ERROR(UseKeyAndChain(*ctx, config.cert_chain_pem, config.key_pem));
  if (config.client_ca_pem.has_value()) {
    ASTIS_RETURN_IF_ERROR(AddTrustAnchors(*ctx, *config.client_ca_pem));
    // Mutual TLS: a client without a certificate fails the handshake.
    // Checked by MutualTlsRequiresClientCert.
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    SetPinnedVerifyCallback(*ctx, config.pinned_client_cert_sha256);
  } else if (!config.pinned_client_cert_sha256.empty()) {
    return Status(Code::kInvalidArgument, "client certificate pins need client_ca_pem (mutual TLS)");
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  return ctx;
}

Result<std::shared_ptr<ssl::context>> MakeClientContext(const TlsClientConfig& config) {
  ASTIS_ASSIGN_OR_RETURN(auto ctx, NewContext(ssl::context::tls_client));
  if (config.ca_pem.has_value()) {
    ASTIS_RETURN_IF_ERROR(AddTrustAnchors(*ctx, *config.ca_pem));
  } else {
    boost::system::error_code ec;
    ctx->set_default_verify_paths(ec);
    if (ec) return OpensslError(Code::kCrypto, "loading the system trust store");
  }
  if (config.client_cert_pem.has_value()) {
    ASTIS_RETURN_IF_ERROR(UseKeyAndChain(*ctx, *config.client_cert_pem, config.client_key_pem));
  }
  // The server is always verified; a failure aborts the handshake.
  // Checked by ClientRejectsWrongCa.
  ctx->set_verify_mode(ssl::verify_peer);
  SetPinnedVerifyCallback(*ctx, config.pinned_server_cert_sha256, config.pinned_server_spki_sha256);
  return ctx;
}

Status ConfigureClientSsl(SSL* ssl_handle, const std::string& host, bool verify_hostname) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  const bool is_ip = !ec;
  // RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted in
  // HostName."
  if (!is_ip && SSL_set_tlsext_host_name(ssl_handle, host.c_str()) != 1) {
    return OpensslError(Code::kCrypto, "SSL_set_tlsext_host_name");
  }
  if (verify_hostname) {
    // RFC 6125 §6: match the reference identity against the SANs; OpenSSL 3
    // treats an IP literal as an iPAddress reference identity. Checked by
    // ClientRejectsHostnameMismatch.
    SSL_set_hostflags(ssl_handle, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl_handle, host.c_str()) != 1) return OpensslError(Code::kCrypto, "SSL_set1_host");
  }
  return OkStatus();
}

}  // namespace internal
}  // namespace astis::net
