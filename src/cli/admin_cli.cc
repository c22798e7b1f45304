#include "cli/admin_cli.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <istream>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "admin/apply_document.h"
#include "admin/cluster_jwks.h"
#include "admin/client.h"
#include "admin/https_api.h"
#include "admin/operations.h"
#include "audit/audit_log.h"
#include "audit/org_audit_router.h"
#include "capsule/capsule.h"
#include "capsule/org_key.h"
#include "cli/commands.h"
#include "cli/secret_manifest.h"
#include "common/dns1123.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/time_format.h"
#include "cvs/key_management.h"
#include "cvs/run.h"
#include "edge/config.h"
#include "edge/gates.h"
#include "edge/run.h"
#include "lint/yaml_documents.h"
#include "net/tls.h"
#include "store/open_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace astis::cli {

struct AdminCommands::Args {
  // Processes.
  CLI::App* serve = nullptr;
  CLI::App* edge = nullptr;
  CLI::App* cvs = nullptr;
  std::string process_config;
  // Store selection shared by the admin commands, and the organisation.
  std::string store_path, config_path, admin_socket, org;
  // The remote admin API (docs/tenancy.md "Administration over the network").
  std::string server, admin_cert, admin_key, admin_ca;
  // org
  CLI::App *org_add = nullptr, *org_list = nullptr, *org_remove = nullptr;
  CLI::App *org_key_create = nullptr, *org_key_rotate = nullptr, *org_key_list = nullptr;
  std::string keys_dir;
  std::string tier = "standard", cvs_url, cvs_ca, cvs_identity, cvs_spki_sha256;
  bool force = false;
  // apply / diff
  CLI::App *apply = nullptr, *diff = nullptr;
  std::vector<std::string> files;
  bool prune = false;
  // cluster
  CLI::App *cluster_add = nullptr, *cluster_list = nullptr, *cluster_remove = nullptr;
  bool cluster_replace = false;
  CLI::App* cluster_jwks_fetch = nullptr;
  bool jwks_apply = false, yes = false;
  std::string name, issuer, audience = "astis", jwks_file, api_url, ca_file, token_file, mode = "strict";
  // workload / apikey / session scope
  CLI::App *workload_add = nullptr, *workload_list = nullptr, *workload_remove = nullptr;
  CLI::App *images_add = nullptr, *images_remove = nullptr;
  std::string cluster, namespace_, service_account;
  std::vector<std::string> images;
  CLI::App *apikey_create = nullptr, *apikey_list = nullptr, *apikey_revoke = nullptr;
  std::string expires_in, id;
  CLI::App *session_list = nullptr, *session_revoke = nullptr;
  std::string pod_uid;
  // audit / keys
  CLI::App* audit_verify = nullptr;
  std::string audit_file, audit_org;
  CLI::App* key_rotate = nullptr;
  CLI::App* reseal = nullptr;
  std::string keys_file, input_file, output = "yaml";
  std::vector<std::string> add_clusters, remove_clusters;
  std::string pkcs11_module, pin_file;
};

namespace {

int Fail(CliEnv& env, std::string_view command, const Status& status) {
  env.err << "astis " << command << ": " << status.ToString() << "\n";
  return ExitCodeFor(status);
}

// Actor names the operator in the configuration audit: "cli:<login>".
std::string Actor() { return admin::ActorForUid(geteuid()); }

// GenerateKey is the edge's API key generator, handed to the admin operations.
Result<admin::NewApiKey> GenerateKey(Random& rng) {
  ASTIS_ASSIGN_OR_RETURN(edge::GeneratedApiKey key, edge::GenerateApiKey(rng));
  return admin::NewApiKey{std::move(key.id), std::move(key.header_value), key.hash};
}

std::string FormatTime(int64_t unix_seconds) {
  return unix_seconds == 0 ? "-" : FormatRfc3339(unix_seconds * 1000, TimePrecision::kMillis);
}

// StoreMode says whether a command may create the store it names: only the
// commands that add something do; the others (list, diff, show, remove,
// revoke, jwks fetch) refuse a store that does not exist, so a typo in
// --store is not answered with a new, empty store.
// Test: CliAdminTest.ReadOnlyCommandsRefuseAMissingStore.
enum class StoreMode { kMayCreate, kMustExist };

Result<std::unique_ptr<store::Store>> OpenStore(const std::string& store_path, const std::string& config_path,
                                                StoreMode mode) {
  if (!store_path.empty() && !config_path.empty()) {
    return Error(Code::kInvalidArgument, "give --store or --config, not both");
  }
  if (!store_path.empty()) {
    store::SqliteOptions sqlite;
    sqlite.must_exist = mode == StoreMode::kMustExist;
    return store::OpenSqliteStore(store_path, sqlite);
  }
  if (config_path.empty()) return Error(Code::kInvalidArgument, "--store PATH or --config FILE is required");
  ASTIS_ASSIGN_OR_RETURN(edge::EdgeConfig config, edge::LoadEdgeConfig(config_path));
  // The edge's own store, SQLite or PostgreSQL, opened exactly as the edge does.
  store::StoreOptions options = edge::StoreOptionsOf(config);
  options.must_exist = mode == StoreMode::kMustExist;
  return store::OpenStore(options);
}

// ParseDuration reads "<n>s|m|h|d" (e.g. 30d) into seconds; kInvalidArgument
// otherwise (test ApiKeyCreateRejectsBadExpiry).
Result<int64_t> ParseDuration(std::string_view s) {
  if (s.size() < 2 || s.size() > 8) return Error(Code::kInvalidArgument, "--expires-in: expected e.g. 90m, 12h, 30d");
  int64_t n = 0;
  for (char c : s.substr(0, s.size() - 1)) {
    if (c < '0' || c > '9') return Error(Code::kInvalidArgument, "--expires-in: expected e.g. 90m, 12h, 30d");
    n = n * 10 + (c - '0');
  }
  int64_t unit = 0;
  switch (s.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return Error(Code::kInvalidArgument, "--expires-in: unit must be s, m, h or d");
  }
  if (n <= 0) return Error(Code::kInvalidArgument, "--expires-in: must be positive");
  return n * unit;
}

// ---------------------------------------------------------------- processes

int RunEdgeLike(const std::string& command, const std::string& config_path, edge::CvsMode required, CliEnv& env) {
  auto config = edge::LoadEdgeConfig(config_path);
  if (!config.ok()) {
    env.err << "astis " << command << ": configuration: " << config.status().ToString() << "\n";
    return kExitInput;
  }
  if (config->cvs.mode != required) {
    env.err << "astis " << command << ": configuration: cvs.mode: "
            << (required == edge::CvsMode::kEmbedded
                    ? "`astis serve` runs the embedded CVS; use `astis edge` for cvs.mode remote"
                    : "`astis edge` needs cvs.mode remote; use `astis serve` for the embedded CVS")
            << "\n";
    return kExitInput;
  }
  env.err.flush();
  edge::EdgeProcessOptions options;
  options.program = "astis " + command;
  Status s = edge::RunEdgeProcess(*config, env.clock, env.rng, options);
  if (!s.ok()) return Fail(env, command, s);
  return kExitOk;
}

int RunCvs(const std::string& config_path, CliEnv& env) {
  auto text = ReadFileLimited(config_path, 1024 * 1024);
  if (!text.ok()) {
    env.err << "astis cvs: configuration: " << text.status().ToString() << "\n";
    return kExitInput;
  }
  auto config = cvs::ParseCvsProcessConfig(*text);
  if (!config.ok()) {
    env.err << "astis cvs: configuration: " << config.status().ToString() << "\n";
    return kExitInput;
  }
  env.err.flush();
  Status s = cvs::RunCvsProcess(*config, env.clock, env.rng);
  if (!s.ok()) return Fail(env, "cvs", s);
  return kExitOk;
}

// ---------------------------------------------------------------- store commands
//
// Each admin command over the store reads its files and flags here, calls
// one admin::Operations method (the store directly, or the edge's admin
// socket with --admin-socket) and prints the typed result, so both paths
// print the same text and exit with the same code.

int ClusterAdd(const AdminCommands::Args& a, admin::Operations& ops, CliEnv& env) {
  constexpr std::string_view kCmd = "cluster add";
  // The store keeps the JWKS text, so the file is read here and sent as
  // content; --ca-file and --token-file are paths on the edge host.
  auto jwks_text = ReadFileLimited(a.jwks_file, admin::kMaxJwksBytes);
  if (!jwks_text.ok()) return Fail(env, kCmd, jwks_text.status());
  // Without --replace an existing cluster is refused (kAlreadyExists).
  // Test: CliAdminTest.ClusterAddRefusesExistingWithoutReplace.
  admin::ClusterAddArgs args{a.name,    a.issuer,     a.audience, *jwks_text,        a.api_url,
                             a.ca_file, a.token_file, a.mode,     a.cluster_replace};
  auto added = ops.ClusterAdd(args);
  if (!added.ok()) return Fail(env, kCmd, added.status());
  env.out << "cluster " << added->name << " registered (mode " << added->mode << ")\n";
  if (added->mode == "audit") {
    env.err << "WARNING: cluster " << added->name
            << " is in AUDIT mode: gate 4 refusals are logged as would_deny, not enforced\n";
  }
  return kExitOk;
}

int ClusterList(admin::Operations& ops, CliEnv& env) {
  auto clusters = ops.ClusterList();
  if (!clusters.ok()) return Fail(env, "cluster list", clusters.status());
  env.out << "NAME\tMODE\tISSUER\tAUDIENCE\tAPI_URL\n";
  for (const auto& c : *clusters) {
    env.out << c.name << "\t" << c.mode << "\t" << c.issuer << "\t" << c.audience << "\t" << c.api_url << "\n";
  }
  return kExitOk;
}

int ClusterRemove(const AdminCommands::Args& a, admin::Operations& ops, CliEnv& env) {
  if (Status s = ops.ClusterRemove(a.name); !s.ok()) return Fail(env, "cluster remove", s);
  env.out << "cluster " << a.name << " removed (with its workloads)\n";
  return kExitOk;
}

int WorkloadAdd(const AdminCommands::Args& a, admin::Operations& ops, CliEnv& env) {
  auto w = ops.WorkloadAdd(store::Workload{a.cluster, a.namespace_, a.service_account, a.images});
  if (!w.ok()) return Fail(env, "workload add", w.status());
  env.out << "workload " << w->cluster << "/" << w->namespace_ << "/" << w->service_account << " approved with "
          << w->image_digests.size() << " image digest(s)\n";
  return kExitOk;
}

int WorkloadList(const AdminCommands::Args& a, admin::Operations& ops, CliEnv& env) {
  auto ws = ops.WorkloadList(a.cluster);
  if (!ws.ok()) return Fail(env, "workload list", ws.status());
  env.out << "CLUSTER\tNAMESPACE\tSERVICE_ACCOUNT\tIMAGES\n";
  for (const auto& w : *ws) {
    env.out << w.cluster << "\t" << w.namespace_ << "\t" << w.service_account << "\t";
    for (size_t i = 0; i < w.image_digests.size(); ++i) env.out << (i ? "," : "") << w.image_digests[i];
    env.out << "\n";
  }
  return kExitOk;
}

int WorkloadRemove(const AdminCommands::Args& a, admin::Operations& ops, CliEnv& env) {
  if (Status s = ops.WorkloadRemove(admin::WorkloadKey{a.cluster, a.namespace_, a.service_account}); !s.ok()) {
    return Fail(env, "workload remove", s);
  }
  env.out << "workload " << a.cluster << "/" << a.namespace_ << "/" << a.service_account << " removed\n";
  return kExitOk;
}

int ApiKeyCreate(const AdminCommands::Args& a, admin::Operations& ops, CliEnv& env) {
  constexpr std::string_view kCmd = "apikey create";
  int64_t ttl = 0;
  if (!a.expires_in.empty()) {
    auto d = ParseDuration(a.expires_in);
    if (!d.ok()) return Fail(env, kCmd, d.status());
    ttl = *d;
  }
  auto key = ops.ApiKeyCreate(admin::ApiKeyCreateArgs{a.cluster, a.namespace_, a.service_account, ttl});
  if (!key.ok()) return Fail(env, kCmd, key.status());
  // The only place the secret is ever shown: once, on stdout.
  env.out << key->key.RevealString() << "\n";
  env.out.flush();
  env.err << "api key " << key->id << " for " << key->cluster << "/" << key->namespace_ << "/"
          << key->service_account << ", expires " << FormatTime(key->expires_at)
          << ". It is shown once and cannot be recovered.\n";
  return kExitOk;
}

int ApiKeyList(admin::Operations& ops, CliEnv& env) {
  auto keys = ops.ApiKeyList();
  if (!keys.ok()) return Fail(env, "apikey list", keys.status());
  env.out << "ID\tCLUSTER\tNAMESPACE\tSERVICE_ACCOUNT\tCREATED\tEXPIRES\tREVOKED\n";
  for (const auto& k : *keys) {  // never the hash
    env.out << k.id << "\t" << k.cluster << "\t" << k.namespace_ << "\t" << k.service_account << "\t"
            << FormatTime(k.created_at) << "\t" << FormatTime(k.expires_at) << "\t" << FormatTime(k.revoked_at)
            << "\n";
  }
  return kExitOk;
}

int ApiKeyRevoke(const AdminCommands::Args& a, admin::Operations& ops, CliEnv& env) {
  if (Status s = ops.ApiKeyRevoke(a.id); !s.ok()) return Fail(env, "apikey revoke", s);
  env.out << "api key " << a.id << " revoked\n";
  return kExitOk;
}

int SessionList(const AdminCommands::Args& a, admin::Operations& ops, CliEnv& env) {
  auto sessions = ops.SessionList(admin::SessionListArgs{a.cluster, a.namespace_});
  if (!sessions.ok()) return Fail(env, "session list", sessions.status());
  env.out << "ID\tCLUSTER\tNAMESPACE\tSERVICE_ACCOUNT\tPOD\tPOD_UID\tEXPIRES\tSTATE\n";
  for (const auto& s : *sessions) {
    env.out << s.id << "\t" << s.cluster << "\t" << s.namespace_ << "\t" << s.service_account << "\t" << s.pod_name
            << "\t" << s.pod_uid << "\t" << FormatTime(s.expires_at) << "\t" << s.state << "\n";
  }
  return kExitOk;
}

int SessionRevoke(const AdminCommands::Args& a, admin::Operations& ops, CliEnv& env) {
  auto revoked = ops.SessionRevoke(admin::SessionRevokeArgs{a.id, a.pod_uid, a.cluster});
  if (!revoked.ok()) return Fail(env, "session revoke", revoked.status());
  env.out << "revoked " << *revoked << " session(s)\n";
  return kExitOk;
}

int OrgAdd(const AdminCommands::Args& a, admin::Operations& ops, CliEnv& env) {
  constexpr std::string_view kCmd = "org add";
  admin::OrgAddArgs args{a.name, a.tier, a.cvs_url, "", a.cvs_identity, a.cvs_spki_sha256};
  if (!a.cvs_ca.empty()) {
    // The store keeps the CA bundle's text (the edge may run elsewhere).
    auto pem = ReadFileLimited(a.cvs_ca, 1024 * 1024);
    if (!pem.ok()) return Fail(env, kCmd, Error(pem.status().code(), "--cvs-ca: " + pem.status().message()));
    args.cvs_ca_pem = std::move(*pem);
  }
  auto added = ops.OrgAdd(args);
  if (!added.ok()) return Fail(env, kCmd, added.status());
  env.out << "organization " << added->org.name << (added->updated ? " updated" : " added") << " (tier "
          << added->org.tier << ")\n";
  return kExitOk;
}

int OrgList(admin::Operations& ops, CliEnv& env) {
  auto orgs = ops.OrgList();
  if (!orgs.ok()) return Fail(env, "org list", orgs.status());
  env.out << "NAME\tTIER\tCVS_URL\n";
  for (const auto& o : *orgs) {
    env.out << o.name << "\t" << o.tier << "\t" << (o.cvs_url.empty() ? "-" : o.cvs_url) << "\n";
  }
  return kExitOk;
}

int OrgRemove(const AdminCommands::Args& a, admin::Operations& ops, CliEnv& env) {
  if (Status s = ops.OrgRemove(a.name, a.force); !s.ok()) return Fail(env, "org remove", s);
  env.out << "organization " << a.name << " removed"
          << (a.force ? " (with its clusters, workloads, API keys and sessions)" : "") << "\n";
  return kExitOk;
}

int WorkloadImages(const AdminCommands::Args& a, bool add, admin::Operations& ops, CliEnv& env) {
  admin::WorkloadImagesArgs args{admin::WorkloadKey{a.cluster, a.namespace_, a.service_account}, {}, {}};
  (add ? args.add : args.remove) = a.images;
  auto w = ops.WorkloadImages(args);
  if (!w.ok()) return Fail(env, add ? "workload images add" : "workload images remove", w.status());
  env.out << "workload " << w->cluster << "/" << w->namespace_ << "/" << w->service_account << " allows "
          << w->image_digests.size() << " image digest(s):\n";
  for (const auto& d : w->image_digests) env.out << d << "\n";
  return kExitOk;
}

// ApplyFiles lists the files of `apply -f`: a file as is, a directory's
// *.yaml, *.yml and *.json files (not recursive), in name order.
Result<std::vector<std::string>> ApplyFiles(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (!fs::is_directory(p, ec)) {
      files.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& entry : fs::directory_iterator(p, ec)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file(ec) && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
        found.push_back(entry.path().string());
      }
    }
    if (ec) return Error(Code::kIo, "-f " + p + ": cannot list the directory: " + ec.message());
    // An empty directory is most likely a wrong path (test CliOrgTest.ApplyEmptyDirectoryRefused).
    if (found.empty()) return Error(Code::kInvalidArgument, "-f " + p + ": no .yaml, .yml or .json file");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

// ReadApplyDocuments reads and checks every document before anything is
// sent, so a bad one writes nothing (test CliOrgTest.ApplyBadDocumentWritesNothing).
Result<admin::ApplyDocuments> ReadApplyDocuments(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  ASTIS_ASSIGN_OR_RETURN(std::vector<std::string> files, ApplyFiles(paths));
  admin::ApplyDocuments docs;
  for (const std::string& file : files) {
    auto text = ReadFileLimited(file, lint::kMaxManifestFileBytes);
    if (!text.ok()) return Error(text.status().code(), file + ": " + text.status().message());
    const fs::path dir = fs::path(file).parent_path();
    // spec.jwksFile is relative to the document's own file.
    auto read = [&dir](const std::string& name) -> Result<std::string> {
      const fs::path target = fs::path(name).is_absolute() ? fs::path(name) : dir / name;
      return ReadFileLimited(target.string(), admin::kMaxJwksBytes);
    };
    ASTIS_RETURN_IF_ERROR(admin::ParseApplyFile(file, *text, read, docs));
  }
  return docs;
}

int ApplyOrDiff(const AdminCommands::Args& a, bool dry_run, admin::Operations& ops,
                const admin::ApplyDocuments& docs, CliEnv& env) {
  admin::ApplyArgs args{docs.clusters, docs.workloads, a.prune, dry_run};
  auto changes = ops.Apply(args);
  if (!changes.ok()) return Fail(env, dry_run ? "diff" : "apply", changes.status());
  for (const auto& c : *changes) {
    env.out << (c.kind == "Cluster" ? "cluster/" : "workload/") << c.name << " " << c.action << "\n";
  }
  return kExitOk;
}

// Backend is where the store commands run: the store opened here, or the
// edge's admin socket. store outlives ops (declared first).
struct Backend {
  std::unique_ptr<store::Store> store;
  std::unique_ptr<admin::Operations> ops;
};

// OrgOption is --org, else $ASTIS_ORG, else "" (the only organisation;
// admin::ResolveOrg).
std::string OrgOption(const AdminCommands::Args& a) {
  if (!a.org.empty()) return a.org;
  const char* env_org = std::getenv("ASTIS_ORG");
  return env_org != nullptr ? env_org : "";
}

// EnvOr is flag when set, else the environment variable, else "".
std::string EnvOr(const std::string& flag, const char* env_name) {
  if (!flag.empty()) return flag;
  const char* v = std::getenv(env_name);
  return v != nullptr ? v : "";
}

// ConnectServer opens the remote admin API at --server with the client
// certificate of --admin-cert/--admin-key (the caller's role) and the CA of
// --admin-ca (the API's server certificate).
Result<std::unique_ptr<admin::Operations>> ConnectServer(const AdminCommands::Args& a, const std::string& server,
                                                         const std::string& org) {
  const std::string cert = EnvOr(a.admin_cert, "ASTIS_ADMIN_CERT");
  const std::string key = EnvOr(a.admin_key, "ASTIS_ADMIN_KEY");
  const std::string ca = EnvOr(a.admin_ca, "ASTIS_ADMIN_CA");
  if (cert.empty() || key.empty()) {
    return Error(Code::kInvalidArgument, "--server needs --admin-cert and --admin-key (the caller's certificate)");
  }
  net::TlsClientConfig tls;
  if (!ca.empty()) {
    ASTIS_ASSIGN_OR_RETURN(std::string ca_pem, net::ReadPemFile(ca));
    tls.ca_pem = std::move(ca_pem);
  }
  ASTIS_ASSIGN_OR_RETURN(std::string cert_pem, net::ReadPemFile(cert));
  tls.client_cert_pem = std::move(cert_pem);
  ASTIS_ASSIGN_OR_RETURN(tls.client_key_pem, net::ReadKeyFile(key));
  return admin::ConnectAdminHttps(server, tls, org);
}

Result<Backend> OpenBackend(const AdminCommands::Args& a, const std::string& org, StoreMode mode, CliEnv& env) {
  const bool local = !a.admin_socket.empty() || !a.store_path.empty() || !a.config_path.empty();
  const std::string server = local ? a.server : EnvOr(a.server, "ASTIS_ADMIN_SERVER");
  if (!server.empty()) {
    if (local) return Error(Code::kInvalidArgument, "give --server or --admin-socket/--store/--config, not both");
    Backend b;
    ASTIS_ASSIGN_OR_RETURN(b.ops, ConnectServer(a, server, org));
    return b;
  }
  std::string socket = a.admin_socket;
  if (!socket.empty() && (!a.store_path.empty() || !a.config_path.empty())) {
    return Error(Code::kInvalidArgument, "give --admin-socket or --store/--config, not both");
  }
  // ASTIS_ADMIN_SOCKET applies only when no store was named explicitly.
  if (socket.empty() && a.store_path.empty() && a.config_path.empty()) {
    if (const char* env_socket = std::getenv("ASTIS_ADMIN_SOCKET"); env_socket != nullptr) socket = env_socket;
  }
  Backend b;
  if (!socket.empty()) {
    ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<admin::AdminClient> client, admin::AdminClient::Connect(socket));
    b.ops = admin::RemoteOperations(std::move(client), org);
    return b;
  }
  ASTIS_ASSIGN_OR_RETURN(b.store, OpenStore(a.store_path, a.config_path, mode));
  b.ops = std::make_unique<admin::LocalOperations>(*b.store, env.clock, env.rng, GenerateKey, Actor(), org);
  return b;
}

// ClusterJwksFetch shows how the cluster's current JWKS (read through its
// OIDC discovery endpoint with its read-only token) differs from the pinned
// one and, with --apply and a confirmation (--yes, or the cluster name typed
// on stdin), pins it: the served keys plus, unless --prune, the pinned ones
// no longer served, so tokens signed before the rotation stay valid
// (docs/operations.md "Cluster signing-key rotation"). The store is opened
// directly: the API CA and token files are read here, on the edge host.
// Test: CliClusterJwksTest.FetchDiffsAndApplyNeedsConfirmation.
int ClusterJwksFetch(const AdminCommands::Args& a, CliEnv& env) {
  constexpr std::string_view kCmd = "cluster jwks fetch";
  auto store = OpenStore(a.store_path, a.config_path, StoreMode::kMustExist);
  if (!store.ok()) return Fail(env, kCmd, store.status());
  auto org = admin::ResolveOrg(**store, OrgOption(a));
  if (!org.ok()) return Fail(env, kCmd, org.status());
  auto cluster = (*store)->GetCluster(*org, a.name);
  if (!cluster.ok()) return Fail(env, kCmd, cluster.status());
  auto fetched = admin::FetchClusterJwks(*cluster);
  if (!fetched.ok()) return Fail(env, kCmd, fetched.status());
  const admin::JwksDiff& d = fetched->diff;
  for (const std::string& kid : d.added) env.out << "+ " << kid << "\tserved by the cluster, not pinned\n";
  for (const std::string& kid : d.removed) env.out << "- " << kid << "\tpinned, no longer served\n";
  for (const std::string& kid : d.kept) env.out << "= " << kid << "\tpinned and served\n";
  const bool changes = !d.added.empty() || (a.prune && !d.removed.empty());
  if (!a.jwks_apply || !changes) {
    env.out << "cluster " << a.name << ": " << (changes ? "not pinned (use --apply)" : "nothing to pin") << "\n";
    return kExitOk;
  }
  if (!a.yes) {
    env.err << "pin this JWKS for cluster " << a.name << "? type the cluster name to confirm: ";
    env.err.flush();
    std::string typed;
    std::getline(env.in, typed);
    if (typed != a.name) return Fail(env, kCmd, Error(Code::kFailedPrecondition, "not confirmed: nothing pinned"));
  }
  auto pin = admin::JwksToPin(cluster->jwks_json, fetched->jwks_json, a.prune);
  if (!pin.ok()) return Fail(env, kCmd, pin.status());
  admin::LocalOperations ops(**store, env.clock, env.rng, GenerateKey, Actor(), *org);
  const store::Cluster& c = *cluster;
  // Re-pinning replaces the registered cluster on purpose.
  admin::ClusterAddArgs args{c.name, c.issuer, c.audience, *pin, c.api_url, c.ca_file, c.token_file, c.mode, true};
  auto added = ops.ClusterAdd(args);
  if (!added.ok()) return Fail(env, kCmd, added.status());
  env.out << "cluster " << a.name << ": pinned " << d.added.size() + d.kept.size() + (a.prune ? 0 : d.removed.size())
          << " key(s)\n";
  return kExitOk;
}

// ---------------------------------------------------------------- audit, keys

int AuditVerify(const std::string& main_file, const std::string& org, CliEnv& env) {
  // --org verifies that organisation's own trail beside the main log
  // (audit::OrgAuditRouter; test CliOrgKeyTest.AuditVerifyOrgVerifiesThatTrail).
  if (!org.empty() && !IsDns1123Label(org)) {
    return Fail(env, "audit verify", Error(Code::kInvalidArgument, "--org: not an organization name"));
  }
  const std::string file = org.empty() ? main_file : audit::OrgTrailPath(main_file, org);
  // A rotated set (file.1 .. file.N, then file) is verified as one chain;
  // the message names the file that is missing or where the chain breaks
  // (docs/audit-log.md "Rotation"; test CliAdminTest.AuditVerifyRotatedSet).
  auto report = audit::VerifyAuditLog(file);
  if (!report.ok()) return Fail(env, "audit verify", report.status());
  if (report->torn_tail) {
    env.err << "astis audit verify: " << report->file << ": line " << report->first_bad_line
            << ": torn last line (no newline): a write was interrupted or the tail was cut"
            << " (`astis serve` repairs it on start)\n";
    return kExitCrypto;
  }
  if (!report->ok) {
    if (report->first_bad_line == 0) {
      env.err << "astis audit verify: " << report->file << ": " << report->problem << "\n";
    } else {
      env.err << "astis audit verify: " << report->file << ": line " << report->first_bad_line << ": "
              << report->problem << " (chain broken: a line was edited, deleted, inserted or reordered)\n";
    }
    return kExitCrypto;
  }
  env.out << "ok: " << report->lines << " lines in " << report->files << (report->files == 1 ? " file" : " files")
          << ", chain intact, last seq " << report->last_seq << ", head " << report->head_hash << "\n";
  return kExitOk;
}

// OrgKey creates or rotates an organisation's Tier 1 org key where the
// ASTIS CVS keeps it (docs/tenancy.md) and prints only the public JWK:
// --keys-dir (or --config with cvs.org_keys_dir): in that directory, on
// the CVS host; a running edge or CVS on it picks the file up. --config
// with cvs.mode remote: inside the remote ASTIS CVS, through its key
// custody endpoint as the edge (test CliOrgKeyTest.RemoteCvsGeneratesTheKey).
int OrgKey(const AdminCommands::Args& a, bool create, CliEnv& env) {
  const char* cmd = create ? "org key create" : "org key rotate";
  const std::string org = OrgOption(a);
  if (org.empty()) return Fail(env, cmd, Error(Code::kInvalidArgument, "--org is required"));
  std::string where;
  Result<cvs::OrgPublicKeyInfo> r = Error(Code::kInvalidArgument, "give --keys-dir or --config");
  if (!a.keys_dir.empty()) {
    where = cvs::OrgKeySetPath(a.keys_dir, org);
    r = create ? cvs::CreateOrgKeySet(a.keys_dir, org, env.rng) : cvs::RotateOrgKeySet(a.keys_dir, org, env.rng);
  } else if (!a.config_path.empty()) {
    auto config = edge::LoadEdgeConfig(a.config_path);
    if (!config.ok()) return Fail(env, cmd, config.status());
    if (config->cvs.mode == edge::CvsMode::kRemote) {
      auto client = edge::MakeRemoteAstisCvsClient(*config);
      if (!client.ok()) return Fail(env, cmd, client.status());
      where = "the ASTIS CVS at " + config->cvs.url;
      r = create ? (*client)->CreateOrgKey(org) : (*client)->RotateOrgKey(org);
    } else if (!config->cvs.org_keys_dir.empty()) {
      const std::string& dir = config->cvs.org_keys_dir;
      where = cvs::OrgKeySetPath(dir, org);
      r = create ? cvs::CreateOrgKeySet(dir, org, env.rng) : cvs::RotateOrgKeySet(dir, org, env.rng);
    } else {
      r = Error(Code::kInvalidArgument, "--config: cvs.org_keys_dir is not set (Tier 1 key sets per organization)");
    }
  }
  if (!r.ok()) return Fail(env, cmd, r.status());
  if (create) {
    env.err << "organization " << org << ": org key " << r->kid << " created in " << where
            << " (the private key stays there)\n";
  } else {
    env.err << "organization " << org << ": new active kid " << r->kid << "; previous " << r->previous_kid
            << " retired (" << r->retired_keys << " retired key(s) kept)\n";
  }
  env.out << DumpJson(r->public_jwk) << "\n";
  return kExitOk;
}

// PrintOrgKeys prints org key rows as `astis org key list` does: kid, state
// and suite, the active key first.
void PrintOrgKeys(const std::vector<admin::OrgKeyRow>& rows, CliEnv& env) {
  env.out << "KID                                          STATE    SUITE\n";
  for (const admin::OrgKeyRow& k : rows) {
    env.out << k.kid << "  " << k.state << std::string(k.state.size() < 9 ? 9 - k.state.size() : 1, ' ') << k.suite
            << (k.in_token ? " (pkcs11)" : "") << "\n";
  }
}

// OrgKeyList shows an organisation's Tier 1 org keys: kid, state and suite,
// the active key first. The active kid is the one to seal to, and the one
// GET /v1/keys/{kid} serves (docs/admin.md "Sealing"). Locally where the
// ASTIS CVS keeps them (--keys-dir, or --config with cvs.org_keys_dir;
// test CliTest.OrgKeyListShowsActiveAndRetiredKids), or through the edge:
// --server (the remote admin API, as an org-admin of that organisation or
// the operator) or --admin-socket, whose embedded CVS reads its key
// directory (test SealFetchE2eTest.OrgAdminListsSealsAndUnseals).
int OrgKeyList(const AdminCommands::Args& a, CliEnv& env) {
  constexpr std::string_view kCmd = "org key list";
  const std::string org = OrgOption(a);
  const bool local = !a.keys_dir.empty() || !a.config_path.empty();
  const bool through_edge = !a.server.empty() || !a.admin_socket.empty();
  // Test: SealFetchE2eUsageTest.ServerAndKeysDirTogetherIsAUsageError.
  if (local && through_edge) {
    return Fail(env, kCmd, Error(Code::kInvalidArgument, "give --server/--admin-socket or --keys-dir/--config, "
                                                         "not both"));
  }
  if (!local && (through_edge || !EnvOr("", "ASTIS_ADMIN_SERVER").empty() ||
                 !EnvOr("", "ASTIS_ADMIN_SOCKET").empty())) {
    if (!org.empty() && !IsDns1123Label(org)) {
      return Fail(env, kCmd, Error(Code::kInvalidArgument, "--org: not an organization name"));
    }
    auto backend = OpenBackend(a, org, StoreMode::kMustExist, env);
    if (!backend.ok()) return Fail(env, kCmd, backend.status());
    auto rows = backend->ops->OrgKeyList();
    if (!rows.ok()) return Fail(env, kCmd, rows.status());
    PrintOrgKeys(*rows, env);
    return kExitOk;
  }
  if (org.empty()) return Fail(env, kCmd, Error(Code::kInvalidArgument, "--org is required"));
  if (!IsDns1123Label(org)) return Fail(env, kCmd, Error(Code::kInvalidArgument, "--org: not an organization name"));
  std::string dir = a.keys_dir;
  if (dir.empty() && !a.config_path.empty()) {
    auto config = edge::LoadEdgeConfig(a.config_path);
    if (!config.ok()) return Fail(env, kCmd, config.status());
    // A remote ASTIS CVS holds the key sets on its own host.
    // Test: CliTest.OrgKeyListShowsActiveAndRetiredKids.
    if (config->cvs.mode == edge::CvsMode::kRemote || config->cvs.org_keys_dir.empty())
      return Fail(env, kCmd, Error(Code::kInvalidArgument, "--config: no cvs.org_keys_dir here; run on the ASTIS "
                                                           "CVS host with --keys-dir"));
    dir = config->cvs.org_keys_dir;
  }
  if (dir.empty()) return Fail(env, kCmd, Error(Code::kInvalidArgument, "give --keys-dir, --config or --server"));
  auto keys = capsule::SummarizeKeySetFile(cvs::OrgKeySetPath(dir, org));
  if (!keys.ok()) return Fail(env, kCmd, keys.status());
  std::vector<admin::OrgKeyRow> rows;
  for (const capsule::OrgKeySummary& k : *keys) {
    rows.push_back(admin::OrgKeyRow{k.kid, k.active ? "active" : "retired",
                                    std::string(capsule::OrgKeySuiteName(k.suite)), k.in_token});
  }
  PrintOrgKeys(rows, env);
  return kExitOk;
}

int KeyRotate(const std::string& keys_file, CliEnv& env) {
  auto r = cvs::RotateOrgKeys(keys_file, env.rng);
  if (!r.ok()) return Fail(env, "key rotate", r.status());
  env.out << "new active kid " << r->new_kid << "; previous " << r->previous_kid << " retired (" << r->retired_keys
          << " retired key(s) kept)\n";
  env.out << "public key to seal with:\n" << DumpJson(r->new_public_jwk) << "\n";
  return kExitOk;
}

int ResealCmd(const AdminCommands::Args& a, CliEnv& env) {
  constexpr std::string_view kCmd = "reseal";
  // Token-held keys open through the module (docs/hsm.md "Rotation").
  // Test: CliHsmTest.ResealToATokenKey.
  auto keys = LoadOrgKeySetForCli(a.keys_file, a.pkcs11_module, a.pin_file, "reseal");
  if (!keys.ok()) return Fail(env, kCmd, keys.status());
  auto text = ReadInput(a.input_file, env.in);
  if (!text.ok()) return Fail(env, kCmd, text.status());
  auto secret = ParseManifest(*text);
  if (!secret.ok()) return Fail(env, kCmd, secret.status());
  const Json* ann = nullptr;
  if (secret->contains("metadata") && (*secret)["metadata"].is_object() &&
      (*secret)["metadata"].contains("annotations")) {
    ann = &(*secret)["metadata"]["annotations"];
  }
  if (ann == nullptr || !ann->is_object() || !ann->contains(kAnnotationSealed) ||
      (*ann)[std::string(kAnnotationSealed)] != "v1") {
    return Fail(env, kCmd, Error(Code::kInvalidArgument, "not a sealed Secret (astis.io/sealed: v1 missing)"));
  }
  if (!secret->contains("data") || !(*secret)["data"].is_object() || (*secret)["data"].empty()) {
    return Fail(env, kCmd, Error(Code::kInvalidArgument, "data: no sealed values"));
  }
  Json& data = (*secret)["data"];
  std::vector<std::string> names, values;
  for (auto it = data.begin(); it != data.end(); ++it) {
    if (!it.value().is_string()) return Fail(env, kCmd, Error(Code::kInvalidArgument, "data." + it.key() + ": not a string"));
    auto raw = B64Decode(it.value().get<std::string>());
    if (!raw.ok()) return Fail(env, kCmd, Error(Code::kInvalidArgument, "data." + it.key() + ": invalid base64"));
    names.push_back(it.key());
    values.emplace_back(raw->begin(), raw->end());
  }
  // docs/protocol.md §3.1 v2: --add-cluster / --remove-cluster re-bind the
  // values. Tests: CliTest.ResealAddClusterOpensInBoth,
  // ResealRemoveLastClusterRefused.
  auto resealed = cvs::Reseal(values, *keys, env.rng, env.clock, cvs::ClusterChange{a.add_clusters, a.remove_clusters});
  if (!resealed.ok()) return Fail(env, kCmd, resealed.status());
  size_t changed = 0;
  std::set<std::string> cluster_lists;
  for (size_t i = 0; i < names.size(); ++i) {
    data[names[i]] = B64Encode((*resealed)[i].value);
    changed += (*resealed)[i].changed ? 1 : 0;
    auto parsed = capsule::SealedValue::Parse((*resealed)[i].value);
    if (parsed.ok()) cluster_lists.insert(parsed->capsule().binding().ClusterList());
  }
  // The astis.io/cluster annotation follows the values' clusters; values
  // that disagree (sealed separately) leave it out rather than misstate it.
  Json& annotations = (*secret)["metadata"]["annotations"];
  if (cluster_lists.size() == 1) {
    annotations[std::string(kAnnotationCluster)] = *cluster_lists.begin();
  } else {
    annotations.erase(std::string(kAnnotationCluster));
  }
  env.out << (a.output == "json" ? EmitJson(*secret) : EmitYaml(*secret));
  env.out.flush();
  if (!env.out) return Fail(env, kCmd, Error(Code::kIo, "cannot write output"));
  env.err << "resealed " << changed << " of " << names.size() << " value(s) to kid " << keys->active().kid() << "\n";
  return kExitOk;
}

void AddStoreOptions(CLI::App* cmd, AdminCommands::Args& a, bool with_org = true) {
  cmd->add_option("--store", a.store_path, "SQLite store file of the edge");
  cmd->add_option("--config", a.config_path, "Edge configuration file (its store.path is used)");
  cmd->add_option("--admin-socket", a.admin_socket,
                  "Run through the edge's admin socket instead of the store (default: $ASTIS_ADMIN_SOCKET)");
  cmd->add_option("--server", a.server,
                  "Run through the remote admin API at https://HOST:PORT (default: $ASTIS_ADMIN_SERVER)");
  cmd->add_option("--admin-cert", a.admin_cert, "--server: your admin client certificate (default: $ASTIS_ADMIN_CERT)");
  cmd->add_option("--admin-key", a.admin_key, "--server: its private key (default: $ASTIS_ADMIN_KEY)");
  cmd->add_option("--admin-ca", a.admin_ca, "--server: CA of the API's certificate (default: $ASTIS_ADMIN_CA)");
  if (with_org) {
    cmd->add_option("--org", a.org,
                    "Organization (default: $ASTIS_ORG; may be left out while only one exists)");
  }
}

}  // namespace

AdminCommands::AdminCommands(CLI::App& app) : a_(std::make_unique<Args>()) {
  Args& a = *a_;
  a.serve = app.add_subcommand("serve", "Run the edge and the embedded CVS in one process (cvs.mode embedded)");
  a.serve->add_option("--config", a.process_config, "Edge configuration file")->required();
  a.edge = app.add_subcommand("edge", "Run the edge alone against a remote CVS (cvs.mode remote)");
  a.edge->add_option("--config", a.process_config, "Edge configuration file")->required();
  a.cvs = app.add_subcommand("cvs", "Run the CVS alone over mutual TLS (the edge's remote CVS)");
  a.cvs->add_option("--config", a.process_config, "CVS configuration file (docs/admin.md)")->required();

  CLI::App* org = app.add_subcommand("org", "Add, list and remove organizations")->require_subcommand(1);
  a.org_add = org->add_subcommand("add", "Add an organization (or update a hyok organization's CVS pin)");
  AddStoreOptions(a.org_add, a, /*with_org=*/false);
  a.org_add->add_option("--name", a.name, "Organization name (a DNS label)")->required();
  a.org_add->add_option("--tier", a.tier, "standard (the ASTIS CVS holds its org key) or hyok (its own CVS)")
      ->required();
  a.org_add->add_option("--cvs-url", a.cvs_url, "hyok: the organization's CVS, https://host[:port]");
  a.org_add->add_option("--cvs-ca", a.cvs_ca, "hyok: CA bundle (PEM) the CVS certificate chains to");
  a.org_add->add_option("--cvs-identity", a.cvs_identity, "hyok: DNS name or IP the CVS certificate must carry");
  a.org_add->add_option("--cvs-spki-sha256", a.cvs_spki_sha256,
                        "hyok, optional: also pin the CVS key (hex SHA-256 of its SubjectPublicKeyInfo)");
  a.org_list = org->add_subcommand("list", "List organizations (name, tier, CVS URL)");
  AddStoreOptions(a.org_list, a, /*with_org=*/false);
  a.org_remove = org->add_subcommand("remove", "Remove an organization (refused while it has clusters or API keys)");
  AddStoreOptions(a.org_remove, a, /*with_org=*/false);
  a.org_remove->add_option("--name", a.name, "Organization name")->required();
  a.org_remove->add_flag("--force", a.force, "Also remove its clusters, workloads, API keys and sessions");
  CLI::App* org_key = org->add_subcommand("key", "Tier 1 org keys, on the ASTIS CVS host")->require_subcommand(1);
  for (bool create : {true, false}) {
    CLI::App* c = create
                      ? org_key->add_subcommand("create", "Generate the organization's org key; prints the public JWK")
                      : org_key->add_subcommand("rotate", "New active org key; the old ones stay as retired");
    c->add_option("--org", a.org, "Organization (default: $ASTIS_ORG)");
    c->add_option("--keys-dir", a.keys_dir, "The ASTIS CVS's key directory (cvs.org_keys_dir)");
    c->add_option("--config", a.config_path, "Edge configuration file (its cvs.org_keys_dir is used)");
    (create ? a.org_key_create : a.org_key_rotate) = c;
  }
  a.org_key_list = org_key->add_subcommand(
      "list", "Show the organization's org keys: kid, active or retired, suite (seal to the active kid)");
  a.org_key_list->add_option("--org", a.org, "Organization (default: $ASTIS_ORG)");
  a.org_key_list->add_option("--keys-dir", a.keys_dir, "The ASTIS CVS's key directory (cvs.org_keys_dir)");
  a.org_key_list->add_option("--config", a.config_path, "Edge configuration file (its cvs.org_keys_dir is used)");
  a.org_key_list->add_option("--server", a.server,
                             "List through the remote admin API at https://HOST:PORT (default: $ASTIS_ADMIN_SERVER)");
  a.org_key_list->add_option("--admin-cert", a.admin_cert,
                             "--server: your admin client certificate (default: $ASTIS_ADMIN_CERT)");
  a.org_key_list->add_option("--admin-key", a.admin_key, "--server: its private key (default: $ASTIS_ADMIN_KEY)");
  a.org_key_list->add_option("--admin-ca", a.admin_ca,
                             "--server: CA of the API's certificate (default: $ASTIS_ADMIN_CA)");
  a.org_key_list->add_option("--admin-socket", a.admin_socket,
                             "List through the edge's admin socket (default: $ASTIS_ADMIN_SOCKET)");

  a.apply = app.add_subcommand("apply", "Make an organization's clusters and workloads what YAML files declare");
  a.diff = app.add_subcommand("diff", "Show what `astis apply` would change, changing nothing");
  for (CLI::App* c : {a.apply, a.diff}) {
    AddStoreOptions(c, a);
    c->add_option("-f,--filename", a.files, "YAML file or directory of them (repeatable)")->required();
    c->add_flag("--prune", a.prune, "Also delete the organization's clusters and workloads the files do not declare");
  }

  CLI::App* cluster = app.add_subcommand("cluster", "Register, list and remove clusters")->require_subcommand(1);
  a.cluster_add = cluster->add_subcommand(
      "add", "Register a cluster (an existing one is refused unless --replace: it would swap its token and CA)");
  AddStoreOptions(a.cluster_add, a);
  a.cluster_add->add_option("--name", a.name, "Cluster name")->required();
  a.cluster_add->add_option("--issuer", a.issuer, "ServiceAccount token issuer (iss)")->required();
  a.cluster_add->add_option("--audience", a.audience, "Token audience (default astis)");
  a.cluster_add->add_option("--jwks-file", a.jwks_file, "The cluster's pinned JWKS (JSON)")->required();
  a.cluster_add->add_option("--api-url", a.api_url, "Kubernetes API server https URL")->required();
  a.cluster_add->add_option("--ca-file", a.ca_file, "API server CA bundle")->required();
  a.cluster_add->add_option("--token-file", a.token_file, "Read-only API token file")->required();
  a.cluster_add->add_option("--mode", a.mode, "strict or audit")->check(CLI::IsMember({"strict", "audit"}))->required();
  a.cluster_add->add_flag("--replace", a.cluster_replace,
                          "Replace the cluster if it is already registered (issuer, JWKS, API URL, CA, token, mode)");
  a.cluster_list = cluster->add_subcommand("list", "List registered clusters");
  AddStoreOptions(a.cluster_list, a);
  a.cluster_remove = cluster->add_subcommand("remove", "Remove a cluster and its workloads");
  AddStoreOptions(a.cluster_remove, a);
  a.cluster_remove->add_option("--name", a.name, "Cluster name")->required();
  CLI::App* jwks = cluster->add_subcommand("jwks", "A cluster's signing keys (JWKS)")->require_subcommand(1);
  a.cluster_jwks_fetch = jwks->add_subcommand("fetch", "Show how the cluster's JWKS differs from the pinned one");
  a.cluster_jwks_fetch->add_option("--store", a.store_path, "SQLite store file of the edge");
  a.cluster_jwks_fetch->add_option("--config", a.config_path, "Edge configuration file (its store is used)");
  a.cluster_jwks_fetch->add_option("--org", a.org, "Organization (default: $ASTIS_ORG)");
  a.cluster_jwks_fetch->add_option("--name", a.name, "Cluster name")->required();
  a.cluster_jwks_fetch->add_flag("--apply", a.jwks_apply, "Pin the served keys (keeps the pinned ones unless --prune)");
  a.cluster_jwks_fetch->add_flag("--prune", a.prune, "With --apply: drop pinned keys the cluster no longer serves");
  a.cluster_jwks_fetch->add_flag("--yes", a.yes, "With --apply: confirm without typing the cluster name");

  CLI::App* workload = app.add_subcommand("workload", "Approve workloads and their image digests")->require_subcommand(1);
  a.workload_add = workload->add_subcommand("add", "Approve (or replace) a workload");
  a.workload_remove = workload->add_subcommand("remove", "Remove a workload");
  for (CLI::App* c : {a.workload_add, a.workload_remove}) {
    AddStoreOptions(c, a);
    c->add_option("--cluster", a.cluster, "Cluster name")->required();
    c->add_option("--namespace", a.namespace_, "Namespace")->required();
    c->add_option("--service-account", a.service_account, "ServiceAccount")->required();
  }
  a.workload_add->add_option("--image", a.images, "Allowed image digest sha256:<64 hex> (repeatable)")->required();
  CLI::App* images = workload->add_subcommand("images", "Add or remove image digests of a workload's allowlist")
                         ->require_subcommand(1);
  a.images_add = images->add_subcommand("add", "Allow more image digests (the others stay)");
  a.images_remove = images->add_subcommand("remove", "Stop allowing image digests (the others stay)");
  for (CLI::App* c : {a.images_add, a.images_remove}) {
    AddStoreOptions(c, a);
    c->add_option("--cluster", a.cluster, "Cluster name")->required();
    c->add_option("--namespace", a.namespace_, "Namespace")->required();
    c->add_option("--service-account", a.service_account, "ServiceAccount")->required();
    c->add_option("--image", a.images, "Image digest sha256:<64 hex> (repeatable)")->required();
  }
  a.workload_list = workload->add_subcommand("list", "List approved workloads");
  AddStoreOptions(a.workload_list, a);
  a.workload_list->add_option("--cluster", a.cluster, "Only this cluster");

  CLI::App* apikey = app.add_subcommand("apikey", "Create, list and revoke bound API keys")->require_subcommand(1);
  a.apikey_create = apikey->add_subcommand("create", "Create an API key (printed once on stdout)");
  AddStoreOptions(a.apikey_create, a);
  a.apikey_create->add_option("--cluster", a.cluster, "Cluster name")->required();
  a.apikey_create->add_option("--namespace", a.namespace_, "Namespace")->required();
  a.apikey_create->add_option("--service-account", a.service_account, "ServiceAccount")->required();
  a.apikey_create->add_option("--expires-in", a.expires_in, "Lifetime, e.g. 30d, 12h (default: never)");
  a.apikey_list = apikey->add_subcommand("list", "List API keys (ids, scope, expiry, revocation; never hashes)");
  AddStoreOptions(a.apikey_list, a);
  a.apikey_revoke = apikey->add_subcommand("revoke", "Revoke an API key");
  AddStoreOptions(a.apikey_revoke, a);
  a.apikey_revoke->add_option("--id", a.id, "API key id")->required();

  CLI::App* session = app.add_subcommand("session", "List and revoke release sessions")->require_subcommand(1);
  a.session_list = session->add_subcommand("list", "List sessions");
  AddStoreOptions(a.session_list, a);
  a.session_list->add_option("--cluster", a.cluster, "Only this cluster");
  a.session_list->add_option("--namespace", a.namespace_, "Only this namespace");
  a.session_revoke = session->add_subcommand("revoke", "Revoke one session (--id) or every session of a pod (--pod-uid)");
  AddStoreOptions(a.session_revoke, a);
  CLI::Option* id = a.session_revoke->add_option("--id", a.id, "Session id");
  CLI::Option* uid = a.session_revoke->add_option("--pod-uid", a.pod_uid, "Pod UID");
  id->excludes(uid);
  a.session_revoke->add_option("--cluster", a.cluster, "With --pod-uid: only this cluster");

  CLI::App* audit = app.add_subcommand("audit", "Audit log tools")->require_subcommand(1);
  a.audit_verify = audit->add_subcommand("verify", "Verify an audit log's hash chain (with its rotated files)");
  a.audit_verify->add_option("file", a.audit_file, "Audit log file (JSON lines); FILE.1..N are read first")->required();
  a.audit_verify->add_option("--org", a.audit_org,
                             "Verify this organization's own trail beside the log (FILE.orgs/ORG.jsonl)");

  CLI::App* key = app.add_subcommand("key", "Org key set management")->require_subcommand(1);
  a.key_rotate = key->add_subcommand("rotate", "Generate a new active org key; the old ones stay as retired");
  a.key_rotate->add_option("--keys", a.keys_file, "Org key set file (mode 0600)")->required();

  a.reseal = app.add_subcommand(
      "reseal", "Re-seal a sealed Secret (stdin or -f) to the active org key, optionally for other clusters");
  a.reseal->add_option("--keys", a.keys_file, "Org key set file (mode 0600)")->required();
  a.reseal->add_option("--pkcs11-module", a.pkcs11_module, "PKCS#11 module for key set members held in a token");
  a.reseal->add_option("--pin-file", a.pin_file, "Token user PIN file, mode 0600 (with --pkcs11-module)");
  a.reseal->add_option("--add-cluster", a.add_clusters, "Also bind the values to this cluster (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  a.reseal->add_option("--remove-cluster", a.remove_clusters, "Stop binding the values to this cluster (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  a.reseal->add_option("-f,--filename", a.input_file, "Read the sealed Secret from FILE instead of stdin");
  a.reseal->add_option("-o,--output", a.output, "Output format")->check(CLI::IsMember({"yaml", "json"}));
}

AdminCommands::~AdminCommands() = default;

std::optional<int> AdminCommands::Run(CliEnv& env) {
  Args& a = *a_;
  if (a.serve->parsed()) return RunEdgeLike("serve", a.process_config, edge::CvsMode::kEmbedded, env);
  if (a.edge->parsed()) return RunEdgeLike("edge", a.process_config, edge::CvsMode::kRemote, env);
  if (a.cvs->parsed()) return RunCvs(a.process_config, env);
  if (a.audit_verify->parsed()) return AuditVerify(a.audit_file, a.audit_org, env);
  if (a.org_key_create->parsed()) return OrgKey(a, /*create=*/true, env);
  if (a.org_key_rotate->parsed()) return OrgKey(a, /*create=*/false, env);
  if (a.org_key_list->parsed()) return OrgKeyList(a, env);
  if (a.key_rotate->parsed()) return KeyRotate(a.keys_file, env);
  if (a.reseal->parsed()) return ResealCmd(a, env);
  if (a.cluster_jwks_fetch->parsed()) return ClusterJwksFetch(a, env);

  struct StoreCommand {
    CLI::App* app;
    const char* name;
    StoreMode mode = StoreMode::kMustExist;
  };
  constexpr StoreMode kCreate = StoreMode::kMayCreate;
  const StoreCommand store_commands[] = {
      {a.org_add, "org add", kCreate},
      {a.org_list, "org list"},
      {a.org_remove, "org remove"},
      {a.apply, "apply", kCreate},
      {a.diff, "diff"},
      {a.images_add, "workload images add", kCreate},
      {a.images_remove, "workload images remove"},
      {a.cluster_add, "cluster add", kCreate},
      {a.cluster_list, "cluster list"},
      {a.cluster_remove, "cluster remove"},
      {a.workload_add, "workload add", kCreate},
      {a.workload_list, "workload list"},
      {a.workload_remove, "workload remove"},
      {a.apikey_create, "apikey create", kCreate},
      {a.apikey_list, "apikey list"},
      {a.apikey_revoke, "apikey revoke"},
      {a.session_list, "session list"},
      {a.session_revoke, "session revoke"},
  };
  for (const auto& c : store_commands) {
    if (!c.app->parsed()) continue;
    if (c.app == a.session_revoke && a.id.empty() == a.pod_uid.empty()) {
      env.err << "astis session revoke: give exactly one of --id or --pod-uid\n";
      return kExitUsage;
    }
    std::string org = OrgOption(a);
    admin::ApplyDocuments docs;
    if (c.app == a.apply || c.app == a.diff) {
      // Every document is read and checked before the store is opened.
      auto read = ReadApplyDocuments(a.files);
      if (!read.ok()) return Fail(env, c.name, read.status());
      docs = std::move(*read);
      if (!docs.org.empty() && !org.empty() && docs.org != org) {
        return Fail(env, c.name, Error(Code::kInvalidArgument, "--org: the documents' metadata.org is another "
                                                               "organization"));
      }
      if (org.empty()) org = docs.org;
    }
    auto backend = OpenBackend(a, org, c.mode, env);
    if (!backend.ok()) return Fail(env, c.name, backend.status());
    admin::Operations& ops = *backend->ops;
    if (c.app == a.org_add) return OrgAdd(a, ops, env);
    if (c.app == a.org_list) return OrgList(ops, env);
    if (c.app == a.org_remove) return OrgRemove(a, ops, env);
    if (c.app == a.apply || c.app == a.diff) return ApplyOrDiff(a, c.app == a.diff, ops, docs, env);
    if (c.app == a.images_add || c.app == a.images_remove) return WorkloadImages(a, c.app == a.images_add, ops, env);
    if (c.app == a.cluster_add) return ClusterAdd(a, ops, env);
    if (c.app == a.cluster_list) return ClusterList(ops, env);
    if (c.app == a.cluster_remove) return ClusterRemove(a, ops, env);
    if (c.app == a.workload_add) return WorkloadAdd(a, ops, env);
    if (c.app == a.workload_list) return WorkloadList(a, ops, env);
    if (c.app == a.workload_remove) return WorkloadRemove(a, ops, env);
    if (c.app == a.apikey_create) return ApiKeyCreate(a, ops, env);
    if (c.app == a.apikey_list) return ApiKeyList(ops, env);
    if (c.app == a.apikey_revoke) return ApiKeyRevoke(a, ops, env);
    if (c.app == a.session_list) return SessionList(a, ops, env);
    return SessionRevoke(a, ops, env);
  }
  return std::nullopt;
}

}  // namespace astis::cli
