#include "lint/contract.h"

#include <algorithm>
#include <set>

#include "capsule/binding.h"
#include "common/image_digest.h"
#include "lint/yaml_documents.h"

namespace astis::lint {
namespace {

inline constexpr size_t kMaxListItems = 64;

Status Invalid(std::string_view member, std::string_view what) {
  return Error(Code::kInvalidArgument, "contract: " + std::string(member) + " " + std::string(what));
}

Result<std::string> RequiredString(const Json& j, std::string_view key) {
  auto it = j.find(key);
  if (it == j.end()) return Invalid(key, "is required");
  if (!it->is_string()) return Invalid(key, "must be a string");
  return it->get<std::string>();
}

Result<std::string> Label(const Json& j, std::string_view key) {
  ASTIS_ASSIGN_OR_RETURN(std::string s, RequiredString(j, key));
  if (!capsule::IsDns1123Label(s)) return Invalid(key, "must be a DNS-1123 label");
  return s;
}

Result<std::string> Subdomain(const Json& j, std::string_view key) {
  ASTIS_ASSIGN_OR_RETURN(std::string s, RequiredString(j, key));
  if (!capsule::IsDns1123Subdomain(s)) return Invalid(key, "must be a DNS-1123 subdomain");
  return s;
}

Result<std::vector<std::string>> StringList(const Json& j, std::string_view key) {
  auto it = j.find(key);
  if (it == j.end()) return Invalid(key, "is required");
  if (!it->is_array()) return Invalid(key, "must be an array of strings");
  if (it->empty() || it->size() > kMaxListItems) return Invalid(key, "must have 1 to 64 items");
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& v : *it) {
    if (!v.is_string()) return Invalid(key, "must be an array of strings");
    if (!seen.insert(v.get<std::string>()).second) return Invalid(key, "has a duplicate item");
    out.push_back(v.get<std::string>());
  }
  return out;
}

// IsImageRepository accepts "[host[:port]/]path" of [a-z0-9._-] components
// with no tag and no digest: the digest comes from imageDigests.
bool IsImageRepository(std::string_view s) {
  if (s.empty() || s.size() > 255 || s.front() == '/' || s.back() == '/') return false;
  size_t last_slash = s.rfind('/');
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/';
    // A port is allowed only in the first component (the registry host).
    if (c == ':') ok = last_slash != std::string_view::npos && i < s.find('/');
    if (!ok) return false;
  }
  return s.find("//") == std::string_view::npos;
}

}  // namespace

Result<Contract> ContractFromJson(const Json& j) {
  if (!j.is_object()) return Error(Code::kInvalidArgument, "contract: must be an object");
  static const std::set<std::string, std::less<>> kKnown = {
      "cluster", "namespace", "serviceAccount", "app", "image", "imageDigests",
      "secrets", "edgeUrl",   "audience",       "tokenExpirationSeconds", "organization", "additionalClusters"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    // Test: ContractTest.RejectsUnknownMember.
    if (kKnown.count(it.key()) == 0) return Error(Code::kInvalidArgument, "contract: unknown member");
  }
  Contract c;
  ASTIS_ASSIGN_OR_RETURN(c.cluster_, Label(j, "cluster"));
  if (j.contains("organization")) {
    // docs/tenancy.md: organisation names are DNS-1123 labels.
    // Test: ContractTest.OrganizationIsALabel.
    ASTIS_ASSIGN_OR_RETURN(c.organization_, Label(j, "organization"));
  }
  if (j.contains("additionalClusters")) {
    // docs/protocol.md §3.1: a v2 capsule names 1 to 16 distinct DNS-1123
    // labels. Test: ContractTest.AdditionalClustersAreDistinctLabels.
    ASTIS_ASSIGN_OR_RETURN(c.additional_clusters_, StringList(j, "additionalClusters"));
    std::set<std::string> seen{c.cluster_};
    for (const auto& name : c.additional_clusters_) {
      if (!capsule::IsDns1123Label(name)) return Invalid("additionalClusters", "items must be DNS-1123 labels");
      if (!seen.insert(name).second) return Invalid("additionalClusters", "must not repeat a cluster");
    }
    if (seen.size() > capsule::kMaxBindingClusters)
      return Invalid("additionalClusters", "a value may be bound to at most 16 clusters");
  }
  ASTIS_ASSIGN_OR_RETURN(c.namespace_, Label(j, "namespace"));
  // docs/protocol.md §3.1: a ServiceAccount name is a DNS-1123 subdomain
  // ("my.sa"), as in Kubernetes. Test: ContractTest.AcceptsSubdomainServiceAccount.
  ASTIS_ASSIGN_OR_RETURN(c.service_account_, Subdomain(j, "serviceAccount"));
  if (j.contains("app")) {
    ASTIS_ASSIGN_OR_RETURN(c.app_, Label(j, "app"));
  } else if (capsule::IsDns1123Label(c.service_account_)) {
    c.app_ = c.service_account_;
  } else {
    // app names the container, which must be a DNS-1123 label: a dotted or
    // over-long ServiceAccount name cannot stand in for it.
    // Test: ContractTest.RequiresAppForNonLabelServiceAccount.
    return Invalid("app", "is required when serviceAccount is not a DNS-1123 label");
  }
  ASTIS_ASSIGN_OR_RETURN(c.image_, RequiredString(j, "image"));
  if (!IsImageRepository(c.image_)) return Invalid("image", "must be a repository without tag or digest");
  ASTIS_ASSIGN_OR_RETURN(c.image_digests_, StringList(j, "imageDigests"));
  for (const auto& d : c.image_digests_) {
    // Test: ContractTest.RejectsBadDigest.
    if (!IsValidImageDigest(d)) return Invalid("imageDigests", "items must be sha256:<64 lower-case hex>");
  }

  auto secrets = j.find("secrets");
  if (secrets == j.end()) return Invalid("secrets", "is required");
  if (!secrets->is_array() || secrets->empty() || secrets->size() > kMaxListItems)
    return Invalid("secrets", "must be an array of 1 to 64 objects");
  std::set<std::string> names, keys;
  for (const auto& s : *secrets) {
    if (!s.is_object()) return Invalid("secrets", "items must be objects");
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (it.key() != "name" && it.key() != "keys") return Error(Code::kInvalidArgument, "contract: unknown member");
    }
    ContractSecret cs;
    ASTIS_ASSIGN_OR_RETURN(cs.name, RequiredString(s, "name"));
    if (!capsule::IsDns1123Subdomain(cs.name)) return Invalid("secrets[].name", "must be a DNS-1123 subdomain");
    if (!names.insert(cs.name).second) return Invalid("secrets[].name", "is duplicated");
    ASTIS_ASSIGN_OR_RETURN(cs.keys, StringList(s, "keys"));
    for (const auto& k : cs.keys) {
      // The SDK refuses "." / ".." / "..*" names (docs/sdk.md), and all keys
      // share one mounted directory. Test: ContractTest.RejectsDuplicateKeyAcrossSecrets.
      if (!capsule::IsSecretDataKey(k) || k.rfind("..", 0) == 0) return Invalid("secrets[].keys", "must be Secret data keys");
      if (!keys.insert(k).second) return Invalid("secrets[].keys", "must be unique across secrets");
    }
    c.secrets_.push_back(std::move(cs));
  }

  ASTIS_ASSIGN_OR_RETURN(c.edge_url_, RequiredString(j, "edgeUrl"));
  // docs/protocol.md §4: HTTPS only. Test: ContractTest.RejectsHttpEdgeUrl.
  if (c.edge_url_.rfind("https://", 0) != 0 || c.edge_url_.size() <= 8 || c.edge_url_.size() > 2048 ||
      c.edge_url_.find_first_of(" \t\r\n\"'`$\\,") != std::string::npos)
    return Invalid("edgeUrl", "must be one https:// URL");
  if (j.contains("audience")) {
    ASTIS_ASSIGN_OR_RETURN(c.audience_, RequiredString(j, "audience"));
    if (c.audience_.empty() || c.audience_.size() > 253 ||
        c.audience_.find_first_of(" \t\r\n\"'`$\\") != std::string::npos)
      return Invalid("audience", "must be 1 to 253 characters without spaces or quotes");
  }
  if (j.contains("tokenExpirationSeconds")) {
    const Json& t = j.at("tokenExpirationSeconds");
    if (!t.is_number_integer()) return Invalid("tokenExpirationSeconds", "must be an integer");
    c.token_expiration_seconds_ = t.get<int64_t>();
    // Test: ContractTest.RejectsShortTokenExpiration.
    if (c.token_expiration_seconds_ < kMinTokenExpirationSeconds ||
        c.token_expiration_seconds_ > kMaxTokenExpirationSeconds)
      return Invalid("tokenExpirationSeconds", "must be between 600 and 172800");
  }
  return c;
}

Result<Contract> ParseContract(std::string_view text) {
  ASTIS_ASSIGN_OR_RETURN(std::vector<Json> docs, ParseYamlDocuments(text));
  if (docs.size() != 1) return Error(Code::kInvalidArgument, "contract: expected exactly one document");
  return ContractFromJson(docs[0]);
}

Json Contract::ToJson() const {
  Json secrets = Json::array();
  for (const auto& s : secrets_) secrets.push_back({{"name", s.name}, {"keys", s.keys}});
  Json out{{"cluster", cluster_},
              {"namespace", namespace_},
              {"serviceAccount", service_account_},
              {"app", app_},
              {"image", image_},
              {"imageDigests", image_digests_},
              {"secrets", secrets},
              {"edgeUrl", edge_url_},
              {"audience", audience_},
              {"tokenExpirationSeconds", token_expiration_seconds_}};
  if (!organization_.empty()) out["organization"] = organization_;
  if (!additional_clusters_.empty()) out["additionalClusters"] = additional_clusters_;
  return out;
}

std::vector<std::string> Contract::seal_clusters() const {
  std::vector<std::string> out = additional_clusters_;
  out.push_back(cluster_);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace astis::lint
