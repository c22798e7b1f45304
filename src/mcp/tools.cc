#include "mcp/tools.h"

#include <algorithm>
#include <optional>
#include <span>
#include <sstream>

#include "common/version.h"
#include "lint/lint.h"

namespace astis::mcp {
namespace {

using lint::Contract;

constexpr std::string_view kTokenDir = "/var/run/secrets/astis";
constexpr std::string_view kSecretsDir = "/etc/astis/secrets";
constexpr std::string_view kApiKeyDir = "/var/run/secrets/astis-api-key";
constexpr int kRunAsId = 10001;

// ApiKeySecretName: the API key is bound to the ServiceAccount, so its Secret
// is named after it, as `astis inject` assumes by default
// (inject::kApiKeySecretAnnotation) and deploy/examples/workload does.
// Test: McpToolsTest.ApiKeySecretIsNamedAfterTheServiceAccount.
std::string ApiKeySecretName(const Contract& c) { return c.service_account() + "-astis-key"; }

std::vector<std::string> AllKeys(const Contract& c) {
  std::vector<std::string> keys;
  for (const auto& s : c.secrets()) keys.insert(keys.end(), s.keys.begin(), s.keys.end());
  return keys;
}

// EnvName maps a Secret data key to an environment variable name the way
// the SDK maps names (docs/sdk.md: upper-case, '-' and '.' become '_').
std::string EnvName(std::string_view key) {
  std::string out;
  for (char c : key) out += (c == '-' || c == '.') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Every value interpolated below was validated by ContractFromJson: labels,
// subdomains, Secret data keys, digests, and an https URL and audience with
// no quote, space, '$', '`' or backslash. Strings are still double-quoted in
// YAML so none can be read as another type.
std::string Q(std::string_view s) { return "\"" + std::string(s) + "\""; }

Json ContractSchema() {
  return Json::parse(R"json({
    "type": "object",
    "description": "Workload contract (docs/lint.md). Optional when the server was started with --contract.",
    "properties": {
      "cluster": {"type": "string", "description": "Cluster name registered at the edge (DNS-1123 label)"},
      "additionalClusters": {"type": "array", "items": {"type": "string"}, "maxItems": 15,
        "description": "Other clusters the sealed values must also open in (disaster recovery, multi-region): seals v2 capsules bound to all of them"},
      "namespace": {"type": "string"},
      "serviceAccount": {"type": "string", "description": "ServiceAccount name (DNS-1123 subdomain)"},
      "app": {"type": "string",
              "description": "Deployment and container name, a DNS-1123 label (default: serviceAccount if it is one)"},
      "image": {"type": "string", "description": "Image repository without tag or digest"},
      "imageDigests": {"type": "array", "items": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}, "minItems": 1},
      "secrets": {"type": "array", "minItems": 1, "items": {"type": "object",
        "properties": {"name": {"type": "string"}, "keys": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
        "required": ["name", "keys"], "additionalProperties": false}},
      "edgeUrl": {"type": "string", "pattern": "^https://"},
      "audience": {"type": "string", "default": "astis"},
      "tokenExpirationSeconds": {"type": "integer", "minimum": 600, "maximum": 172800, "default": 3600}
    },
    "required": ["cluster", "namespace", "serviceAccount", "image", "imageDigests", "secrets", "edgeUrl"],
    "additionalProperties": false
  })json");
}

Json ResourcesSchema() {
  const Json pair = Json::parse(R"json({"type": "object", "additionalProperties": false,
    "properties": {"cpu": {"type": "string"}, "memory": {"type": "string"}}})json");
  return Json{{"type", "object"},
              {"description",
               "Container resources (Kubernetes quantities). Defaults: requests cpu 50m, memory 64Mi; "
               "limits cpu 500m, memory 256Mi"},
              {"properties", {{"requests", pair}, {"limits", pair}}},
              {"additionalProperties", false}};
}

Json Schema(Json extra_properties = Json::object(), Json required = Json::array()) {
  Json props = {{"contract", ContractSchema()}};
  for (auto it = extra_properties.begin(); it != extra_properties.end(); ++it) props[it.key()] = it.value();
  Json s = {{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
  if (!required.empty()) s["required"] = required;
  return s;
}

ToolOutput Fail(std::string text) { return ToolOutput{std::move(text), Json{{"error", text}}, true}; }

// QuantityValue parses a Kubernetes quantity as generated manifests use them
// (digits, an optional fraction, an optional m, k/M/G/T or Ki/Mi/Gi/Ti
// suffix) into base units; nullopt for anything else (exponents, signs,
// Pi/Ei and the like are refused rather than half-understood).
std::optional<double> QuantityValue(std::string_view q) {
  static const std::pair<std::string_view, double> kSuffixes[] = {
      {"Ki", 1024.0}, {"Mi", 1024.0 * 1024}, {"Gi", 1024.0 * 1024 * 1024}, {"Ti", 1024.0 * 1024 * 1024 * 1024},
      {"m", 1e-3},    {"k", 1e3},            {"M", 1e6},                   {"G", 1e9},
      {"T", 1e12}};
  if (q.empty() || q.size() > 24) return std::nullopt;
  double scale = 1;
  for (const auto& [suffix, factor] : kSuffixes) {
    if (q.size() > suffix.size() && q.substr(q.size() - suffix.size()) == suffix) {
      q.remove_suffix(suffix.size());
      scale = factor;
      break;
    }
  }
  const size_t dot = q.find('.');
  const std::string_view whole = q.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? std::string_view() : q.substr(dot + 1);
  auto digits = [](std::string_view d) {
    return !d.empty() && std::all_of(d.begin(), d.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  };
  if (!digits(whole) || (dot != std::string_view::npos && !digits(frac))) return std::nullopt;
  return std::stod(std::string(q)) * scale;
}

// RoleBindingYaml grants deploy/cluster-rbac's reader ServiceAccount its
// ClusterRole (get/list/watch pods) in the workload's namespace only: one
// RBAC model, the ClusterRole defined once per cluster, bound per namespace.
std::string RoleBindingYaml(const Contract& c) {
  std::ostringstream y;
  y << "# The edge reads pods (gate 4, the pod watch) in this namespace only, as deploy/cluster-rbac's\n"
    << "# ServiceAccount " << kReaderNamespace << "/" << kReaderServiceAccount << " with its ClusterRole "
    << kReaderClusterRole << ".\n"
    << "# For the cluster the edge itself runs in, bind the edge's own ServiceAccount instead\n"
    << "# (kind: ServiceAccount, name: astis-edge, namespace: " << kEdgeNamespace << "; docs/deploy.md).\n"
    << "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: " << kReaderClusterRole
    << "\n  namespace: " << c.namespace_name() << "\n  labels:\n    app.kubernetes.io/part-of: astis\n"
    << "roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: " << kReaderClusterRole
    << "\nsubjects:\n- kind: ServiceAccount\n  name: " << kReaderServiceAccount << "\n  namespace: "
    << kReaderNamespace << "\n";
  return y.str();
}

std::string NamespaceLabelCommand(const Contract& c) {
  return "kubectl label namespace " + c.namespace_name() + " " + std::string(kWorkloadsLabel) + "=" +
         std::string(kWorkloadsLabelValue) + " --overwrite";
}

}  // namespace

const std::vector<ToolDef>& Tools() {
  static const std::vector<ToolDef> kTools = [] {
    Json languages = Json::array();
    for (auto l : kSdkLanguages) languages.push_back(std::string(l));
    return std::vector<ToolDef>{
        {"describe_contract", "Describe the workload contract",
         "Validate the workload contract and return it normalised (defaults filled in) with a summary.", Schema()},
        {"generate_manifests", "Generate Kubernetes manifests",
         "Namespace labelled astis.io/workloads=enabled (the edge NetworkPolicy admits only such namespaces), "
         "ServiceAccount, a RoleBinding of deploy/cluster-rbac's read-only ClusterRole (pods get/list/watch; no "
         "exec, attach or debug), and the Deployment (projected token volume, sealed Secret mount, digest-pinned "
         "image, automount off, hardened securityContext, resource requests and limits). Passes astis lint.",
         Schema({{"namespaceExists",
                  {{"type", "boolean"}, {"default", false},
                   {"description", "The namespace exists: generate no Namespace, say how to label it instead"}}},
                 {"resources", ResourcesSchema()}})},
        {"generate_token_config", "Generate token volume and edge registration",
         "The projected ServiceAccount token volume snippet, the read-only credential (deploy/cluster-rbac, this "
         "namespace's RoleBinding, the token copied into the edge's astis-cluster-credentials Secret) and the "
         "`astis cluster add`, `astis workload add` and `astis apikey create` commands for the edge.",
         Schema({{"clusterRegistered",
                  {{"type", "boolean"}, {"default", false},
                   {"description", "The cluster is already registered at the edge (for another namespace): emit "
                                   "only this namespace's RoleBinding, no `astis cluster add`"}}}})},
        {"generate_seal_commands", "Generate astis seal commands",
         "`astis seal` commands that read each value from a file (never from the command line) and write sealed "
         "Secret manifests.",
         Schema()},
        {"generate_sdk_code", "Generate SDK code",
         "Code that reads the contract's secrets through the ASTIS SDK in C, C++, Python, Go, or with astis-run; "
         "`inject`: the pod template annotations for the astis inject webhook instead (no code change).",
         Schema({{"language", {{"type", "string"}, {"enum", languages}}}}, {"language"})},
        {"lint_manifests", "Lint Kubernetes manifests",
         "Run astis lint on YAML manifests (multi-document), against the contract when one is given or configured.",
         Schema({{"yaml", {{"type", "string"}, {"description", "The manifests (YAML or JSON, multi-document)"}}},
                 {"useContract", {{"type", "boolean"}, {"default", true},
                                  {"description", "Check against the contract (when one is available)"}}}},
                {"yaml"})},
    };
  }();
  return kTools;
}

Result<ContainerResources> ResourcesFromJson(const Json& j) {
  ContainerResources r;
  if (!j.is_object()) return Error(Code::kInvalidArgument, "resources: must be an object");
  struct Field {
    const char* group;
    const char* name;
    std::string* out;
  };
  const Field fields[] = {{"requests", "cpu", &r.cpu_request},
                          {"requests", "memory", &r.memory_request},
                          {"limits", "cpu", &r.cpu_limit},
                          {"limits", "memory", &r.memory_limit}};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "requests" && it.key() != "limits")
      return Error(Code::kInvalidArgument, "resources: unknown member " + it.key().substr(0, 64));
    if (!it.value().is_object()) return Error(Code::kInvalidArgument, "resources." + it.key() + ": must be an object");
    for (auto m = it.value().begin(); m != it.value().end(); ++m) {
      const std::string where = "resources." + it.key() + "." + m.key().substr(0, 64);
      if (m.key() != "cpu" && m.key() != "memory") return Error(Code::kInvalidArgument, where + ": unknown member");
      if (!m.value().is_string() || !QuantityValue(m.value().get<std::string>()))
        return Error(Code::kInvalidArgument, where + ": must be a Kubernetes quantity such as 100m or 128Mi");
      for (const Field& f : fields)
        if (it.key() == f.group && m.key() == f.name) *f.out = m.value().get<std::string>();
    }
  }
  // The API server refuses a request above its limit; say so here, naming both.
  if (*QuantityValue(r.cpu_request) > *QuantityValue(r.cpu_limit))
    return Error(Code::kInvalidArgument,
                 "resources: cpu request " + r.cpu_request + " is above its limit " + r.cpu_limit);
  if (*QuantityValue(r.memory_request) > *QuantityValue(r.memory_limit))
    return Error(Code::kInvalidArgument,
                 "resources: memory request " + r.memory_request + " is above its limit " + r.memory_limit);
  return r;
}

Json NamespaceLabelPatch() {
  return Json{{"metadata", {{"labels", {{std::string(kWorkloadsLabel), std::string(kWorkloadsLabelValue)}}}}}};
}

std::string GenerateManifests(const Contract& c, const ManifestOptions& opts) {
  const std::string ns = c.namespace_name();
  const ContainerResources& res = opts.resources;
  std::ostringstream y;
  y << "# Generated by `astis mcp` from the workload contract (cluster " << c.cluster() << ").\n"
    << "# Holds no secret: create the sealed Secret(s) with generate_seal_commands and the API key\n"
    << "# Secret " << ApiKeySecretName(c) << " with generate_token_config.\n"
    << "# Needs deploy/cluster-rbac applied in this cluster (ServiceAccount " << kReaderNamespace << "/"
    << kReaderServiceAccount << ", ClusterRole " << kReaderClusterRole << ").\n";
  if (opts.namespace_exists) {
    // The edge NetworkPolicy admits only labelled namespaces
    // (deploy/base/edge/networkpolicy.yaml). Test:
    // McpToolsTest.ExistingNamespaceGetsTheLabelPatch.
    y << "# Namespace " << ns << " exists, so it is not generated. The edge NetworkPolicy admits only namespaces\n"
      << "# labelled " << kWorkloadsLabel << "=" << kWorkloadsLabelValue
      << "; without the label this pod cannot reach the edge. Label it:\n"
      << "#   " << NamespaceLabelCommand(c) << "\n"
      << "# (or: kubectl patch namespace " << ns << " --type merge -p '" << DumpJson(NamespaceLabelPatch())
      << "')\n";
  } else {
    y << "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " << ns << "\n  labels:\n"
      << "    # The edge NetworkPolicy (deploy/base/edge/networkpolicy.yaml) admits only namespaces with this label.\n"
      << "    " << kWorkloadsLabel << ": " << Q(kWorkloadsLabelValue) << "\n"
      << "    pod-security.kubernetes.io/enforce: \"restricted\"\n---\n";
  }
  y << "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: " << c.service_account() << "\n  namespace: " << ns
    << "\nautomountServiceAccountToken: false\n"
    << "---\n"
    << RoleBindingYaml(c)
    << "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " << c.app() << "\n  namespace: " << ns
    << "\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: " << c.app()
    << "\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: " << c.app() << "\n    spec:\n"
    << "      serviceAccountName: " << c.service_account() << "\n"
    << "      automountServiceAccountToken: false  # only the astis-audience token below is mounted\n"
    << "      enableServiceLinks: false\n"
    << "      securityContext:\n        runAsNonRoot: true\n        runAsUser: " << kRunAsId << "\n        runAsGroup: "
    << kRunAsId << "\n        fsGroup: " << kRunAsId << "\n        seccompProfile:\n          type: RuntimeDefault\n"
    << "      containers:\n      - name: " << c.app() << "\n        image: " << Q(c.image() + "@" + c.image_digests()[0])
    << "\n        env:\n        - name: ASTIS_EDGE_URL\n          value: " << Q(c.edge_url())
    << "\n        - name: ASTIS_TOKEN_PATH\n          value: " << Q(std::string(kTokenDir) + "/token")
    << "\n        - name: ASTIS_SECRETS_DIR\n          value: " << Q(kSecretsDir)
    << "\n        - name: ASTIS_API_KEY_FILE\n          value: " << Q(std::string(kApiKeyDir) + "/api-key")
    << "\n        # Small defaults; size them for your application (generate_manifests argument `resources`).\n"
    << "        resources:\n          requests:\n            cpu: " << Q(res.cpu_request) << "\n            memory: "
    << Q(res.memory_request) << "\n          limits:\n            cpu: " << Q(res.cpu_limit)
    << "\n            memory: " << Q(res.memory_limit) << "\n"
    << "        # Probes go here: readinessProbe / livenessProbe on your application's own health endpoint.\n"
    << "        # Keep them off the edge: a probe that fetches secrets would open a session per check.\n"
    << "        securityContext:\n          allowPrivilegeEscalation: false\n          privileged: false\n"
    << "          readOnlyRootFilesystem: true\n          runAsNonRoot: true\n          capabilities:\n"
    << "            drop: [\"ALL\"]\n"
    << "        volumeMounts:\n"
    << "        - name: astis-token\n          mountPath: " << Q(kTokenDir) << "\n          readOnly: true\n"
    << "        - name: astis-secrets\n          mountPath: " << Q(kSecretsDir) << "\n          readOnly: true\n"
    << "        - name: astis-api-key\n          mountPath: " << Q(kApiKeyDir) << "\n          readOnly: true\n"
    << "      volumes:\n      - name: astis-token\n        projected:\n          sources:\n"
    << "          - serviceAccountToken:\n              audience: " << Q(c.audience())
    << "\n              expirationSeconds: " << c.token_expiration_seconds() << "\n              path: token\n"
    << "      - name: astis-secrets  # sealed values only; the SDK unwraps them in RAM\n        projected:\n"
    << "          defaultMode: 288  # 0440\n          sources:\n";
  for (const auto& s : c.secrets()) {
    y << "          - secret:\n              name: " << s.name << "\n              items:\n";
    for (const auto& k : s.keys) y << "              - key: " << Q(k) << "\n                path: " << Q(k) << "\n";
  }
  y << "      - name: astis-api-key\n        secret:\n          secretName: " << ApiKeySecretName(c)
    << "\n          defaultMode: 288  # 0440\n";
  return y.str();
}

std::string GenerateTokenConfig(const Contract& c, const TokenConfigOptions& opts) {
  // The organisation, when the contract names one, goes on every admin
  // command (docs/tenancy.md); without it they act in the only organisation.
  const std::string org = c.organization().empty() ? "" : " --org " + c.organization();
  const std::string scope = org + " --cluster " + c.cluster() + " --namespace " + c.namespace_name() +
                            " --service-account " + c.service_account();
  // The paths the edge reads: astis-cluster-credentials is mounted at
  // kClusterCredentialsDir in the edge pod (deploy/base/edge/deployment.yaml).
  const std::string token_file = std::string(kClusterCredentialsDir) + "/" + c.cluster() + ".token";
  const std::string ca_file = std::string(kClusterCredentialsDir) + "/" + c.cluster() + ".ca.crt";
  const std::string secret_get =
      "kubectl --context \"$WORKLOAD_CONTEXT\" -n " + std::string(kReaderNamespace) + " get secret " +
      std::string(kReaderTokenSecret) + " -o jsonpath=";
  std::ostringstream t;
  t << "# 1. Projected ServiceAccount token (pod spec). The SDK reads it from ASTIS_TOKEN_PATH.\n"
    << "volumes:\n- name: astis-token\n  projected:\n    sources:\n    - serviceAccountToken:\n        audience: "
    << Q(c.audience()) << "\n        expirationSeconds: " << c.token_expiration_seconds()
    << "\n        path: token\n# container:\nvolumeMounts:\n- name: astis-token\n  mountPath: " << Q(kTokenDir)
    << "\n  readOnly: true\n\n"
    << "# kubectl contexts: WORKLOAD_CONTEXT is cluster " << c.cluster()
    << ", EDGE_CONTEXT the cluster the edge runs in.\n"
    << "WORKLOAD_CONTEXT=\"$(kubectl config current-context)\"\nEDGE_CONTEXT=\"$WORKLOAD_CONTEXT\"\n\n";
  if (opts.cluster_registered) {
    // Test: McpToolsTest.TokenConfigForRegisteredClusterOnlyBindsTheNamespace.
    t << "# 2. Cluster " << c.cluster() << " is already registered at the edge with deploy/cluster-rbac's reader\n"
      << "#    token, which reads pods only in the namespaces it is bound in. Bind it in " << c.namespace_name()
      << " too.\n"
      << "#    Do not register the cluster again: the edge refuses it, and --replace would swap its token.\n"
      << "kubectl --context \"$WORKLOAD_CONTEXT\" apply -f - <<'EOF'\n"
      << RoleBindingYaml(c) << "EOF\n\n";
  } else {
    t << "# 2. In cluster " << c.cluster() << ": the edge's read-only credential (deploy/cluster-rbac: namespace "
      << kReaderNamespace << ",\n"
      << "#    ServiceAccount " << kReaderServiceAccount << ", ClusterRole " << kReaderClusterRole << ", token Secret "
      << kReaderTokenSecret << ") and\n"
      << "#    its RoleBinding in " << c.namespace_name() << ". The kustomization's own rolebinding.yaml is an "
      << "example for namespace payments.\n"
      << "kubectl --context \"$WORKLOAD_CONTEXT\" apply -f deploy/cluster-rbac/namespace.yaml "
      << "-f deploy/cluster-rbac/serviceaccount.yaml \\\n"
      << "  -f deploy/cluster-rbac/clusterrole.yaml -f deploy/cluster-rbac/token-secret.yaml\n"
      << "kubectl --context \"$WORKLOAD_CONTEXT\" apply -f - <<'EOF'\n"
      << RoleBindingYaml(c) << "EOF\n\n"
      << "# 3. Copy the reader token and the cluster CA from the token Secret (filled in by the token controller)\n"
      << "#    into the edge's " << kClusterCredentialsSecret << " Secret, mounted at " << kClusterCredentialsDir
      << " in the edge pod:\n"
      << "#    the edge reads " << token_file << " and " << ca_file << ".\n"
      << "umask 077\n"
      << secret_get << "'{.data.token}' | base64 -d > " << c.cluster() << ".token\n"
      << secret_get << "'{.data.ca\\.crt}' | base64 -d > " << c.cluster() << ".ca.crt\n"
      << "# The Secret holds every registered cluster's files: add this cluster's, never replace the Secret.\n"
      << "if kubectl --context \"$EDGE_CONTEXT\" -n " << kEdgeNamespace << " get secret " << kClusterCredentialsSecret
      << " >/dev/null 2>&1; then\n"
      << "  printf '{\"data\":{\"" << c.cluster() << ".token\":\"%s\",\"" << c.cluster()
      << ".ca.crt\":\"%s\"}}' \"$(base64 -w0 " << c.cluster() << ".token)\" \"$(base64 -w0 " << c.cluster()
      << ".ca.crt)\" > credentials.json\n"
      << "  kubectl --context \"$EDGE_CONTEXT\" -n " << kEdgeNamespace << " patch secret " << kClusterCredentialsSecret
      << " --type merge --patch-file credentials.json\n"
      << "else\n  kubectl --context \"$EDGE_CONTEXT\" -n " << kEdgeNamespace << " create secret generic "
      << kClusterCredentialsSecret << " \\\n    --from-file=" << c.cluster() << ".token=./" << c.cluster()
      << ".token --from-file=" << c.cluster() << ".ca.crt=./" << c.cluster() << ".ca.crt\nfi\n"
      << "shred -u " << c.cluster() << ".token " << c.cluster() << ".ca.crt\n"
      << "[ ! -f credentials.json ] || shred -u credentials.json\n\n"
      << "# 4. Register the cluster at the edge (run where the edge's store or config is; add --store FILE,\n"
      << "#    --config FILE or --admin-socket). The issuer, JWKS and API URL come from the cluster itself.\n"
      << "#    The token and CA files named are paths in the edge pod (step 3). An already registered cluster\n"
      << "#    is refused: for another namespace of it use clusterRegistered: true, not --replace.\n"
      << "ISSUER=\"$(kubectl --context \"$WORKLOAD_CONTEXT\" get --raw /.well-known/openid-configuration | "
         "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"issuer\"])')\"\n"
      << "API_URL=\"$(kubectl config view --minify --context \"$WORKLOAD_CONTEXT\" "
         "-o jsonpath='{.clusters[0].cluster.server}')\"\n"
      << "kubectl --context \"$WORKLOAD_CONTEXT\" get --raw /openid/v1/jwks > " << c.cluster() << "-jwks.json\n"
      << "astis cluster add" << org << " --name " << c.cluster() << " --issuer \"$ISSUER\" --audience " << c.audience()
      << " --jwks-file " << c.cluster() << "-jwks.json \\\n  --api-url \"$API_URL\" --ca-file " << ca_file
      << " --token-file " << token_file << " --mode strict\n\n";
  }
  t << "# " << (opts.cluster_registered ? 3 : 5) << ". Approve the workload and its image digests.\n"
    << "astis workload add" << scope;
  for (const auto& d : c.image_digests()) t << " --image " << d;
  t << "\n\n# " << (opts.cluster_registered ? 4 : 6)
    << ". Create the bound API key (printed once; straight into a Secret, never into a shell variable).\n"
    << "umask 077\nastis apikey create" << scope << " --expires-in 90d > api-key\n"
    << "kubectl --context \"$WORKLOAD_CONTEXT\" -n " << c.namespace_name() << " create secret generic "
    << ApiKeySecretName(c) << " --from-file=api-key=./api-key\nshred -u api-key\n";
  return t.str();
}

std::string GenerateSealCommands(const Contract& c) {
  std::ostringstream s;
  // One --cluster per cluster the values must open in: one seals a v1
  // capsule, several a v2 capsule bound to all (docs/protocol.md §3.1).
  // Test: McpToolsTest.SealCommandsNameEveryAdditionalCluster.
  const std::vector<std::string> clusters = c.seal_clusters();
  std::string cluster_flags, cluster_names;
  for (const auto& name : clusters) {
    cluster_flags += " --cluster " + name;
    cluster_names += (cluster_names.empty() ? "" : ", ") + name;
  }
  s << "# Seal each value to the org public key, bound to " << (clusters.size() == 1 ? "cluster " : "clusters ")
    << cluster_names << ", namespace " << c.namespace_name() << ", ServiceAccount " << c.service_account() << ".\n"
    << "# Values are read from files (--from-file), never passed on the command line: argv is visible\n"
    << "# in /proc and shell history. `astis seal -f plain-secret.yaml` (or stdin) works too.\n"
    << "umask 077\n";
  for (const auto& sec : c.secrets()) {
    s << "# " << sec.name << ": put each value in ./" << sec.name << "/<key> first.\n"
      << "astis seal --public-key org-key.pub.jwk" << cluster_flags << " --namespace " << c.namespace_name()
      << " --service-account " << c.service_account() << " --name " << sec.name;
    for (const auto& k : sec.keys) s << " --from-file " << k << "=./" << sec.name << "/" << k;
    s << " > " << sec.name << ".sealed.yaml\n"
      << "astis lint -f " << sec.name << ".sealed.yaml --contract contract.yaml && kubectl apply -f " << sec.name
      << ".sealed.yaml\n"
      << "shred -u ./" << sec.name << "/*\n";
  }
  return s.str();
}

Result<std::string> GenerateSdkCode(const Contract& c, std::string_view language) {
  const std::vector<std::string> keys = AllKeys(c);
  std::ostringstream o;
  if (language == "c") {
    o << "/* Reads the workload's secrets through libastis (include/astis/astis.h).\n"
      << " * Environment (set by the generated Deployment): ASTIS_EDGE_URL, ASTIS_TOKEN_PATH,\n"
      << " * ASTIS_SECRETS_DIR, ASTIS_API_KEY_FILE. Build: cc app.c $(pkg-config --cflags --libs astis) */\n"
      << "#include <stdio.h>\n#include <astis/astis.h>\n\n"
      << "static int use_secret(const char* name, const uint8_t* data, size_t size) {\n"
      << "  (void)data; /* hand the plaintext to your code here; never log it */\n"
      << "  fprintf(stderr, \"loaded %s (%zu bytes)\\n\", name, size);\n  return 0;\n}\n\n"
      << "int main(void) {\n  astis_config* cfg = NULL;\n  astis_client* client = NULL;\n  char msg[256];\n"
      << "  astis_harden_process();\n"
      << "  if (astis_config_new(&cfg) != ASTIS_OK) return 1;\n"
      << "  if (astis_config_load_env(cfg) != ASTIS_OK || astis_client_new(cfg, &client) != ASTIS_OK) {\n"
      << "    astis_config_last_message(cfg, msg, sizeof msg);\n    fprintf(stderr, \"astis: %s\\n\", msg);\n"
      << "    astis_config_free(cfg);\n    return 1;\n  }\n  astis_config_free(cfg);\n"
      << "  static const char* const names[] = {";
    for (size_t i = 0; i < keys.size(); ++i) o << (i ? ", " : "") << "\"" << keys[i] << "\"";
    o << "};\n  int rc = 0;\n  for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {\n"
      << "    astis_secret* s = NULL;\n    astis_code code = astis_client_get(client, names[i], &s);\n"
      << "    if (code != ASTIS_OK) {\n      astis_client_last_message(client, msg, sizeof msg);\n"
      << "      fprintf(stderr, \"astis: %s: %s\\n\", astis_code_name(code), msg);\n      rc = 1;\n      break;\n    }\n"
      << "    rc = use_secret(names[i], astis_secret_data(s), astis_secret_size(s));\n"
      << "    astis_secret_free(s); /* zeroes the plaintext */\n  }\n"
      << "  astis_client_free(client); /* ends the session, wipes the keys */\n  return rc;\n}\n";
    return o.str();
  }
  if (language == "cpp") {
    o << "// Reads the workload's secrets through the C++ SDK (include/astis/client.hpp).\n"
      << "// Build: c++ -std=c++20 app.cc $(pkg-config --cflags --libs astis)\n"
      << "#include <cstdio>\n#include <string>\n#include <vector>\n\n#include <astis/client.hpp>\n\n"
      << "int main() {\n  astis_harden_process();\n"
      << "  auto config = astis::sdk::Config::FromEnv();  // ASTIS_EDGE_URL, ASTIS_TOKEN_PATH, ...\n"
      << "  if (!config) {\n    std::fprintf(stderr, \"astis: %s\\n\", config.error().message().c_str());\n"
      << "    return 1;\n  }\n  auto client = astis::sdk::Client::Create(*config);\n"
      << "  if (!client) {\n    std::fprintf(stderr, \"astis: %s\\n\", client.error().message().c_str());\n"
      << "    return 1;\n  }\n  const std::vector<std::string> names = {";
    for (size_t i = 0; i < keys.size(); ++i) o << (i ? ", " : "") << "\"" << keys[i] << "\"";
    o << "};\n  auto secrets = client->GetMany(names);  // one unwrap, all or nothing\n"
      << "  if (!secrets) {\n    std::fprintf(stderr, \"astis: %s: %s\\n\", std::string(secrets.error().name()).c_str(),\n"
      << "                 secrets.error().message().c_str());\n    return 1;\n  }\n"
      << "  for (size_t i = 0; i < names.size(); ++i) {\n"
      << "    const astis::sdk::Secret& s = (*secrets)[i];  // wiped when it goes out of scope\n"
      << "    std::fprintf(stderr, \"loaded %s (%zu bytes)\\n\", names[i].c_str(), s.size());  // never log s.view()\n"
      << "  }\n  return 0;\n}\n";
    return o.str();
  }
  if (language == "python") {
    // The wheel's distribution and import name are both "astis"
    // (python/pyproject.toml); test McpToolsTest.GeneratedPythonImportsTheSdk
    // imports the generated program against python/astis.
    const std::string version(GetBuildVersion().version);
    o << "\"\"\"Reads the workload's secrets through the ASTIS Python SDK (package astis, ctypes over libastis).\n\n"
      << "Install the SDK into the image (docs/install.md \"Python\"), either\n"
      << "  pip install astis-" << version << "-py3-none-linux_<arch>.whl   # built by python/build-wheel.sh; "
      << "carries libastis\n"
      << "or the Debian package python3-astis (uses the system's libastis0). Then `import astis` works.\n"
      << "\"\"\"\n"
      << "import sys\n\nimport astis\n\nNAMES = [";
    for (size_t i = 0; i < keys.size(); ++i) o << (i ? ", " : "") << "\"" << keys[i] << "\"";
    o << "]\n\n\ndef main():\n    astis.harden_process()\n    try:\n"
      << "        with astis.Client() as client:  # ASTIS_EDGE_URL, ASTIS_TOKEN_PATH, ... from the environment\n"
      << "            for name in NAMES:\n                value = client.get(name)  # bytearray\n"
      << "                try:\n                    print(f\"loaded {name} ({len(value)} bytes)\", file=sys.stderr)\n"
      << "                finally:\n                    astis.wipe(value)\n"
      << "    except astis.AstisError as e:\n        print(f\"astis: {e}\", file=sys.stderr)\n        return 1\n"
      << "    return 0\n\n\nif __name__ == \"__main__\":\n    sys.exit(main())\n";
    return o.str();
  }
  if (language == "go") {
    // The module path is go/go.mod's (astis.dev/astis, package astis at the
    // module root); test McpToolsTest.GeneratedGoBuildsAgainstTheModule
    // builds and vets the generated program against go/.
    const std::string version(GetBuildVersion().version);
    o << "// Reads the workload's secrets through the Go SDK (module astis.dev/astis, cgo over libastis).\n"
      << "//\n// Get the module (docs/install.md \"Go\"): it is served by your organisation's module proxy for\n"
      << "// astis.dev, so\n//\n//\tGOPRIVATE=astis.dev go get astis.dev/astis@v" << version << "\n//\n"
      << "// or, from an ASTIS source tree or release tarball, point the module at its go/ directory:\n//\n"
      << "//\tgo mod edit -require=astis.dev/astis@v" << version
      << " -replace=astis.dev/astis=/path/to/astis/go\n//\n"
      << "// It links -lastis: install libastis-dev, or set CGO_CFLAGS=-I<prefix>/include and\n"
      << "// CGO_LDFLAGS=-L<prefix>/lib/<multiarch>.\n"
      << "package main\n\nimport (\n\t\"log\"\n\n\t\"astis.dev/astis\"\n)\n\n"
      << "func main() {\n\tc, err := astis.New(astis.Config{FromEnv: true}) // ASTIS_EDGE_URL, ...\n"
      << "\tif err != nil {\n\t\tlog.Fatal(err)\n\t}\n\tdefer c.Close()\n"
      << "\tfor _, name := range []string{";
    for (size_t i = 0; i < keys.size(); ++i) o << (i ? ", " : "") << "\"" << keys[i] << "\"";
    o << "} {\n\t\ts, err := c.Get(name)\n\t\tif err != nil {\n\t\t\tlog.Fatal(err)\n\t\t}\n"
      << "\t\tlog.Printf(\"loaded %s (%d bytes)\", name, s.Len()) // never log s.Bytes()\n"
      << "\t\t// Release zeroes the plaintext.\n\t\ts.Release()\n\t}\n}\n";
    return o.str();
  }
  if (language == "astis-run") {
    o << "# For an application that cannot link the SDK: astis-run unwraps the secrets, then runs the\n"
      << "# command with them. --file puts each in a 0400 file under $ASTIS_RUN_DIR (private tmpfs,\n"
      << "# removed when the command exits); prefer it to --env, which is readable in /proc/PID/environ\n"
      << "# by the same user and inherited by children.\n"
      << "# Container command in the Deployment:\n"
      << "#   command: [\"astis-run\"";
    for (const auto& k : keys) o << ", \"--file\", \"" << k << "=" << k << "\"";
    o << ", \"--\", \"/app/server\"]\n"
      << "astis-run";
    for (const auto& k : keys) o << " --file " << k << "=" << k;
    o << " -- /app/server\n# or, for a program that only reads its environment:\nastis-run";
    for (const auto& k : keys) o << " --env " << EnvName(k) << "=" << k;
    o << " -- /app/server\n";
    return o.str();
  }
  if (language == "inject") {
    // docs/inject.md: the webhook wires astis-run in at admission from these.
    std::string files, env;
    for (const auto& s : c.secrets()) {
      for (const auto& k : s.keys) {
        files += std::string(files.empty() ? "" : ",") + "/etc/" + c.app() + "/secrets/" + k + "=" + s.name + "/" + k;
        env += std::string(env.empty() ? "" : ",") + EnvName(k) + "=" + s.name + "/" + k;
      }
    }
    o << "# Zero-code wiring with `astis inject` (docs/inject.md): at admission the webhook adds an\n"
      << "# astis-run init container, the projected token (audience " << c.audience() << "), the API-key and\n"
      << "# sealed Secret volumes and ASTIS_* env, and starts the container's command through astis-run.\n"
      << "# Put this in the Deployment's pod template (spec.template.metadata), give the container an\n"
      << "# explicit command (the image's ENTRYPOINT), and leave out the token and sealed volumes.\n"
      << "metadata:\n  labels:\n    astis.io/inject: \"true\"\n  annotations:\n"
      << "    # Each value in a 0400 file on an in-memory volume at /etc/" << c.app() << "/secrets:\n"
      << "    astis.io/files: \"" << files << "\"\n"
      << "    # or, for a program that reads its environment:\n"
      << "    # astis.io/env: \"" << env << "\"\n"
      << "    astis.io/api-key-secret: " << ApiKeySecretName(c) << "\n"
      << "# Gate 4 checks the injected init image too: allow the astis-run image's digest (the\n"
      << "# astis-run line of dist/images/digests, the digest in the webhook's --run-image):\n"
      << "#   astis workload images add --cluster " << c.cluster() << " --namespace " << c.namespace_name()
      << " --service-account " << c.service_account() << " --image sha256:<astis-run digest>\n";
    return o.str();
  }
  return Error(Code::kInvalidArgument, "language must be one of c, cpp, python, go, astis-run, inject");
}

Result<ToolOutput> CallTool(std::string_view name, const Json& arguments, const lint::Contract* server_contract) {
  const auto& tools = Tools();
  if (std::none_of(tools.begin(), tools.end(), [&](const ToolDef& t) { return t.name == name; }))
    return Error(Code::kNotFound, "unknown tool");
  for (auto it = arguments.begin(); it != arguments.end(); ++it) {
    static const std::vector<std::string> kArgs = {"contract",        "language",          "yaml",
                                                   "useContract",     "namespaceExists",   "clusterRegistered",
                                                   "resources"};
    if (std::find(kArgs.begin(), kArgs.end(), it.key()) == kArgs.end())
      return Fail("unknown argument " + it.key().substr(0, 64));
  }
  std::optional<Contract> arg_contract;
  if (arguments.contains("contract")) {
    auto c = lint::ContractFromJson(arguments.at("contract"));
    if (!c.ok()) return Fail(c.status().message());
    arg_contract = std::move(*c);
  }
  const Contract* contract = arg_contract ? &*arg_contract : server_contract;

  if (name == "lint_manifests") {
    auto y = arguments.find("yaml");
    if (y == arguments.end() || !y->is_string()) return Fail("argument yaml (string) is required");
    auto use = arguments.find("useContract");
    if (use != arguments.end() && !use->is_boolean()) return Fail("argument useContract must be a boolean");
    if (use != arguments.end() && !use->get<bool>()) contract = nullptr;
    std::vector<lint::LintInput> in{{"manifests", y->get<std::string>()}};
    lint::LintReport report = lint::Lint(in, contract);
    Json structured = lint::ToJson(report);
    structured["contract"] = contract != nullptr;
    return ToolOutput{lint::FormatText(report), structured, false};
  }
  if (contract == nullptr)
    return Fail("no workload contract: pass arguments.contract or start `astis mcp --contract FILE`");
  if (name == "describe_contract") {
    std::ostringstream t;
    t << "Workload " << contract->app() << " in cluster " << contract->cluster() << ", namespace "
      << contract->namespace_name() << ", ServiceAccount " << contract->service_account() << ".\nImage "
      << contract->image() << " pinned to " << contract->image_digests().size() << " approved digest(s).\nSecrets:";
    for (const auto& s : contract->secrets()) {
      t << " " << s.name << " [";
      for (size_t i = 0; i < s.keys.size(); ++i) t << (i ? ", " : "") << s.keys[i];
      t << "]";
    }
    if (!contract->organization().empty()) t << "\nASTIS organisation " << contract->organization() << ".";
    t << "\nEdge " << contract->edge_url() << ", token audience " << contract->audience() << ", expirationSeconds "
      << contract->token_expiration_seconds() << ".\n";
    return ToolOutput{t.str(), Json{{"contract", contract->ToJson()}}, false};
  }
  auto flag = [&](const char* key, bool& out) {
    auto f = arguments.find(key);
    if (f == arguments.end()) return true;
    if (!f->is_boolean()) return false;
    out = f->get<bool>();
    return true;
  };
  if (name == "generate_manifests") {
    ManifestOptions opts;
    if (!flag("namespaceExists", opts.namespace_exists)) return Fail("argument namespaceExists must be a boolean");
    if (auto r = arguments.find("resources"); r != arguments.end()) {
      auto res = ResourcesFromJson(*r);
      if (!res.ok()) return Fail(res.status().message());
      opts.resources = std::move(*res);
    }
    std::string y = GenerateManifests(*contract, opts);
    Json structured{{"yaml", y}};
    if (opts.namespace_exists) {
      structured["namespaceLabelCommand"] = NamespaceLabelCommand(*contract);
      structured["namespacePatch"] = NamespaceLabelPatch();
    }
    return ToolOutput{y, structured, false};
  }
  if (name == "generate_token_config") {
    TokenConfigOptions opts;
    if (!flag("clusterRegistered", opts.cluster_registered))
      return Fail("argument clusterRegistered must be a boolean");
    std::string t = GenerateTokenConfig(*contract, opts);
    return ToolOutput{t, Json{{"text", t}}, false};
  }
  if (name == "generate_seal_commands") {
    std::string t = GenerateSealCommands(*contract);
    return ToolOutput{t, Json{{"script", t}}, false};
  }
  // generate_sdk_code
  auto lang = arguments.find("language");
  if (lang == arguments.end() || !lang->is_string()) return Fail("argument language (string) is required");
  auto code = GenerateSdkCode(*contract, lang->get<std::string>());
  if (!code.ok()) return Fail(code.status().message());
  return ToolOutput{*code, Json{{"language", *lang}, {"code", *code}}, false};
}

}  // namespace astis::mcp
