#include "capsule/binding.h"

namespace astis::capsule {

bool IsSecretDataKey(std::string_view s) {
  if (s.empty() || s.size() > kMaxSecretKey || s == "." || s == "..") return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_';
    if (!ok) return false;
  }
  return true;
}

Status Binding::Validate() const {
  // docs/protocol.md §3.1: every field is validated before use, never escaped.
  // Tests: RejectsUppercaseNamespace, RejectsNewlineInName, RejectsEmptyKey,
  // RejectsDotDotKey. serviceAccount is a DNS-1123 subdomain, as Kubernetes
  // names ServiceAccounts (1.1; 1.0 said label, which refused "my.sa").
  // Tests: BindingAcceptsSubdomainServiceAccount,
  // BindingRefusesInvalidServiceAccount.
  if (!IsDns1123Label(cluster)) return Error(Code::kInvalidArgument, "binding: cluster is not a DNS-1123 label");
  if (!IsDns1123Label(namespace_))
    return Error(Code::kInvalidArgument, "binding: namespace is not a DNS-1123 label");
  if (!IsDns1123Subdomain(service_account))
    return Error(Code::kInvalidArgument, "binding: serviceAccount is not a DNS-1123 subdomain");
  if (!IsDns1123Subdomain(name)) return Error(Code::kInvalidArgument, "binding: name is not a DNS-1123 subdomain");
  if (!IsSecretDataKey(key)) return Error(Code::kInvalidArgument, "binding: key is not a valid Secret data key");
  return OkStatus();
}

Result<std::string> Binding::BindString() const {
  ASTIS_RETURN_IF_ERROR(Validate());
  std::string out = "astis/v1\n";
  out += cluster;
  out += '\n';
  out += namespace_;
  out += '\n';
  out += service_account;
  out += '\n';
  out += name;
  out += '\n';
  out += key;
  return out;
}

}  // namespace astis::capsule
