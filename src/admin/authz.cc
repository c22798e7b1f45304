#include "admin/authz.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <memory>
#include <optional>
#include <utility>

#include "common/dns1123.h"
#include "crypto/openssl_ptr.h"

namespace astis::admin {
namespace {

struct OpEntry {
  std::string_view op;
  OpKind kind;
};

// Every admin operation and how it is authorised. An operation missing here
// is refused for every remote caller (KindOf fails), so a new operation must
// be classified before it can be reached over the network
// (AdminAuthzTest.EveryProtocolOpIsClassified).
constexpr std::array<OpEntry, 20> kOps{{
    {"org.list", OpKind::kServiceRead},
    {"org.add", OpKind::kServiceWrite},
    {"org.remove", OpKind::kServiceWrite},
    {"org.key.create", OpKind::kOrgWrite},
    {"org.key.rotate", OpKind::kOrgWrite},
    {"org.key.list", OpKind::kOrgRead},  // public facts of the org's own keys (docs/admin.md "Sealing")
    {"cluster.list", OpKind::kOrgRead},
    {"workload.list", OpKind::kOrgRead},
    {"apikey.list", OpKind::kOrgRead},
    {"session.list", OpKind::kOrgRead},
    {"audit.list", OpKind::kOrgRead},
    {"diff", OpKind::kOrgRead},
    {"cluster.add", OpKind::kOrgWrite},
    {"cluster.remove", OpKind::kOrgWrite},
    {"workload.add", OpKind::kOrgWrite},
    {"workload.remove", OpKind::kOrgWrite},
    {"workload.images", OpKind::kOrgWrite},
    {"apply", OpKind::kOrgWrite},
    {"apikey.revoke", OpKind::kOrgWrite},
    {"session.revoke", OpKind::kOrgWrite},
}};

// apikey.create is the one operation whose answer is a secret.
constexpr OpEntry kSecretOp{"apikey.create", OpKind::kOrgSecret};

Status Denied(std::string_view why) { return Error(Code::kPermissionDenied, std::string(why)); }

// OtherOrg is the answer for an organisation that is not the caller's: the
// same code and text as a missing organisation (store::NotFound's wording).
Status OtherOrg() { return Error(Code::kNotFound, "store: organization not found"); }

bool IsAdminUri(std::string_view uri) { return uri.substr(0, kAdminUriPrefix.size()) == kAdminUriPrefix; }

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kOperator:
      return "operator";
    case Role::kOrgAdmin:
      return "org-admin";
    case Role::kAuditor:
      return "auditor";
  }
  return "auditor";
}

Result<OpKind> KindOf(std::string_view op) {
  if (op == kSecretOp.op) return kSecretOp.kind;
  for (const OpEntry& e : kOps) {
    if (e.op == op) return e.kind;
  }
  return Error(Code::kInvalidArgument, "unknown op");
}

Status Authorize(const Principal& principal, std::string_view op, std::string_view target_org) {
  ASTIS_ASSIGN_OR_RETURN(OpKind kind, KindOf(op));
  const bool org_scoped = kind == OpKind::kOrgRead || kind == OpKind::kOrgWrite || kind == OpKind::kOrgSecret;
  if (org_scoped && target_org.empty()) return Error(Code::kInvalidArgument, "operation needs an organisation");
  switch (principal.role) {
    case Role::kOperator:
      // Everything on every organisation, no secret material.
      if (kind == OpKind::kOrgSecret) return Denied("operators do not receive secret material (apikey.create)");
      return OkStatus();
    case Role::kOrgAdmin:
    case Role::kAuditor:
      if (principal.org.empty()) return Denied("principal without organisation");
      // The organisation check comes first, so a request about another
      // organisation learns nothing else (not even that the role may not
      // do that operation).
      if (org_scoped && target_org != principal.org) return OtherOrg();
      if (kind == OpKind::kServiceWrite) return Denied("only operators manage organisations");
      if (kind == OpKind::kServiceRead) return OkStatus();  // the caller filters the list to its own org
      if (principal.role == Role::kAuditor && kind != OpKind::kOrgRead) return Denied("auditors are read-only");
      return OkStatus();
  }
  return Denied("unknown role");
}

Result<Principal> PrincipalFromUri(std::string_view uri) {
  if (!IsAdminUri(uri)) return Denied("certificate carries no admin role");
  std::string_view rest = uri.substr(kAdminUriPrefix.size());
  const size_t slash = rest.find('/');
  const std::string_view role = rest.substr(0, slash);
  const std::string_view org = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  Principal p;
  if (role == "operator") {
    if (slash != std::string_view::npos) return Denied("operator role takes no organisation");
    p.role = Role::kOperator;
    return p;
  }
  if (role == "org-admin") {
    p.role = Role::kOrgAdmin;
  } else if (role == "auditor") {
    p.role = Role::kAuditor;
  } else {
    return Denied("unknown admin role");
  }
  if (!IsDns1123Label(org)) return Denied("admin role names no valid organisation");
  p.org = std::string(org);
  return p;
}

Result<Principal> PrincipalFromCertificate(std::span<const uint8_t> der) {
  const unsigned char* in = der.data();
  ossl::UniquePtr<X509> cert(d2i_X509(nullptr, &in, static_cast<long>(der.size())));
  if (cert == nullptr || in != der.data() + der.size()) {
    ossl::DrainErrors();
    return Error(Code::kInvalidArgument, "admin client certificate does not parse");
  }
  std::unique_ptr<GENERAL_NAMES, decltype(&GENERAL_NAMES_free)> sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)),
      &GENERAL_NAMES_free);
  std::optional<Principal> found;
  const int n = sans == nullptr ? 0 : sk_GENERAL_NAME_num(sans.get());
  for (int i = 0; i < n; ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* ia5 = name->d.uniformResourceIdentifier;
    const std::string_view uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ia5)),
                               static_cast<size_t>(ASN1_STRING_length(ia5)));
    if (!IsAdminUri(uri)) continue;
    if (found.has_value()) return Denied("certificate carries more than one admin role");
    ASTIS_ASSIGN_OR_RETURN(Principal p, PrincipalFromUri(uri));
    found = std::move(p);
  }
  ossl::DrainErrors();
  if (!found.has_value()) return Denied("certificate carries no admin role");
  const X509_NAME* subject = X509_get_subject_name(cert.get());
  char cn[65] = {0};
  const int len = X509_NAME_get_text_by_NID(const_cast<X509_NAME*>(subject), NID_commonName, cn, sizeof cn);
  if (len <= 0 || static_cast<size_t>(len) >= sizeof cn - 1) {
    ossl::DrainErrors();
    return Denied("admin certificate needs a common name of at most 63 bytes");
  }
  found->name = std::string(cn, static_cast<size_t>(len));
  return *std::move(found);
}

}  // namespace astis::admin
