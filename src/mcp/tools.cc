#include "mcp/tools.h"

#include <algorithm>
#include <span>
#include <sstream>

#include "lint/lint.h"

namespace astis::mcp {
namespace {

using lint::Contract;

constexpr std::string_view kTokenDir = "/var/run/secrets/astis";
constexpr std::string_view kSecretsDir = "/etc/astis/secrets";
constexpr std::string_view kApiKeyDir = "/var/run/secrets/astis-api-key";
constexpr int kRunAsId = 10001;

std::string ApiKeySecretName(const Contract& c) { return c.app() + "-astis-api-key"; }

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

Json Schema(Json extra_properties = Json::object(), Json required = Json::array()) {
  Json props = {{"contract", ContractSchema()}};
  for (auto it = extra_properties.begin(); it != extra_properties.end(); ++it) props[it.key()] = it.value();
  Json s = {{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
  if (!required.empty()) s["required"] = required;
  return s;
}

ToolOutput Fail(std::string text) { return ToolOutput{std::move(text), Json{{"error", text}}, true}; }

}  // namespace

const std::vector<ToolDef>& Tools() {
  static const std::vector<ToolDef> kTools = [] {
    Json languages = Json::array();
    for (auto l : kSdkLanguages) languages.push_back(std::string(l));
    return std::vector<ToolDef>{
        {"describe_contract", "Describe the workload contract",
         "Validate the workload contract and return it normalised (defaults filled in) with a summary.", Schema()},
        {"generate_manifests", "Generate Kubernetes manifests",
         "Deployment (projected token volume, sealed Secret mount, digest-pinned image, automount off, hardened "
         "securityContext), ServiceAccount, and the edge's read-only Role (no exec, attach or debug). Passes astis lint.",
         Schema()},
        {"generate_token_config", "Generate token volume and edge registration",
         "The projected ServiceAccount token volume snippet and the `astis cluster add`, `astis workload add` and "
         "`astis apikey create` commands for the edge.",
         Schema()},
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

std::string GenerateManifests(const Contract& c) {
  const std::string ns = c.namespace_name();
  std::ostringstream y;
  y << "# Generated by `astis mcp` from the workload contract (cluster " << c.cluster() << ").\n"
    << "# Holds no secret: create the sealed Secret(s) with generate_seal_commands and the API key\n"
    << "# Secret " << ApiKeySecretName(c) << " with generate_token_config.\n"
    << "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: " << c.service_account() << "\n  namespace: " << ns
    << "\nautomountServiceAccountToken: false\n"
    << "---\n# The edge's read-only credential for gate 4 (live pod, approved images). No exec, attach or debug.\n"
    << "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: astis-edge-reader\n  namespace: " << ns
    << "\nautomountServiceAccountToken: false\n"
    << "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: astis-edge-reader\n  namespace: "
    << ns << "\nrules:\n- apiGroups: [\"\"]\n  resources: [\"pods\"]\n  verbs: [\"get\", \"list\", \"watch\"]\n"
    << "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: astis-edge-reader\n"
    << "  namespace: " << ns << "\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n"
    << "  name: astis-edge-reader\nsubjects:\n- kind: ServiceAccount\n  name: astis-edge-reader\n  namespace: " << ns
    << "\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " << c.app() << "\n  namespace: " << ns
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
    << "\n        securityContext:\n          allowPrivilegeEscalation: false\n          privileged: false\n"
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

std::string GenerateTokenConfig(const Contract& c) {
  // The organisation, when the contract names one, goes on every admin
  // command (docs/tenancy.md); without it they act in the only organisation.
  const std::string org = c.organization().empty() ? "" : " --org " + c.organization();
  const std::string scope = org + " --cluster " + c.cluster() + " --namespace " + c.namespace_name() +
                            " --service-account " + c.service_account();
  std::ostringstream t;
  t << "# 1. Projected ServiceAccount token (pod spec). The SDK reads it from ASTIS_TOKEN_PATH.\n"
    << "volumes:\n- name: astis-token\n  projected:\n    sources:\n    - serviceAccountToken:\n        audience: "
    << Q(c.audience()) << "\n        expirationSeconds: " << c.token_expiration_seconds()
    << "\n        path: token\n# container:\nvolumeMounts:\n- name: astis-token\n  mountPath: " << Q(kTokenDir)
    << "\n  readOnly: true\n\n"
    << "# 2. Register the cluster at the edge (run where the edge's store or config is; add --store FILE or\n"
    << "#    --config FILE). The issuer, JWKS, API URL and CA come from the cluster itself:\n"
    << "ISSUER=\"$(kubectl get --raw /.well-known/openid-configuration | python3 -c 'import json,sys; "
       "print(json.load(sys.stdin)[\"issuer\"])')\"\n"
    << "kubectl get --raw /openid/v1/jwks > " << c.cluster() << "-jwks.json\n"
    << "kubectl -n " << c.namespace_name() << " create token astis-edge-reader --duration=8760h > " << c.cluster()
    << "-edge-reader.token\n"
    << "astis cluster add" << org << " --name " << c.cluster() << " --issuer \"$ISSUER\" --audience " << c.audience()
    << " --jwks-file " << c.cluster() << "-jwks.json --api-url https://KUBE-API-HOST:6443 --ca-file " << c.cluster()
    << "-ca.crt --token-file " << c.cluster() << "-edge-reader.token --mode strict\n\n"
    << "# 3. Approve the workload and its image digests.\n"
    << "astis workload add" << scope;
  for (const auto& d : c.image_digests()) t << " --image " << d;
  t << "\n\n# 4. Create the bound API key (printed once; straight into a Secret, never into a shell variable).\n"
    << "umask 077\nastis apikey create" << scope << " --expires-in 90d > api-key\n"
    << "kubectl -n " << c.namespace_name() << " create secret generic " << ApiKeySecretName(c)
    << " --from-file=api-key=./api-key\nshred -u api-key\n";
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
    o << "\"\"\"Reads the workload's secrets through the ASTIS Python SDK (python/astis, ctypes over libastis).\"\"\"\n"
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
    o << "// Reads the workload's secrets through the Go SDK (go/, cgo over libastis).\n"
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
    static const std::vector<std::string> kArgs = {"contract", "language", "yaml", "useContract"};
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
  if (name == "generate_manifests") {
    std::string y = GenerateManifests(*contract);
    return ToolOutput{y, Json{{"yaml", y}}, false};
  }
  if (name == "generate_token_config") {
    std::string t = GenerateTokenConfig(*contract);
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
