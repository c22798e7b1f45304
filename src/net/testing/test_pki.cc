#include "net/testing/test_pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstdlib>

#include "common/testing/temp_dir.h"
#include "net/internal/ossl.h"

namespace astis::net::testing {
namespace {

using internal::OpensslError;

constexpr long kValiditySeconds = 24 * 3600;  // NOLINT(runtime/int): OpenSSL API

bool IsIpLiteral(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

Result<ossl::UniquePtr<EVP_PKEY>> NewP256Key() {
  ossl::UniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) return OpensslError(Code::kCrypto, "EVP_EC_gen");
  return key;
}

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ossl::UniquePtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) return OpensslError(Code::kCrypto, "adding an X.509 extension");
  return OkStatus();
}

// NewCert makes an unsigned certificate for key, named cn, valid now-1h to
// now+1d, with a random 127-bit serial.
Result<ossl::UniquePtr<X509>> NewCert(EVP_PKEY* key, std::string_view cn) {
  ossl::UniquePtr<X509> cert(X509_new());
  if (!cert) return OpensslError(Code::kCrypto, "X509_new");
  X509_set_version(cert.get(), 2);
  BIGNUM* serial = BN_new();
  bool ok = serial != nullptr && BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
            BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get())) != nullptr;
  BN_free(serial);
  if (!ok) return OpensslError(Code::kCrypto, "certificate serial");
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds) == nullptr) {
    return OpensslError(Code::kCrypto, "certificate validity");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  std::string cn_text(cn);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn_text.c_str()),
                                 -1, -1, 0) != 1 ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return OpensslError(Code::kCrypto, "certificate subject");
  }
  return cert;
}

Status WriteFile(const std::string& path, std::string_view data, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status(Code::kIo, "cannot create " + path);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      close(fd);
      return Status(Code::kIo, "cannot write " + path);
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) return Status(Code::kIo, "cannot close " + path);
  return OkStatus();
}

}  // namespace

Result<TestPki> TestPki::Create(const std::vector<std::string>& extra_server_names) {
  TestPki pki;
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<EVP_PKEY> ca_key, NewP256Key());
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<X509> ca, NewCert(ca_key.get(), "astis test CA"));
  if (X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get())) != 1) {
    return OpensslError(Code::kCrypto, "X509_set_issuer_name");
  }
  ASTIS_RETURN_IF_ERROR(AddExt(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  ASTIS_RETURN_IF_ERROR(AddExt(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  ASTIS_RETURN_IF_ERROR(AddExt(ca.get(), ca.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(ca.get(), ca_key.get(), EVP_sha256()) <= 0) return OpensslError(Code::kCrypto, "signing the CA");
  ASTIS_ASSIGN_OR_RETURN(pki.ca_cert_pem_, internal::CertToPem(ca.get()));
  ASTIS_ASSIGN_OR_RETURN(pki.ca_key_pem_, internal::KeyToPem(ca_key.get()));

  std::vector<std::string> names = {"localhost", "127.0.0.1", "::1"};
  names.insert(names.end(), extra_server_names.begin(), extra_server_names.end());
  ASTIS_ASSIGN_OR_RETURN(pki.server_, pki.IssueServerCert(names));
  return pki;
}

Result<TestCert> TestPki::IssueClientCert(std::string_view common_name) const {
  return Issue(common_name, {}, /*server=*/false);
}

Result<TestCert> TestPki::IssueClientCertWithSans(std::string_view common_name,
                                                 const std::vector<std::string>& sans) const {
  return Issue(common_name, sans, /*server=*/false);
}

Result<TestCert> TestPki::IssueServerCert(const std::vector<std::string>& names) const {
  return Issue(names.empty() ? "server" : names.front(), names, /*server=*/true);
}

Result<TestCert> TestPki::RenewServerCert(const TestCert& old, const std::vector<std::string>& names) const {
  return Issue(names.empty() ? "server" : names.front(), names, /*server=*/true, &old.key_pem);
}

Result<TestCert> TestPki::Issue(std::string_view common_name, const std::vector<std::string>& sans, bool server,
                                const SecretBytes* key_pem) const {
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<X509> ca, internal::ParseCertPem(ca_cert_pem_));
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<EVP_PKEY> ca_key, internal::ParseKeyPem(ca_key_pem_));
  ossl::UniquePtr<EVP_PKEY> key;
  if (key_pem != nullptr) {
    ASTIS_ASSIGN_OR_RETURN(key, internal::ParseKeyPem(*key_pem));
  } else {
    ASTIS_ASSIGN_OR_RETURN(key, NewP256Key());
  }
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<X509> cert, NewCert(key.get(), common_name));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get())) != 1) {
    return OpensslError(Code::kCrypto, "X509_set_issuer_name");
  }
  ASTIS_RETURN_IF_ERROR(AddExt(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE"));
  ASTIS_RETURN_IF_ERROR(AddExt(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature"));
  ASTIS_RETURN_IF_ERROR(AddExt(cert.get(), ca.get(), NID_ext_key_usage, server ? "serverAuth" : "clientAuth"));
  ASTIS_RETURN_IF_ERROR(AddExt(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always"));
  if (!sans.empty()) {
    std::string san;
    for (const std::string& name : sans) {
      if (!san.empty()) san += ",";
      if (name.rfind("URI:", 0) == 0) {
        san += name;
      } else {
        san += (IsIpLiteral(name) ? "IP:" : "DNS:") + name;
      }
    }
    ASTIS_RETURN_IF_ERROR(AddExt(cert.get(), ca.get(), NID_subject_alt_name, san));
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) <= 0) return OpensslError(Code::kCrypto, "signing a cert");
  TestCert out;
  ASTIS_ASSIGN_OR_RETURN(out.cert_pem, internal::CertToPem(cert.get()));
  ASTIS_ASSIGN_OR_RETURN(out.key_pem, internal::KeyToPem(key.get()));
  ASTIS_ASSIGN_OR_RETURN(out.sha256, internal::DerSha256(cert.get()));
  return out;
}

TlsServerConfig TestPki::ServerTls() const {
  TlsServerConfig config;
  config.cert_chain_pem = server_.cert_pem;
  config.key_pem = server_.key_pem.Clone();
  return config;
}

TlsClientConfig TestPki::ClientTls(const TestCert* client) const {
  TlsClientConfig config;
  config.ca_pem = ca_cert_pem_;
  if (client != nullptr) {
    config.client_cert_pem = client->cert_pem;
    config.client_key_pem = client->key_pem.Clone();
  }
  return config;
}

Result<TestPkiFiles> TestPki::WriteFiles(const std::string& dir) const {
  TestPkiFiles files{dir, dir + "/ca.pem", dir + "/server.pem", dir + "/server-key.pem"};
  ASTIS_RETURN_IF_ERROR(WriteFile(files.ca_cert, ca_cert_pem_, 0644));
  ASTIS_RETURN_IF_ERROR(WriteFile(files.server_cert, server_.cert_pem, 0644));
  ASTIS_RETURN_IF_ERROR(WriteFile(files.server_key, server_.key_pem.RevealString(), 0600));
  return files;
}

Result<std::string> MakeTempDir() { return test::MakeTempDir("astis-net"); }

}  // namespace astis::net::testing
