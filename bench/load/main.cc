// astis-bench: a load generator acting as N pods against an edge + CVS, with
// the crypto floor measured in the same run (docs/performance.md).
//
//   astis-bench --in-process [--pods N] [--seconds S] [--batch B]
//   astis-bench --edge-url URL --edge-ca FILE --api-key-file FILE --kube-dir DIR
//               --org-public FILE --cluster C --namespace NS --service-account SA
//               --digest sha256:... --server-pid PID [...]
//   [--rate R]                     (open loop: R requests/s in total; default closed loop)
//   [--no-transport-floor] [--transport-threads T]  (skip / size the wire floor's empty-handler server)
//   astis-bench --transport-server [--transport-threads T] [--transport-response-bytes N]
//               (that server: prints its port and CA, serves until stdin's EOF or SIGTERM)
//   [--soak-sessions N [--soak-workers W] [--store-file PATH]]  (N pods, one session each)
//   astis-bench --in-process --idle-pods N [--session-ttl T] [--refresh-margin M] [--seconds S]
//               [--idle-baseline-seconds B]   (N leases renewed on the SDK's schedule vs none)
//   astis-bench --in-process --orgs N [--clusters-per-org M] [--pods P] [--seconds S]
//               (1 organisation vs N x M clusters: CPU per request, RSS)
//   astis-bench --apply-workloads W [--apply-clusters C]   (admin apply of W workloads)
//   astis-bench pki --out DIR      (TLS files for an edge on 127.0.0.1)
//   astis-bench [external options] pod --out DIR   (a pod token + sealed value)
//
// Prints a Markdown report; --expect-clean exits 1 unless every phase
// completed requests with zero unexpected errors (the bench_smoke test);
// with --idle-pods, unless every renewal kept its lease and one session row
// per pod (bench_smoke_idle_pods); with --orgs, unless every phase and the
// round trip in every organisation were clean (bench_smoke_tenancy).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "crypto/random.h"
#include "kube/pod.h"
#include "load/bench_world.h"
#include "load/crypto_floor.h"
#include "load/idle_pods.h"
#include "load/load_generator.h"
#include "load/proc_stats.h"
#include "load/soak.h"
#include "load/tenancy.h"
#include "load/transport_floor.h"
#include "net/testing/test_pki.h"

namespace astis::bench {
namespace {

// Fmt renders v with `decimals` digits after the point.
std::string Fmt(int decimals, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Pct renders a ratio as a whole percentage ("0%" when den is 0).
std::string Pct(double num, double den) { return den > 0 ? Fmt(0, 100 * num / den) + "%" : "-"; }

// PhaseGuarantee is the guarantee floor's parts for one phase (crypto_floor.h).
struct PhaseGuarantee {
  bool measured = false;
  double audit_bytes = 0;       // audit bytes the edge wrote per request in the phase
  bool audit_bytes_assumed = false;  // no audit log to read: kAssumedAuditBytes
  OpCost audit;                 // one write of audit_bytes + one fdatasync
  double request_bytes = 0, response_bytes = 0;  // per exchange
  OpCost tls;                   // record protection of one exchange
  OpCost store;                 // Store::AdmitRequest
  OpCost pod_read;              // gate 4: one GET of a pod + parse
  double reads_per_request = 0;  // min(1, pods / max_staleness / requests per second)
  // The transport floor (transport_floor.h): an empty-handler HttpServer's
  // CPU per request at the phase's concurrency, schedule and message sizes.
  bool transport_measured = false;
  double transport_us = 0;
  // ExtraUs is what one request adds to the crypto floor (CPU).
  double ExtraUs() const {
    return audit.cpu_us + tls.cpu_us + store.cpu_us + pod_read.cpu_us * reads_per_request;
  }
};

// kAssumedAuditBytes is the audit bytes per request when the audit log is
// not readable here (about one edge.unwrap line).
constexpr double kAssumedAuditBytes = 700;

// FloorUs is the crypto floor of one unit of phase p: a session, an unwrap
// or one secret of a batch.
double FloorUs(const CryptoFloor& f, bool es256, Phase p, int batch) {
  switch (p) {
    case Phase::kEstablish:
      return f.EstablishUs(es256);
    case Phase::kUnwrap:
      return f.UnwrapUs(es256);
    case Phase::kBatch:
      return f.PerSecretUs(es256, batch);
  }
  return 0;
}

// GuaranteeUs is the guarantee floor of one unit of phase p: the crypto
// floor plus the request's guarantees (per secret: / batch).
double GuaranteeUs(const CryptoFloor& f, bool es256, Phase p, int batch, const PhaseGuarantee& g) {
  const double extra = g.ExtraUs() / (p == Phase::kBatch ? std::max(1, batch) : 1);
  return FloorUs(f, es256, p, batch) + extra;
}

// WireUs is the wire floor of one unit of phase p: the guarantee floor plus
// the transport floor (per secret: / batch); 0 when it was not measured.
double WireUs(const CryptoFloor& f, bool es256, Phase p, int batch, const PhaseGuarantee& g) {
  if (!g.transport_measured) return 0;
  return GuaranteeUs(f, es256, p, batch, g) + g.transport_us / (p == Phase::kBatch ? std::max(1, batch) : 1);
}

// Report renders one run as Markdown.
std::string Report(const CryptoFloor& f, bool es256, unsigned cores, const LoadOptions& lo, const SetupReport& setup,
                   const std::vector<PhaseReport>& phases, const std::vector<PhaseGuarantee>& guarantees,
                   const std::string& guarantee_where, int64_t gate4_staleness_ms, const std::string& mode) {
  std::ostringstream o;
  o << "### Crypto floor (this machine, this run, one core)\n\n"
    << "| primitive | µs |\n| --- | ---: |\n"
    << "| RS256 verify (RSA-2048 token, gate 2) | " << Fmt(1, f.rs256_verify_us) << " |\n"
    << "| ES256 verify (P-256 token, gate 2) | " << Fmt(1, f.es256_verify_us) << " |\n"
    << "| Ed25519 verify (DPoP proof, gate 3) | " << Fmt(1, f.ed25519_verify_us) << " |\n"
    << "| X25519 keygen | " << Fmt(1, f.x25519_keygen_us) << " |\n"
    << "| X25519 agree | " << Fmt(1, f.x25519_agree_us) << " |\n"
    << "| HPKE open (CVS: capsule) | " << Fmt(1, f.hpke_open_us) << " |\n"
    << "| HPKE seal (CVS: rewrap to pod) | " << Fmt(1, f.hpke_seal_us) << " |\n"
    << "| **establishment floor** (" << (es256 ? "ES256" : "RS256") << " token + proof) | "
    << Fmt(1, f.EstablishUs(es256)) << " |\n"
    << "| **unwrap floor** (token + proof + open + seal) | " << Fmt(1, f.UnwrapUs(es256)) << " |\n"
    << "| **per-secret floor, batch of " << lo.batch << "** | " << Fmt(1, f.PerSecretUs(es256, lo.batch))
    << " |\n\n";
  o << "### Guarantee floor (this machine, this run: crypto floor + what every request's guarantees cost)\n\n"
    << guarantee_where << "\n\n"
    << "| phase | audit bytes/request | write + fdatasync CPU µs | its wall µs mean / p50 / p99 / max "
       "| TLS bytes in / out | TLS records µs | replay + rate write (AdmitRequest) CPU µs | its wall µs "
       "| gate 4: pod read CPU µs x reads per request | crypto floor µs/op "
       "| **guarantee floor µs/op** | transport (HTTP/1.1 + TLS, empty handler) CPU µs/request |\n"
    << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (size_t i = 0; i < phases.size() && i < guarantees.size(); ++i) {
    const PhaseReport& p = phases[i];
    const PhaseGuarantee& g = guarantees[i];
    if (!g.measured) continue;
    o << "| " << PhaseName(p.phase) << (p.phase == Phase::kBatch ? " x" + std::to_string(lo.batch) : "") << " | "
      << Fmt(0, g.audit_bytes) << (g.audit_bytes_assumed ? " (assumed)" : "") << " | " << Fmt(1, g.audit.cpu_us)
      << " | " << Fmt(0, g.audit.wall_us) << " / " << Fmt(0, g.audit.wall_p50_us) << " / "
      << Fmt(0, g.audit.wall_p99_us) << " / " << Fmt(0, g.audit.wall_max_us) << " (" << g.audit.samples
      << " syncs) | " << Fmt(0, g.request_bytes) << " / " << Fmt(0, g.response_bytes)
      << " | " << Fmt(1, g.tls.cpu_us) << " | " << Fmt(1, g.store.cpu_us) << " | " << Fmt(0, g.store.wall_us)
      << " | " << Fmt(1, g.pod_read.cpu_us) << " x " << Fmt(3, g.reads_per_request) << " = "
      << Fmt(1, g.pod_read.cpu_us * g.reads_per_request) << " | " << Fmt(1, FloorUs(f, es256, p.phase, lo.batch))
      << " | "
      << Fmt(1, GuaranteeUs(f, es256, p.phase, lo.batch, g)) << " | "
      << (g.transport_measured ? Fmt(1, g.transport_us) : std::string("-")) << " |\n";
  }
  o << "\nPer request: one write() of the request's audit bytes and one fdatasync (the line durable before the "
       "answer), AES-256-GCM record protection of the request and the response (TLS 1.3, 16 KiB records), one "
       "Store::AdmitRequest (two rate charges + the jti, one SQLite transaction), and gate 4's share of a pod read "
       "(GET + parse, on this side of the connection): one read serves a pod for gate4.max_staleness_ms = "
    << gate4_staleness_ms << " ms, so reads per request = min(1, pods x 1000 / max_staleness_ms / requests/s). "
       "batch: the request's part / " << lo.batch << " per secret. CPU is thread CPU (user + system); the wall "
       "time of the sync is what a request waits for it. Transport: the CPU per request of a separate process "
       "serving HTTP/1.1 over TLS (the edge's net::HttpServer, the same threads) with a handler that returns a "
       "fixed body, driven by as many keep-alive connections with the phase's schedule and request/response wire "
       "sizes (body padded) for min(phase, 3) s; not in the guarantee floor (the wire floor below adds it).\n\n";
  o << "### Load (" << mode << ", " << setup.pods << " pods, one keep-alive connection each, " << cores
    << " cores for the floor)\n\n"
    << "Setup: " << setup.pods << " pods created, " << setup.token_alg
    << " tokens requested, sessions established and "
    << setup.values_verified << " values unwrapped and decrypted end to end in " << Fmt(2, setup.seconds)
    << " s.\n\n"
    << "| phase | offered/s (open loop) | requests/s | secrets/s | p50 ms | p90 ms | p99 ms | max ms | floor/s on "
    << cores
    << " cores | achieved/floor | server CPU µs/op | floor µs/op | CPU efficiency | guarantee floor µs/op "
       "| efficiency vs guarantee floor | **CPU / guarantee floor** | server cores busy | RSS MB | errors "
       "| wire floor µs/op | **CPU / wire floor** |\n"
    << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
       "| ---: | ---: | ---: | ---: | ---: |\n";
  for (size_t i = 0; i < phases.size(); ++i) {
    const PhaseReport& p = phases[i];
    const double rps = p.seconds > 0 ? static_cast<double>(p.requests) / p.seconds : 0;
    const double sps = p.seconds > 0 ? static_cast<double>(p.secrets) / p.seconds : 0;
    // The unit the floor is counted in: a session, an unwrap, or a secret.
    double floor_us = 0, achieved = 0;
    uint64_t ops = p.requests;
    switch (p.phase) {
      case Phase::kEstablish:
        floor_us = f.EstablishUs(es256);
        achieved = rps;
        break;
      case Phase::kUnwrap:
        floor_us = f.UnwrapUs(es256);
        achieved = rps;
        break;
      case Phase::kBatch:
        floor_us = f.PerSecretUs(es256, lo.batch);
        achieved = sps;
        ops = p.secrets;
        break;
    }
    const double floor_rate = floor_us > 0 ? cores * 1e6 / floor_us : 0;
    const double cpu_us_per_op = ops > 0 ? p.server_cpu_seconds * 1e6 / static_cast<double>(ops) : 0;
    o << "| " << PhaseName(p.phase) << (p.phase == Phase::kBatch ? " x" + std::to_string(lo.batch) : "") << " | "
      << (p.offered_rate > 0 ? Fmt(0, p.offered_rate) : std::string("closed loop")) << " | " << Fmt(0, rps)
      << " | " << Fmt(0, sps) << " | " << Fmt(2, p.p50_us / 1000) << " | "
      << Fmt(2, p.p90_us / 1000) << " | " << Fmt(2, p.p99_us / 1000) << " | "
      << Fmt(2, p.max_us / 1000) << " | " << Fmt(0, floor_rate) << " | "
      << Pct(achieved, floor_rate) << " | " << Fmt(0, cpu_us_per_op)
      << " | " << Fmt(0, floor_us) << " | "
      << Pct(floor_us, cpu_us_per_op) << " | ";
    if (i < guarantees.size() && guarantees[i].measured) {
      const double g_us = GuaranteeUs(f, es256, p.phase, lo.batch, guarantees[i]);
      o << Fmt(0, g_us) << " | " << Pct(g_us, cpu_us_per_op) << " | "
        << (g_us > 0 ? Fmt(2, cpu_us_per_op / g_us) + "x" : std::string("-")) << " | ";
    } else {
      o << "- | - | - | ";
    }
    o << Fmt(2, p.seconds > 0 ? p.server_cpu_seconds / p.seconds : 0) << " | "
      << Fmt(1, static_cast<double>(p.server_rss_kb) / 1024) << " | " << p.errors << " | ";
    const double w_us = i < guarantees.size() ? WireUs(f, es256, p.phase, lo.batch, guarantees[i]) : 0;
    if (w_us > 0) {
      o << Fmt(0, w_us) << " | " << Fmt(2, cpu_us_per_op / w_us) << "x |\n";
    } else {
      o << "- | - |\n";
    }
  }
  o << "\noffered/s: an open-loop row (`--rate`) offers that many requests/s in total, each pod on a fixed "
       "schedule, and its latencies count from the scheduled send time (no coordinated omission); \"closed loop\": "
       "each pod sends again as soon as its answer arrives, so latency includes queueing behind the other pods.";
  o << "\nachieved/floor = measured rate / (cores x 1e6 / floor µs). CPU efficiency = floor µs / server CPU µs per "
       "op (independent of how busy the client kept the server), against the crypto floor; efficiency vs guarantee "
       "floor and CPU / guarantee floor = the same against the guarantee floor (target: CPU <= 1.25x). wire floor = "
       "guarantee floor + transport (per secret: / batch), CPU / wire floor against it: what is left is the edge's "
       "own work (JSON, store reads, gates, the CVS round trip) beyond serving HTTP over TLS.";
  if (mode == "in-process") {
    o << " In-process: server CPU is this process's CPU minus the pod threads' own CPU; RSS includes the pods.";
  }
  o << "\n";
  for (const PhaseReport& p : phases) {
    for (const auto& [kind, n] : p.error_kinds) {
      o << "\n- " << PhaseName(p.phase) << " error " << kind << ": " << n;
    }
    if (p.unsent > 0) {
      o << "\n- " << PhaseName(p.phase) << ": " << p.unsent
        << " scheduled requests not sent before the phase ended (pods behind: the offered rate exceeds capacity)";
    }
    if (p.nonce_retries > 0) o << "\n- " << PhaseName(p.phase) << ": " << p.nonce_retries << " nonce retries (RFC 9449 §8)";
  }
  o << "\n";
  return o.str();
}

int WritePki(const std::string& dir) {
  auto pki = net::testing::TestPki::Create();
  if (!pki.ok()) {
    std::cerr << "astis-bench: " << pki.status().ToString() << "\n";
    return 1;
  }
  auto files = pki->WriteFiles(dir);
  if (!files.ok()) {
    std::cerr << "astis-bench: " << files.status().ToString() << "\n";
    return 1;
  }
  std::cout << files->ca_cert << "\n" << files->server_cert << "\n" << files->server_key << "\n";
  return 0;
}

// WritePod creates a pod and its token through the stand-in and writes what
// an SDK process needs (the SDK cold-start measurement of scripts/bench.sh):
// DIR/token (0600) and DIR/secrets/bench-value, a value sealed to it.
int WritePod(const Target& t, const std::string& dir) {
  auto run = [&]() -> Status {
    ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> kube, KubeAdminClient(t));
    ASTIS_RETURN_IF_ERROR(EnsureServiceAccount(*kube, t));
    std::vector<uint8_t> id(4);
    ASTIS_RETURN_IF_ERROR(DefaultRandom().Fill(id));
    ASTIS_ASSIGN_OR_RETURN(BoundPod pod, CreateBoundPod(*kube, t, "bench-cold-" + HexEncode(id)));
    const std::string plaintext = "cold start value";
    ASTIS_ASSIGN_OR_RETURN(capsule::SealedValue v,
                           capsule::Seal(*t.org_public,
                                         capsule::Binding{t.cluster, t.ns, t.service_account, "bench", "bench-value"},
                                         AsBytes(plaintext), DefaultRandom(), DefaultClock()));
    std::filesystem::create_directories(dir + "/secrets");
    {
      std::ofstream tok(dir + "/token", std::ios::trunc);
      tok << pod.token;
      if (!tok) return Error(Code::kIo, "cannot write " + dir + "/token");
    }
    std::filesystem::permissions(dir + "/token",
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::ofstream val(dir + "/secrets/bench-value", std::ios::trunc);
    val << v.ToString();
    if (!val) return Error(Code::kIo, "cannot write the sealed value");
    return OkStatus();
  };
  if (Status s = run(); !s.ok()) {
    std::cerr << "astis-bench pod: " << s.ToString() << "\n";
    return 1;
  }
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"astis-bench: N pods against an edge, with the crypto floor measured in the same run"};
  std::string pki_out;
  auto* pki = app.add_subcommand("pki", "write ca.pem, server.pem, server-key.pem for an edge on 127.0.0.1");
  pki->add_option("--out", pki_out, "existing directory")->required();
  std::string pod_out;
  auto* pod_cmd = app.add_subcommand(
      "pod", "external: create one pod with a bound token and a sealed value in DIR (token, secrets/bench-value)");
  pod_cmd->add_option("--out", pod_out, "existing directory")->required();
  app.fallthrough();

  bool in_process = false, expect_clean = false, no_watch = false;
  LoadOptions lo;
  std::string phases_csv = "establish,unwrap,batch";
  int floor_ms = 300;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  unsigned server_threads = 2;
  std::string edge_url, edge_ca, api_key_file, kube_dir, org_public, cluster, ns, sa, digest, out_file;
  app.add_flag("--in-process", in_process, "start the edge and a Kubernetes API stand-in in this process");
  app.add_flag("--no-watch", no_watch, "in-process: gate 4 reads the API on every request (no pod watch)");
  app.add_option("--server-threads", server_threads, "in-process: the edge's HTTP threads");
  app.add_option("--pods", lo.pods, "concurrent pods")->check(CLI::Range(1, 4096));
  auto* seconds_opt =
      app.add_option("--seconds", lo.phase_seconds, "seconds per phase (--idle-pods: the renewal window)")
          ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--batch", lo.batch, "capsules per batched unwrap")->check(CLI::Range(1, 64));
  app.add_option("--phases", phases_csv, "comma-separated: establish,unwrap,batch (\"\" for none: soak only)");
  app.add_option("--rate", lo.rate, "open loop: requests/s offered in total across the pods (0: closed loop)")
      ->check(CLI::Range(0.0, 1e7));
  SoakOptions soak;
  app.add_option("--soak-sessions", soak.sessions,
                 "soak: create this many pods and establish one session each, after the phases")
      ->check(CLI::Range(int64_t{0}, int64_t{10000000}));
  app.add_option("--soak-workers", soak.workers, "soak: worker threads (one API and one edge connection each)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--soak-settle-seconds", soak.settle_seconds, "soak: wait before the final RSS sample")
      ->check(CLI::Range(0.0, 600.0));
  app.add_option("--store-file", soak.store_file,
                 "external: the edge's SQLite file (the guarantee floor's store write runs in its directory; soak: its "
                 "size and -wal's are reported)");
  std::string audit_log;
  int64_t gate4_staleness_ms = 1000;
  app.add_option("--gate4-max-staleness-ms", gate4_staleness_ms,
                 "the edge's gate4.max_staleness_ms, for gate 4's share of the guarantee floor (default 1000)")
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}));
  app.add_option("--audit-log", audit_log,
                 "external: the edge's audit log file (the guarantee floor's write + fdatasync runs in its directory "
                 "and takes the audit bytes per request from its growth)");
  IdleOptions idle;
  idle.pods = 0;
  app.add_option("--idle-pods", idle.pods,
                 "in-process: this many idle pods renewing their leases on the SDK's schedule, then none "
                 "(baseline); no phases")
      ->check(CLI::Range(1, 100000));
  app.add_option("--session-ttl", idle.session_ttl_seconds,
                 "--idle-pods: the edge's session TTL, s (time compressed by TTL / 900)")
      ->check(CLI::Range(int64_t{2}, int64_t{86400}));
  auto* margin_opt = app.add_option("--refresh-margin", idle.refresh_margin_seconds,
                                    "--idle-pods: the SDK's refresh margin, s (default 60 x TTL / 900, >= 1)")
                         ->check(CLI::Range(int64_t{1}, int64_t{86400}));
  app.add_option("--idle-baseline-seconds", idle.baseline_seconds, "--idle-pods: the baseline window, s")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--idle-workers", idle.workers, "--idle-pods: threads sending the renewals")
      ->check(CLI::Range(1, 256));
  bool idle_warm = false;
  app.add_flag("--idle-warm", idle_warm,
               "--idle-pods: keep the edge's nonce window and idle timeout at their defaults, so a renewal reuses "
               "its connection and nonce (the warm path, for comparison)");
  TenancyOptions tenancy;
  tenancy.orgs = 0;
  app.add_option("--orgs", tenancy.orgs,
                 "in-process: the same establish + unwrap load on an edge with 1 organisation and one with "
                 "this many (pods in one, then spread over many), in alternating rounds; no pod watch")
      ->check(CLI::Range(2, 100000));
  app.add_option("--clusters-per-org", tenancy.clusters_per_org, "--orgs: clusters of each added organisation")
      ->check(CLI::Range(1, 1000));
  app.add_option("--tenancy-rounds", tenancy.rounds, "--orgs: rounds of the arms, alternating")
      ->check(CLI::Range(1, 100));
  int apply_workloads = 0, apply_clusters = 10;
  app.add_option("--apply-workloads", apply_workloads,
                 "time an admin apply of one organisation with this many workloads (SQLite, and PostgreSQL "
                 "when installed): first, again, 10% changed")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--apply-clusters", apply_clusters, "--apply-workloads: clusters declared")
      ->check(CLI::Range(1, 10000));
  app.add_option("--floor-ms", floor_ms, "ms per primitive when measuring the crypto floor")->check(CLI::Range(10, 10000));
  app.add_option("--cores", cores, "cores the server may use (floor throughput = cores / floor cost)");
  app.add_option("--server-pid", lo.server_pid, "external: the edge's pid (CPU and RSS from /proc)");
  app.add_option("--edge-url", edge_url, "external: the edge's external_base_url");
  app.add_option("--edge-ca", edge_ca, "external: CA file of the edge's TLS certificate");
  app.add_option("--api-key-file", api_key_file, "external: file holding the API key");
  app.add_option("--kube-dir", kube_dir, "external: the --dir of astis-kube-standin");
  app.add_option("--org-public", org_public, "external: org-key.pub.jwk");
  app.add_option("--cluster", cluster, "external: registered cluster name");
  app.add_option("--namespace", ns, "external: workload namespace");
  app.add_option("--service-account", sa, "external: workload ServiceAccount");
  app.add_option("--digest", digest, "external: an allowlisted sha256:<hex> image digest");
  app.add_option("--out", out_file, "also write the report to this file");
  app.add_flag("--expect-clean", expect_clean, "exit 1 unless every phase completed requests without errors");
  bool transport_server = false, no_transport = false;
  unsigned transport_threads = 0;
  size_t transport_response_bytes = 0;
  app.add_flag("--no-transport-floor", no_transport, "skip the transport floor (and the wire floor columns)");
  app.add_option("--transport-threads", transport_threads,
                 "the transport floor's server threads (default: the edge's: --server-threads in process, else "
                 "one per core as astis serve's default)")
      ->check(CLI::Range(1u, 1024u));
  app.add_flag("--transport-server", transport_server,
               "internal (the transport floor's child): an empty-handler HTTPS server on 127.0.0.1; prints its port "
               "and CA certificate, serves until stdin's EOF or SIGTERM");
  app.add_option("--transport-response-bytes", transport_response_bytes,
                 "--transport-server: the fixed response body's size")
      ->check(CLI::Range(size_t{0}, size_t{16} * 1024 * 1024));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*pki) return WritePki(pki_out);
  if (transport_server) {
    const unsigned threads = transport_threads > 0 ? transport_threads : std::thread::hardware_concurrency();
    return RunTransportServer(std::max(1u, threads), transport_response_bytes);
  }

  std::vector<Phase> phases;
  std::stringstream ss(phases_csv);
  for (std::string name; std::getline(ss, name, ',');) {
    if (name == "establish") phases.push_back(Phase::kEstablish);
    else if (name == "unwrap") phases.push_back(Phase::kUnwrap);
    else if (name == "batch") phases.push_back(Phase::kBatch);
    else {
      std::cerr << "astis-bench: unknown phase " << name << "\n";
      return 2;
    }
  }

  if (idle.pods > 0) {
    if (!in_process) {
      std::cerr << "astis-bench: --idle-pods needs --in-process (the edge's TTL is set here)\n";
      return 2;
    }
    if (soak.sessions > 0) {
      std::cerr << "astis-bench: --idle-pods and --soak-sessions are separate runs\n";
      return 2;
    }
    if (margin_opt->count() == 0) idle.refresh_margin_seconds = DefaultMargin(idle.session_ttl_seconds);
    const int64_t period = idle.session_ttl_seconds - idle.refresh_margin_seconds;
    idle.renewal_seconds = seconds_opt->count() > 0 ? lo.phase_seconds : 3.0 * static_cast<double>(period);
  }

  if (tenancy.orgs > 0 || apply_workloads > 0) {
    if (tenancy.orgs > 0 && (!in_process || idle.pods > 0 || soak.sessions > 0)) {
      std::cerr << "astis-bench: --orgs needs --in-process and is a run of its own\n";
      return 2;
    }
    std::string text;
    bool clean = true;
    if (tenancy.orgs > 0) {
      tenancy.phases.clear();
      for (Phase p : phases) {
        if (p != Phase::kBatch) tenancy.phases.push_back(p);
      }
      if (tenancy.phases.empty()) tenancy.phases = {Phase::kEstablish, Phase::kUnwrap};
      WorldOptions two;
      two.server_threads = server_threads;
      two.watch = false;  // a watch per organisation's workload: see RunTenancy
      auto r = RunTenancy(two, lo, tenancy);
      if (!r.ok()) {
        std::cerr << "astis-bench: tenancy: " << r.status().ToString() << "\n";
        return 1;
      }
      text += TenancyMarkdown(*r, lo);
      std::cout << text << std::flush;
      for (const TenancyRow& row : r->rows) clean = clean && row.report.requests > 0;
      clean = clean && r->errors == 0;
      if (!clean) std::cerr << "astis-bench: tenancy: " << r->errors << " errors (or a phase without requests)\n";
    }
    if (apply_workloads > 0) {
      std::string pg_note;
      std::cerr << "astis-bench: apply of " << apply_workloads << " workloads\n";
      auto rows = RunApplyBench(apply_workloads, apply_clusters, &pg_note);
      if (!rows.ok()) {
        std::cerr << "astis-bench: apply: " << rows.status().ToString() << "\n";
        return 1;
      }
      const std::string applied = ApplyMarkdown(*rows, apply_workloads, apply_clusters, pg_note);
      std::cout << (text.empty() ? "" : "\n") << applied;
      text += (text.empty() ? "" : "\n") + applied;
      for (const ApplyRow& row : *rows) clean = clean && row.error.empty();
    }
    if (!out_file.empty()) {
      std::ofstream out(out_file, std::ios::trunc);
      out << text;
    }
    return expect_clean && !clean ? 1 : 0;
  }

  std::unique_ptr<InProcessWorld> world;
  Target external;
  const Target* target = nullptr;
  WorldOptions wo;
  if (in_process) {
    wo.server_threads = server_threads;
    wo.watch = !no_watch;
    if (idle.pods > 0) {
      if (idle_warm) {
        wo.session_ttl_seconds = idle.session_ttl_seconds;
      } else {
        wo = IdleWorldOptions(idle.session_ttl_seconds, wo);
      }
    }
    auto w = InProcessWorld::Start(wo);
    if (!w.ok()) {
      std::cerr << "astis-bench: in-process world: " << w.status().ToString() << "\n";
      return 1;
    }
    world = std::move(w).value();
    target = &world->target();
    lo.server_pid = 0;
  } else {
    if (edge_url.empty() || edge_ca.empty() || api_key_file.empty() || kube_dir.empty() || org_public.empty() ||
        cluster.empty() || ns.empty() || sa.empty() || digest.empty() || (!*pod_cmd && lo.server_pid <= 0)) {
      std::cerr << "astis-bench: give --in-process, or every external option (see --help)\n";
      return 2;
    }
    auto t = LoadTargetFiles(edge_url, edge_ca, api_key_file, kube_dir, org_public, cluster, ns, sa, digest);
    if (!t.ok()) {
      std::cerr << "astis-bench: " << t.status().ToString() << "\n";
      return 1;
    }
    external = std::move(t).value();
    target = &external;
  }
  if (*pod_cmd) return WritePod(*target, pod_out);

  if (idle.pods > 0) {
    std::cerr << "astis-bench: idle pods: " << idle.pods << ", TTL " << idle.session_ttl_seconds << " s, margin "
              << idle.refresh_margin_seconds << " s, renewals for " << idle.renewal_seconds << " s, baseline "
              << idle.baseline_seconds << " s\n";
    auto r = RunIdlePods(*world, wo, idle);
    if (!r.ok()) {
      std::cerr << "astis-bench: idle pods: " << r.status().ToString() << "\n";
      return 1;
    }
    const std::string text = IdleMarkdown(*r);
    std::cout << text;
    if (!out_file.empty()) {
      std::ofstream out(out_file, std::ios::trunc);
      out << text;
    }
    if (expect_clean && (r->renewals == 0 || r->errors != 0 || r->rows_after_renewal.total != idle.pods)) {
      std::cerr << "astis-bench: idle pods: " << r->renewals << " renewals, " << r->errors << " errors ("
                << r->lapsed << " lapsed leases), " << r->rows_after_renewal.total << " session rows for "
                << idle.pods << " pods\n";
      return 1;
    }
    return 0;
  }

  if (phases.empty() && soak.sessions == 0) {
    std::cerr << "astis-bench: nothing to do (no phases and no --soak-sessions)\n";
    return 2;
  }
  std::string text;
  std::vector<PhaseReport> reports;
  if (!phases.empty()) {
    // The floor first, on a quiet machine, then the load.
    auto floor = MeasureCryptoFloor(std::chrono::milliseconds(floor_ms));
    if (!floor.ok()) {
      std::cerr << "astis-bench: crypto floor: " << floor.status().ToString() << "\n";
      return 1;
    }
    // The guarantee floor's file systems: the edge's audit log's and store's.
    const std::string audit_file = in_process ? world->audit_path() : audit_log;
    const std::string store_file = in_process ? world->store_path() : soak.store_file;
    auto dir_of = [](const std::string& file) {
      const std::string d = std::filesystem::path(file).parent_path().string();
      return d.empty() ? std::string(".") : d;
    };
    const std::string audit_dir = audit_file.empty() ? "." : dir_of(audit_file);
    const std::string store_dir = store_file.empty() ? audit_dir : dir_of(store_file);
    const auto budget = std::chrono::milliseconds(std::max(floor_ms, 100));
    auto admit = MeasureStoreAdmit(store_dir, budget);
    if (!admit.ok()) {
      std::cerr << "astis-bench: guarantee floor: " << admit.status().ToString() << "\n";
      return 1;
    }
    const std::string where =
        std::string("Audit write + fdatasync in ") +
        (audit_file.empty() ? "the current directory (no --audit-log: the audit log's file system is not known here)"
                            : "the audit log's directory") +
        "; the store write on a fresh SQLite file in " +
        (store_file.empty() ? "the same directory (no --store-file)" : "the edge store's directory") + ".";
    auto file_size = [&]() -> double {
      std::error_code ec;
      const auto n = audit_file.empty() ? 0 : std::filesystem::file_size(audit_file, ec);
      return ec ? -1.0 : static_cast<double>(n);
    };
    SetupReport setup;
    auto gen = LoadGenerator::Setup(*target, lo, &setup);
    if (!gen.ok()) {
      std::cerr << "astis-bench: setup: " << gen.status().ToString() << "\n";
      return 1;
    }
    // Gate 4's read, as the edge makes it: GET the pod, parse it.
    auto kube = KubeAdminClient(*target);
    if (!kube.ok()) {
      std::cerr << "astis-bench: guarantee floor: " << kube.status().ToString() << "\n";
      return 1;
    }
    const std::string pod_path = "/api/v1/namespaces/" + target->ns + "/pods/" + (*gen)->FirstPodName();
    auto pod_read = MeasurePodRead(
        [&]() -> Status {
          net::HttpRequest req;
          req.target = pod_path;
          req.headers.emplace_back("Authorization", "Bearer " + std::string(target->kube_admin_token.RevealString()));
          ASTIS_ASSIGN_OR_RETURN(net::HttpResponse resp, (*kube)->Send(req));
          if (resp.status != 200) return Error(Code::kUnavailable, "pod read: HTTP " + std::to_string(resp.status));
          return kube::ParsePod(resp.body).status();
        },
        budget);
    if (!pod_read.ok()) {
      std::cerr << "astis-bench: guarantee floor: " << pod_read.status().ToString() << "\n";
      return 1;
    }
    std::vector<PhaseGuarantee> guarantees;
    for (Phase p : phases) {
      std::cerr << "astis-bench: " << PhaseName(p) << " for " << lo.phase_seconds << " s\n";
      const double audit0 = file_size();
      reports.push_back((*gen)->Run(p));
      const double audit1 = file_size();
      const PhaseReport& r = reports.back();
      PhaseGuarantee g;
      const double exchanges = static_cast<double>(std::max<uint64_t>(1, r.requests + r.errors + r.nonce_retries));
      const double audited = static_cast<double>(std::max<uint64_t>(1, r.requests + r.errors));
      g.audit_bytes = audit1 >= 0 && audit0 >= 0 && audit1 > audit0 ? (audit1 - audit0) / audited : 0;
      if (g.audit_bytes <= 0) {  // no file, or rotated during the phase
        g.audit_bytes = kAssumedAuditBytes;
        g.audit_bytes_assumed = true;
      }
      g.request_bytes = static_cast<double>(r.wire.request) / exchanges;
      g.response_bytes = static_cast<double>(r.wire.response) / exchanges;
      auto audit = MeasureAuditSync(audit_dir, static_cast<size_t>(g.audit_bytes), budget);
      auto tls = MeasureTlsRecords(static_cast<size_t>(g.request_bytes), static_cast<size_t>(g.response_bytes),
                                   std::chrono::milliseconds(floor_ms));
      if (!audit.ok() || !tls.ok()) {
        std::cerr << "astis-bench: guarantee floor: " << (audit.ok() ? tls.status() : audit.status()).ToString()
                  << "\n";
        return 1;
      }
      g.audit = *audit;
      g.tls = *tls;
      g.store = *admit;
      g.pod_read = *pod_read;
      const double rps = r.seconds > 0 ? static_cast<double>(r.requests) / r.seconds : 0;
      const double reads_per_s =
          gate4_staleness_ms > 0 ? lo.pods * 1000.0 / static_cast<double>(gate4_staleness_ms) : rps;
      g.reads_per_request = rps > 0 ? std::min(1.0, reads_per_s / rps) : 0;
      g.measured = true;
      if (!no_transport) {
        TransportLoad tl;
        tl.pods = lo.pods;
        tl.rate = lo.rate;
        tl.seconds = std::min(lo.phase_seconds, 3.0);
        tl.request_bytes = g.request_bytes;
        tl.response_bytes = g.response_bytes;
        tl.threads = transport_threads > 0 ? transport_threads
                     : in_process        ? server_threads
                                         : std::max(1u, std::thread::hardware_concurrency());
        std::cerr << "astis-bench: " << PhaseName(p) << ": transport floor for " << tl.seconds << " s\n";
        auto t = MeasureTransport(tl);
        if (!t.ok()) {
          std::cerr << "astis-bench: transport floor: " << t.status().ToString() << "\n";
          return 1;
        }
        if (t->errors > 0) std::cerr << "astis-bench: transport floor: " << t->errors << " errors\n";
        g.transport_measured = true;
        g.transport_us = t->cpu_us_per_request;
      }
      guarantees.push_back(g);
    }
    text = Report(*floor, /*es256=*/setup.token_alg == "ES256", cores, lo, setup, reports, guarantees, where,
                  gate4_staleness_ms, in_process ? "in-process" : "external edge");
  }
  std::optional<SoakReport> soaked;
  if (soak.sessions > 0) {
    soak.server_pid = lo.server_pid;
    std::cerr << "astis-bench: soak: " << soak.sessions << " pods and sessions, " << soak.workers << " workers\n";
    auto r = RunSoak(*target, soak);
    if (!r.ok()) {
      std::cerr << "astis-bench: soak: " << r.status().ToString() << "\n";
      return 1;
    }
    soaked = std::move(r).value();
    text += (text.empty() ? "" : "\n") + SoakMarkdown(*soaked);
  }
  std::cout << text;
  if (!out_file.empty()) {
    std::ofstream out(out_file, std::ios::trunc);
    out << text;
  }
  if (expect_clean) {
    for (const PhaseReport& p : reports) {
      if (p.requests == 0 || p.errors != 0) {
        std::cerr << "astis-bench: " << PhaseName(p.phase) << ": " << p.requests << " requests, " << p.errors
                  << " unexpected errors\n";
        return 1;
      }
    }
    if (soaked.has_value() &&
        (soaked->errors != 0 || soaked->established != static_cast<uint64_t>(soak.sessions))) {
      std::cerr << "astis-bench: soak: " << soaked->established << " sessions, " << soaked->errors << " errors\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace astis::bench

int main(int argc, char** argv) { return astis::bench::Main(argc, argv); }
