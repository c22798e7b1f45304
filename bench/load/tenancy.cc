// The tenancy scale arms of astis-bench (docs/performance.md "Organisations
// at scale").
#include "load/tenancy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <utility>

#include "admin/operations.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "crypto/ed25519.h"
#include "crypto/public_key.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "load/proc_stats.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "store/testing/pg_server.h"

namespace astis::bench {
namespace {

std::string Fmt(int decimals, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

int64_t RssKb(int64_t* hwm_kb = nullptr) {
  auto s = ReadProcStats(0);
  if (!s.ok()) return 0;
  if (hwm_kb != nullptr) *hwm_kb = s->hwm_kb;
  return s->rss_kb;
}

// CpuPerOp is the server CPU per request of a phase, µs (0 without requests).
double CpuPerOp(const PhaseReport& p) {
  return p.requests > 0 ? p.server_cpu_seconds * 1e6 / static_cast<double>(p.requests) : 0;
}

// Touch gives every target one pod round trip: establish a session in its
// organisation, unwrap one capsule sealed to that organisation's key, and
// open the answer to the expected plaintext. One pod of the stand-in serves
// every organisation (each organisation's bench-c1 trusts the stand-in), so
// this touches each organisation's API key, cluster, JWKS, Kubernetes
// client, session and CVS key set. Returns the errors.
Result<uint64_t> Touch(const std::vector<Target>& targets) {
  if (targets.empty()) return uint64_t{0};
  Random& rng = DefaultRandom();
  const Target& first = targets.front();
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> kube, KubeAdminClient(first));
  ASTIS_RETURN_IF_ERROR(EnsureServiceAccount(*kube, first));
  std::vector<uint8_t> id(3);
  ASTIS_RETURN_IF_ERROR(rng.Fill(id));
  ASTIS_ASSIGN_OR_RETURN(BoundPod pod, CreateBoundPod(*kube, first, "bench-touch-" + HexEncode(id)));
  const std::string ath = jose::DpopHash(pod.token);
  ASTIS_ASSIGN_OR_RETURN(Ed25519PrivateKey dpop, Ed25519PrivateKey::Generate(rng));
  ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey recipient, X25519PrivateKey::Generate(rng));
  net::TlsClientConfig tls;
  tls.ca_pem = first.edge_ca_pem;
  net::ClientOptions copts;
  copts.max_idle_connections = 1;
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> edge, net::HttpsClient::Create(first.edge_url, tls, copts));
  const std::string establish_body =
      DumpJson(Json{{"recipient", jose::Jwk::FromX25519Public(recipient.public_key()).ToJson()}});
  std::string nonce;
  uint64_t errors = 0;
  const std::string plaintext = "touch value";
  for (const Target& t : targets) {
    auto est = SendWithProof(*edge, t, pod.token, ath, dpop, nonce, "POST", "/v1/sessions", establish_body, nullptr);
    if (!est.ok() || est->status != 201) {
      ++errors;
      continue;
    }
    auto est_json = ParseJson(est->body);
    const std::string session = est_json.ok() ? est_json->value("session", "") : "";
    capsule::Binding b{t.cluster, t.ns, t.service_account, "bench-touch", "value"};
    ASTIS_ASSIGN_OR_RETURN(capsule::SealedValue sealed,
                           capsule::Seal(*t.org_public, b, AsBytes(plaintext), rng, DefaultClock()));
    const std::string body = DumpJson(Json{{"session", session},
                                           {"capsules", Json::array({B64uEncode(sealed.capsule().bytes())})}});
    auto un = SendWithProof(*edge, t, pod.token, ath, dpop, nonce, "POST", "/v1/unwrap", body, nullptr);
    if (!un.ok() || un->status != 200) {
      ++errors;
      continue;
    }
    auto j = ParseJson(un->body);
    if (!j.ok() || !j->contains("results") || (*j)["results"].size() != 1 || !(*j)["results"][0].contains("enc")) {
      ++errors;
      continue;
    }
    const Json& r = (*j)["results"][0];
    auto enc = B64uDecode(r["enc"].get<std::string>());
    auto ct = B64uDecode(r["ct"].get<std::string>());
    if (!enc.ok() || !ct.ok()) {
      ++errors;
      continue;
    }
    auto dek = capsule::OpenRewrapped(recipient, sealed.capsule().hash(), session, *enc, *ct);
    auto plain = dek.ok() ? capsule::DecryptValue(*dek, sealed) : Result<SecretBytes>(dek.status());
    if (!plain.ok() || !(*plain == SecretBytes::CopyFrom(plaintext))) ++errors;
  }
  return errors;
}

void RunPhases(LoadGenerator& gen, const TenancyOptions& o, const std::string& arm, int orgs, int pod_orgs,
               TenancyReport& r) {
  for (Phase p : o.phases) {
    std::cerr << "astis-bench: tenancy: " << arm << ": " << PhaseName(p) << "\n";
    TenancyRow row{arm, orgs, pod_orgs, gen.Run(p)};
    r.errors += row.report.errors;
    r.rows.push_back(std::move(row));
  }
}

}  // namespace

Result<TenancyReport> RunTenancy(InProcessWorld& world, const LoadOptions& lo, const TenancyOptions& o) {
  if (o.orgs < 2 || o.clusters_per_org < 1) {
    return Error(Code::kInvalidArgument, "--orgs must be >= 2 and --clusters-per-org >= 1");
  }
  TenancyReport r;
  r.orgs = o.orgs;
  r.clusters_per_org = o.clusters_per_org;

  // 1. One organisation (the world's own), measured twice: the second run
  // is the baseline's run-to-run spread on this machine.
  SetupReport setup;
  LoadOptions one = lo;
  one.pod_prefix = "bench-one";
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<LoadGenerator> gen, LoadGenerator::Setup(world.target(), one, &setup));
  RunPhases(*gen, o, "1 org", 1, 1, r);
  RunPhases(*gen, o, "1 org (again)", 1, 1, r);
  r.rss_one_org_kb = RssKb();

  // 2. N - 1 more organisations x M clusters, directly in the store.
  std::cerr << "astis-bench: tenancy: registering " << (o.orgs - 1) << " organisations x " << o.clusters_per_org
            << " clusters\n";
  ASTIS_ASSIGN_OR_RETURN(OrgsAdded added, world.AddOrganizations(o.orgs - 1, o.clusters_per_org));
  r.clusters = added.clusters + 1;
  r.register_seconds = added.seconds;
  r.rss_registered_kb = RssKb();

  // 3. One round trip in every added organisation.
  const auto t0 = std::chrono::steady_clock::now();
  ASTIS_ASSIGN_OR_RETURN(r.touch_errors, Touch(added.targets));
  r.touch_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.touched = static_cast<int>(added.targets.size());
  r.errors += r.touch_errors;
  r.rss_touched_kb = RssKb();

  // 4. The same pods as in 1, now among N organisations.
  const std::string n = std::to_string(o.orgs) + " orgs";
  RunPhases(*gen, o, n + ", pods in 1", o.orgs, 1, r);

  // 5. The same number of pods, spread over K of the added organisations
  // (pod i in organisation i mod K): per-organisation lookups, JWKS,
  // Kubernetes clients and CVS key sets on every request.
  const int k = std::min(lo.pods, o.orgs - 1);
  std::vector<const Target*> spread;
  for (int i = 0; i < k; ++i) spread.push_back(&added.targets[static_cast<size_t>(i)]);
  LoadOptions many = lo;
  many.pod_prefix = "bench-many";
  SetupReport setup2;
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<LoadGenerator> gen2, LoadGenerator::Setup(spread, many, &setup2));
  RunPhases(*gen2, o, n + ", pods over " + std::to_string(k), o.orgs, k, r);
  r.rss_end_kb = RssKb(&r.hwm_end_kb);
  return r;
}

std::string TenancyMarkdown(const TenancyReport& r, const LoadOptions& lo) {
  std::ostringstream o;
  // Baseline per phase: the mean of the two 1-organisation runs.
  std::map<Phase, std::vector<double>> base;
  for (const TenancyRow& row : r.rows) {
    if (row.orgs == 1) base[row.report.phase].push_back(CpuPerOp(row.report));
  }
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0 : s / static_cast<double>(v.size());
  };
  o << "| arm | organisations | pods' organisations | phase | requests/s | p50 ms | p99 ms | server CPU µs/op "
       "| CPU vs 1 org | errors |\n"
    << "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const TenancyRow& row : r.rows) {
    const PhaseReport& p = row.report;
    const double rps = p.seconds > 0 ? static_cast<double>(p.requests) / p.seconds : 0;
    const double b = mean(base[p.phase]);
    const double cpu = CpuPerOp(p);
    o << "| " << row.arm << " | " << row.orgs << " | " << row.pod_orgs << " | " << PhaseName(p.phase) << " | "
      << Fmt(0, rps) << " | " << Fmt(2, p.p50_us / 1000) << " | " << Fmt(2, p.p99_us / 1000) << " | " << Fmt(0, cpu)
      << " | " << (b > 0 ? Fmt(3, cpu / b) : std::string("-")) << " | " << p.errors << " |\n";
  }
  o << "\n";
  for (const auto& [phase, v] : base) {
    if (v.size() == 2 && mean(v) > 0) {
      o << "- " << PhaseName(phase) << ": the two 1-organisation runs differ by "
        << Fmt(1, 100 * std::fabs(v[0] - v[1]) / mean(v)) << " % of their mean (run-to-run noise of this machine)\n";
    }
  }
  o << "- registered " << (r.orgs - 1) << " organisations x " << r.clusters_per_org << " clusters (" << r.clusters
    << " clusters in all, each its own issuer and JWKS; one workload, one API key and one org key per "
       "organisation) in "
    << Fmt(1, r.register_seconds) << " s\n"
    << "- one establish + unwrap round trip in each of the " << r.touched << " added organisations (each opened to "
    << "its plaintext): " << Fmt(1, r.touch_seconds) << " s, " << r.touch_errors << " errors\n"
    << "- RSS of the process (edge, stand-in and " << lo.pods << " pods): 1 org " << Fmt(1, r.rss_one_org_kb / 1024.0)
    << " MB; " << r.orgs << " orgs registered " << Fmt(1, r.rss_registered_kb / 1024.0) << " MB; after a round trip "
    << "in every organisation " << Fmt(1, r.rss_touched_kb / 1024.0) << " MB; at the end "
    << Fmt(1, r.rss_end_kb / 1024.0) << " MB (peak " << Fmt(1, r.hwm_end_kb / 1024.0) << " MB)\n"
    << "\nServer CPU µs/op: this process's CPU minus the pods' threads and the Kubernetes API stand-in's threads, "
       "per completed request, closed loop, "
    << lo.pods << " pods, " << Fmt(0, lo.phase_seconds) << " s per phase; no pod watch (gate 4 reads the API).\n";
  return o.str();
}

namespace {

Result<std::vector<ApplyRow>> TimeApply(store::Store& store, const std::string& backend, int workloads,
                                        int clusters) {
  Clock& clock = DefaultClock();
  Random& rng = DefaultRandom();
  const std::string org = "apply-bench";
  store::Organization o;
  o.name = org;
  o.created_at = clock.NowUnix();
  ASTIS_RETURN_IF_ERROR(store.PutOrganization(o));
  admin::LocalOperations ops(
      store, clock, rng,
      [](Random&) -> Result<admin::NewApiKey> { return Error(Code::kInternal, "no API keys in this benchmark"); },
      "bench", org);
  admin::ApplyArgs args;
  for (int c = 0; c < clusters; ++c) {
    admin::ClusterAddArgs ca;
    ca.name = "prod-" + std::to_string(c);
    ca.issuer = "https://prod-" + std::to_string(c) + ".apply.invalid";
    ca.api_url = "https://prod-" + std::to_string(c) + ".apply.invalid:6443";
    ca.ca_file = "/etc/astis/prod-" + std::to_string(c) + "-ca.crt";
    ca.token_file = "/etc/astis/prod-" + std::to_string(c) + ".token";
    ASTIS_ASSIGN_OR_RETURN(SigningKey key, SigningKey::GenerateEc(PublicKeyKind::kEcP256));
    Json jwk = key.PublicJwkMembers();
    jwk["kid"] = "k" + std::to_string(c);
    jwk["alg"] = "ES256";
    jwk["use"] = "sig";
    ca.jwks_json = DumpJson(Json{{"keys", Json::array({jwk})}});
    args.clusters.push_back(std::move(ca));
  }
  auto digest = [](int i, int variant) {
    char buf[80];
    std::snprintf(buf, sizeof buf, "sha256:%016x%016x%016x%016x", i, variant, i * 7 + 1, 0xabcdef);
    return std::string(buf);
  };
  for (int i = 0; i < workloads; ++i) {
    store::Workload w;
    w.cluster = "prod-" + std::to_string(i % clusters);
    w.namespace_ = "team-" + std::to_string(i / 50);
    w.service_account = "svc-" + std::to_string(i);
    w.image_digests = {digest(i, 1), digest(i, 2)};
    args.workloads.push_back(std::move(w));
  }
  std::vector<ApplyRow> rows;
  auto timed = [&](const std::string& step) -> Status {
    const auto t0 = std::chrono::steady_clock::now();
    Result<std::vector<admin::ApplyChange>> changes = ops.Apply(args);
    ApplyRow row;
    row.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    row.backend = backend;
    row.step = step;
    // An apply whose store transaction committed but whose config-audit
    // entry was refused is reported with its error, not fatal: the later
    // applies measure the committed state.
    if (!changes.ok()) {
      if (changes.status().message().find("applied but not audited") == std::string::npos) return changes.status();
      row.error = changes.status().ToString();
      rows.push_back(row);
      return OkStatus();
    }
    for (const auto& c : *changes) {
      if (c.action == "created") ++row.created;
      else if (c.action == "updated") ++row.updated;
      else if (c.action == "unchanged") ++row.unchanged;
    }
    rows.push_back(row);
    return OkStatus();
  };
  ASTIS_RETURN_IF_ERROR(timed("first (all created)"));
  ASTIS_RETURN_IF_ERROR(timed("again (all unchanged)"));
  // A release: every tenth workload's allowlist gains a digest.
  for (size_t i = 0; i < args.workloads.size(); i += 10) args.workloads[i].image_digests.push_back(digest(int(i), 3));
  ASTIS_RETURN_IF_ERROR(timed("10% changed"));
  return rows;
}

}  // namespace

Result<std::vector<ApplyRow>> RunApplyBench(int workloads, int clusters, std::string* pg_note) {
  if (workloads < 1 || clusters < 1) return Error(Code::kInvalidArgument, "workloads and clusters must be >= 1");
  std::vector<ApplyRow> rows;
  {
    ASTIS_ASSIGN_OR_RETURN(std::string dir, net::testing::MakeTempDir());
    Result<std::vector<ApplyRow>> r = Error(Code::kInternal, "not run");
    {
      auto s = store::OpenSqliteStore(dir + "/apply.db");
      r = s.ok() ? TimeApply(**s, "sqlite (file)", workloads, clusters) : Result<std::vector<ApplyRow>>(s.status());
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (!r.ok()) return r.status();
    rows.insert(rows.end(), r->begin(), r->end());
  }
  if (!store::testing::PgServer::BinariesAvailable()) {
    if (pg_note != nullptr) *pg_note = "PostgreSQL server binaries not installed: not measured";
    return rows;
  }
  auto pg = store::testing::PgServer::Start();
  if (!pg.ok()) {
    if (pg_note != nullptr) *pg_note = "PostgreSQL did not start: " + pg.status().ToString();
    return rows;
  }
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> s,
                         store::OpenPostgresStore(SecretBytes::CopyFrom((*pg)->Dsn())));
  ASTIS_ASSIGN_OR_RETURN(std::vector<ApplyRow> r, TimeApply(*s, "postgres (local)", workloads, clusters));
  rows.insert(rows.end(), r.begin(), r.end());
  return rows;
}

std::string ApplyMarkdown(const std::vector<ApplyRow>& rows, int workloads, int clusters, const std::string& pg_note) {
  std::ostringstream o;
  o << "One organisation declaring " << clusters << " clusters and " << workloads
    << " workloads (two digests each), `admin::LocalOperations::Apply` (what `astis apply -f` runs after parsing "
       "the YAML: checks, one store transaction, one config-audit entry):\n\n"
    << "| store | apply | ms | created | updated | unchanged | error |\n"
    << "| --- | --- | ---: | ---: | ---: | ---: | --- |\n";
  for (const ApplyRow& r : rows) {
    o << "| " << r.backend << " | " << r.step << " | " << Fmt(1, r.ms) << " | " << r.created << " | " << r.updated
      << " | " << r.unchanged << " | " << (r.error.empty() ? "" : "`" + r.error + "`") << " |\n";
  }
  if (!pg_note.empty()) o << "\n" << pg_note << "\n";
  return o.str();
}

}  // namespace astis::bench
