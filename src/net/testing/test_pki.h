// Test PKI for astis tests: a throw-away CA, server and client certificates
// generated at run time (EC P-256, SHA-256 signatures). For tests only: the
// keys live in ordinary memory and the validity window is one day.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "crypto/sha256.h"
#include "net/tls.h"

namespace astis::net::testing {

// TestCert is one issued certificate, its private key (PEM, owned) and the
// SHA-256 of its DER encoding (for pinning).
struct TestCert {
  std::string cert_pem;
  SecretBytes key_pem;
  Sha256Digest sha256{};
};

// TestPkiFiles names the files WriteFiles wrote.
struct TestPkiFiles {
  std::string dir;
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
};

// TestPki is a CA plus one server certificate. Move-only (owns keys).
class TestPki {
 public:
  // Create makes a fresh CA and a server certificate whose SANs are DNS
  // localhost, IP 127.0.0.1, IP ::1 and every name in extra_server_names (IP
  // literals become IP SANs). Fails with kCrypto if OpenSSL fails.
  static Result<TestPki> Create(const std::vector<std::string>& extra_server_names = {});

  // ca_cert_pem is the CA certificate (the trust anchor to configure).
  const std::string& ca_cert_pem() const { return ca_cert_pem_; }
  // server is the server certificate and key issued by Create.
  const TestCert& server() const { return server_; }

  // IssueClientCert issues a clientAuth certificate with the given CN.
  // Fails with kCrypto if OpenSSL fails.
  Result<TestCert> IssueClientCert(std::string_view common_name) const;
  // IssueClientCertWithSans is IssueClientCert with subjectAltNames: a name
  // starting "URI:" is a URI SAN (the admin role of docs/tenancy.md), an IP
  // literal an IP SAN, anything else a DNS SAN.
  Result<TestCert> IssueClientCertWithSans(std::string_view common_name, const std::vector<std::string>& sans) const;
  // IssueServerCert issues a serverAuth certificate with these SANs.
  Result<TestCert> IssueServerCert(const std::vector<std::string>& names) const;
  // RenewServerCert issues a new serverAuth certificate (new serial) for
  // old's key with these SANs: a renewal that keeps the key.
  Result<TestCert> RenewServerCert(const TestCert& old, const std::vector<std::string>& names) const;

  // ServerTls is a TlsServerConfig for server() (no client auth); set
  // client_ca_pem on it for mutual TLS.
  TlsServerConfig ServerTls() const;
  // ClientTls is a TlsClientConfig that trusts this CA, optionally
  // presenting client (mTLS).
  TlsClientConfig ClientTls(const TestCert* client = nullptr) const;

  // WriteFiles writes ca.pem, server.pem and server-key.pem (mode 0600) into
  // dir, which must exist. Fails with kIo.
  Result<TestPkiFiles> WriteFiles(const std::string& dir) const;

 private:
  TestPki() = default;
  Result<TestCert> Issue(std::string_view common_name, const std::vector<std::string>& sans, bool server,
                         const SecretBytes* key_pem = nullptr) const;

  std::string ca_cert_pem_;
  SecretBytes ca_key_pem_;
  TestCert server_;
};

// MakeTempDir creates a fresh private directory under $TMPDIR (or /tmp):
// common/testing/temp_dir.h's, named astis-net-*. Fails with kIo. The caller
// removes it.
Result<std::string> MakeTempDir();

}  // namespace astis::net::testing
