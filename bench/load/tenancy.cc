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

// Sample is this process's memory, threads and open descriptors now.
MemSample Sample() {
  MemSample m;
  if (auto s = ReadProcStats(0); s.ok()) {
    m.rss_kb = s->rss_kb;
    m.hwm_kb = s->hwm_kb;
    m.threads = s->threads;
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++m.fds;
  }
  return m;
}

std::string Describe(const MemSample& m) {
  return Fmt(1, static_cast<double>(m.rss_kb) / 1024) + " MB (" + std::to_string(m.threads) + " threads, " +
         std::to_string(m.fds) + " fds)";
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

void RunPhases(LoadGenerator& gen, const TenancyOptions& o, int round, const std::string& arm, int orgs,
               int pod_orgs, TenancyReport& r) {
  for (Phase p : o.phases) {
    std::cerr << "astis-bench: tenancy: round " << round << ": " << arm << ": " << PhaseName(p) << "\n";
    TenancyRow row{round, arm, orgs, pod_orgs, gen.Run(p)};
    r.errors += row.report.errors;
    r.rows.push_back(std::move(row));
  }
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

Result<TenancyReport> RunTenancy(const WorldOptions& wo, const LoadOptions& lo, const TenancyOptions& o) {
  if (o.orgs < 2 || o.clusters_per_org < 1 || o.rounds < 1) {
    return Error(Code::kInvalidArgument, "--orgs must be >= 2, --clusters-per-org and --tenancy-rounds >= 1");
  }
  TenancyReport r;
  r.orgs = o.orgs;
  r.clusters_per_org = o.clusters_per_org;
  r.rounds = o.rounds;

  // Two edges in this process, identical but for what is registered: `one`
  // keeps its single organisation, `many` gets N - 1 more. Their phases
  // alternate, so a change of the machine's load during the run falls on
  // both alike; the idle edge costs nothing (no pod watch).
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<InProcessWorld> one, InProcessWorld::Start(wo));
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<InProcessWorld> many, InProcessWorld::Start(wo));
  LoadOptions base = lo;
  base.server_pid = 0;
  base.rate = 0;
  base.exclude_threads = one->standin_threads();
  base.exclude_threads.insert(base.exclude_threads.end(), many->standin_threads().begin(),
                              many->standin_threads().end());
  LoadOptions one_lo = base, many_lo = base, spread_lo = base;
  one_lo.pod_prefix = "bench-one";
  many_lo.pod_prefix = "bench-many";
  spread_lo.pod_prefix = "bench-spread";
  SetupReport setup;
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<LoadGenerator> gen_one, LoadGenerator::Setup(one->target(), one_lo, &setup));
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<LoadGenerator> gen_many,
                         LoadGenerator::Setup(many->target(), many_lo, &setup));
  r.before = Sample();

  // N - 1 more organisations x M clusters in `many`, directly in its store.
  std::cerr << "astis-bench: tenancy: registering " << (o.orgs - 1) << " organisations x " << o.clusters_per_org
            << " clusters\n";
  ASTIS_ASSIGN_OR_RETURN(OrgsAdded added, many->AddOrganizations(o.orgs - 1, o.clusters_per_org));
  r.clusters = added.clusters + 1;
  r.register_seconds = added.seconds;
  r.registered = Sample();

  // One round trip in every added organisation.
  const auto t0 = std::chrono::steady_clock::now();
  ASTIS_ASSIGN_OR_RETURN(r.touch_errors, Touch(added.targets));
  r.touch_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.touched = static_cast<int>(added.targets.size());
  r.errors += r.touch_errors;
  r.touched_mem = Sample();

  // The same number of pods spread over K of the added organisations (pod
  // i in organisation i mod K): per-organisation API keys, clusters, JWKS,
  // Kubernetes clients and CVS key sets on every request.
  const int k = std::min(lo.pods, o.orgs - 1);
  std::vector<const Target*> spread;
  for (int i = 0; i < k; ++i) spread.push_back(&added.targets[static_cast<size_t>(i)]);
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<LoadGenerator> gen_spread, LoadGenerator::Setup(spread, spread_lo, &setup));

  const std::string n = std::to_string(o.orgs) + " orgs";
  for (int round = 1; round <= o.rounds; ++round) {
    RunPhases(*gen_one, o, round, "1 org", 1, 1, r);
    RunPhases(*gen_many, o, round, n + ", pods in 1", o.orgs, 1, r);
    RunPhases(*gen_spread, o, round, n + ", pods over " + std::to_string(k), o.orgs, k, r);
  }
  r.end = Sample();
  return r;
}

std::string TenancyMarkdown(const TenancyReport& r, const LoadOptions& lo) {
  std::ostringstream o;
  // The baseline of a row: the 1-organisation row of the same round and phase.
  std::map<std::pair<int, Phase>, double> base;
  for (const TenancyRow& row : r.rows) {
    if (row.orgs == 1) base[{row.round, row.report.phase}] = CpuPerOp(row.report);
  }
  o << "| round | arm | organisations | pods' organisations | phase | requests/s | p50 ms | p99 ms "
       "| server CPU µs/op | CPU vs 1 org (same round) | errors |\n"
    << "| ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  // ratios[(arm, phase)]: the per-round ratios; ones[phase]: the baselines.
  std::map<std::pair<std::string, Phase>, std::vector<double>> ratios;
  std::map<Phase, std::vector<double>> ones;
  std::vector<std::pair<std::string, Phase>> order;
  for (const TenancyRow& row : r.rows) {
    const PhaseReport& p = row.report;
    const double rps = p.seconds > 0 ? static_cast<double>(p.requests) / p.seconds : 0;
    const double b = base[{row.round, p.phase}];
    const double cpu = CpuPerOp(p);
    o << "| " << row.round << " | " << row.arm << " | " << row.orgs << " | " << row.pod_orgs << " | "
      << PhaseName(p.phase) << " | " << Fmt(0, rps) << " | " << Fmt(2, p.p50_us / 1000) << " | "
      << Fmt(2, p.p99_us / 1000) << " | " << Fmt(0, cpu) << " | " << (b > 0 ? Fmt(3, cpu / b) : std::string("-"))
      << " | " << p.errors << " |\n";
    if (row.orgs == 1) {
      ones[p.phase].push_back(cpu);
    } else if (b > 0) {
      const auto key = std::make_pair(row.arm, p.phase);
      if (ratios.find(key) == ratios.end()) order.push_back(key);
      ratios[key].push_back(cpu / b);
    }
  }
  o << "\n";
  for (const auto& [phase, v] : ones) {
    const auto [lo_it, hi_it] = std::minmax_element(v.begin(), v.end());
    o << "- 1 org, " << PhaseName(phase) << ": " << Fmt(0, *lo_it) << "–" << Fmt(0, *hi_it) << " µs/op over "
      << v.size() << " rounds (spread " << Fmt(1, 100 * (*hi_it - *lo_it) / Median(v))
      << " % of the median: this machine's round-to-round noise)\n";
  }
  for (const auto& key : order) {
    const std::vector<double>& v = ratios[key];
    const auto [lo_it, hi_it] = std::minmax_element(v.begin(), v.end());
    o << "- **" << key.first << ", " << PhaseName(key.second) << ": CPU per request / 1 org = median "
      << Fmt(3, Median(v)) << "** (rounds " << Fmt(3, *lo_it) << "–" << Fmt(3, *hi_it) << ")\n";
  }
  const auto mb = [](int64_t kb) { return Fmt(1, static_cast<double>(kb) / 1024); };
  o << "- registered " << (r.orgs - 1) << " organisations x " << r.clusters_per_org << " clusters (" << r.clusters
    << " clusters in all, each its own pinned JWKS; one workload, one API key and one org key per organisation) in "
    << Fmt(1, r.register_seconds) << " s\n"
    << "- one establish + unwrap round trip in each of the " << r.touched << " added organisations (each opened to "
    << "its plaintext): " << Fmt(1, r.touch_seconds) << " s, " << r.touch_errors << " errors\n"
    << "- this process (two edges, two stand-ins, " << 3 * lo.pods << " pods): " << Describe(r.before)
    << " before registering; " << Describe(r.registered) << " with the organisations registered (+"
    << mb(r.registered.rss_kb - r.before.rss_kb) << " MB); " << Describe(r.touched_mem)
    << " after a round trip in every organisation (+" << mb(r.touched_mem.rss_kb - r.before.rss_kb)
    << " MB); " << Describe(r.end) << " at the end, peak " << mb(r.end.hwm_kb) << " MB\n"
    << "\nEach round runs the arms back to back on two edges in this process (`1 org` on one, the others on one "
       "with "
    << r.orgs << " organisations); server CPU µs/op is this process's CPU minus the pods' and both Kubernetes API "
       "stand-ins' threads, per completed request, closed loop, "
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
