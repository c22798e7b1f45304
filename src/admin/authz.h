// Admin authorisation: who may run which admin operation on which
// organisation (docs/tenancy.md "Roles").
//
// A remote admin caller is a Principal, read from its client certificate
// (mutual TLS against the admin CA; docs/tenancy.md "Administration over the
// network" says why certificates and not tokens):
//
//   role        may do
//   operator    every operation on every organisation, but nothing that
//               hands out secret material (apikey.create prints a key)
//   org-admin   every organisation-scoped operation on its own organisation
//   auditor     the read-only operations on its own organisation, including
//               its audit trail
//
// An org-admin or auditor naming another organisation gets exactly what a
// request naming a missing organisation gets (kNotFound, "organization not
// found"), so it cannot tell whether that organisation or anything in it
// exists. The local admin socket (kernel-authenticated uids on the edge
// host) is not a Principal: it is the host's administrator.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace astis::admin {

enum class Role : uint8_t { kOperator, kOrgAdmin, kAuditor };

// RoleName is "operator", "org-admin" or "auditor". It cannot fail.
std::string_view RoleName(Role role);

// Principal is an authenticated remote admin caller.
struct Principal {
  Role role = Role::kAuditor;
  std::string org;   // the organisation of an org-admin or auditor; empty for an operator
  std::string name;  // the certificate's CN: the configuration audit's actor
};

// OpKind classifies an admin operation for authorisation.
enum class OpKind : uint8_t {
  kServiceRead,   // org.list
  kServiceWrite,  // org.add, org.remove
  kOrgRead,       // cluster/workload/apikey/session list, diff, audit list, org key list
  kOrgWrite,      // cluster/workload add/remove, images, apply, apikey.revoke, session.revoke, org key create/rotate
  kOrgSecret,     // apikey.create: its answer is a secret
};

// KindOf returns the kind of an admin operation by its wire name
// (admin/internal/protocol.h); kInvalidArgument for an unknown operation.
Result<OpKind> KindOf(std::string_view op);

// Authorize decides whether principal may run op on target_org (the
// organisation the request names; empty for a service-wide operation).
// OK, or kPermissionDenied (the role may not do this), or kNotFound with
// the message "organization not found" (another organisation's). Tests:
// AdminAuthzTest.Matrix and its neighbours.
Status Authorize(const Principal& principal, std::string_view op, std::string_view target_org);

// kAdminUriPrefix begins the URI SAN that carries a certificate's role:
//   astis://admin/operator
//   astis://admin/org-admin/<org>
//   astis://admin/auditor/<org>
inline constexpr std::string_view kAdminUriPrefix = "astis://admin/";

// PrincipalFromUri parses one such URI. kPermissionDenied (naming no value)
// for anything else: an unknown role, a missing or extra organisation, an
// organisation that is not a DNS-1123 label.
Result<Principal> PrincipalFromUri(std::string_view uri);

// PrincipalFromCertificate reads the Principal from a client certificate's
// DER: exactly one URI SAN starting with kAdminUriPrefix (two would be
// ambiguous), and the subject CN as the name (required, at most 64 bytes).
// The caller has already verified the certificate against the admin CA
// (TLS). kPermissionDenied for a certificate without exactly one role URI
// or without a CN; kInvalidArgument when the DER does not parse.
Result<Principal> PrincipalFromCertificate(std::span<const uint8_t> der);

}  // namespace astis::admin
