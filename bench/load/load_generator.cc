// LoadGenerator: N simulated pods speaking docs/protocol.md §4-5 to an edge.
#include "load/load_generator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include "capsule/capsule.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "crypto/ed25519.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "load/proc_stats.h"
#include "load/schedule.h"
#include "net/https_client.h"
#include "net/tls.h"

namespace astis::bench {

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kEstablish:
      return "establish";
    case Phase::kUnwrap:
      return "unwrap";
    case Phase::kBatch:
      return "batch";
  }
  return "?";
}

std::string EdgeErrorCode(const std::string& body) {
  auto j = ParseJson(body);
  if (!j.ok() || !j->is_object() || !j->contains("error") || !(*j)["error"].is_object()) return "";
  const Json& e = (*j)["error"];
  return e.contains("code") && e["code"].is_string() ? e["code"].get<std::string>() : "";
}

Result<net::HttpResponse> SendWithProof(net::HttpsClient& edge, const Target& t, const std::string& token,
                                        const std::string& ath, const Ed25519PrivateKey& dpop, std::string& nonce,
                                        const std::string& method, const std::string& path, const std::string& body,
                                        uint64_t* retries, WireBytes* wire) {
  for (int attempt = 0;; ++attempt) {
    net::HttpRequest req;
    req.method = method;
    req.target = path;
    req.body = body;
    ASTIS_ASSIGN_OR_RETURN(std::string jti, jose::NewDpopJti(DefaultRandom()));
    std::optional<std::string> bh;
    if (!body.empty()) bh = jose::DpopHash(body);
    req.headers.emplace_back("X-Astis-Api-Key", std::string(t.api_key.RevealString()));
    req.headers.emplace_back("Authorization", "DPoP " + token);
    req.headers.emplace_back(
        "DPoP", jose::MakeDpopProof(dpop, method, t.edge_url + path, DefaultClock().NowUnix(), jti, ath,
                                    nonce.empty() ? std::nullopt : std::optional<std::string_view>(nonce),
                                    bh ? std::optional<std::string_view>(*bh) : std::nullopt));
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    ASTIS_ASSIGN_OR_RETURN(net::HttpResponse resp, edge.Send(req));
    if (wire != nullptr) {
      // "POST /v1/unwrap HTTP/1.1\r\n", "Host: 127.0.0.1:PORT\r\n" and
      // "Content-Length: N\r\n" (the client adds them, ~23 and ~22), each
      // field "name: value\r\n", the blank line, the body.
      uint64_t n = method.size() + 1 + path.size() + 11 + 23 + 22 + 2 + body.size();
      for (const auto& [k, v] : req.headers) n += k.size() + v.size() + 4;
      wire->request += n;
      uint64_t m = 17 + 2 + resp.body.size();  // "HTTP/1.1 200 OK\r\n", fields, blank line, body
      for (const auto& [k, v] : resp.headers) m += k.size() + v.size() + 4;
      wire->response += m;
    }
    if (auto n = resp.Header("DPoP-Nonce"); n.has_value()) nonce = *n;
    const bool use_nonce =
        resp.status == 401 && resp.Header("WWW-Authenticate").value_or("") == "DPoP error=\"use_dpop_nonce\"";
    if (!use_nonce || attempt == 1) return resp;
    if (retries != nullptr) ++*retries;
  }
}

namespace {

net::TlsClientConfig TrustOnly(const std::string& ca_pem) {
  net::TlsClientConfig tls;
  tls.ca_pem = ca_pem;
  return tls;
}

// TokenAlg reads the "alg" of a compact JWS's protected header (the pod's
// own token, only to report which verify the edge does), or "?".
std::string TokenAlg(const std::string& jws) {
  const size_t dot = jws.find('.');
  if (dot == std::string::npos) return "?";
  auto header = B64uDecodeToString(std::string_view(jws).substr(0, dot));
  if (!header.ok()) return "?";
  auto j = ParseJson(*header);
  if (!j.ok() || !j->is_object() || !j->contains("alg") || !(*j)["alg"].is_string()) return "?";
  return (*j)["alg"].get<std::string>();
}

Status Unexpected(std::string_view step, const net::HttpResponse& r) {
  std::string code = EdgeErrorCode(r.body);
  return Error(Code::kUnavailable, std::string(step) + ": HTTP " + std::to_string(r.status) +
                                       (code.empty() ? "" : " " + code));
}

}  // namespace

struct LoadGenerator::Pod {
  const Target* target = nullptr;  // the workload (and organisation) this pod belongs to
  std::string name;
  std::string uid;
  std::string token;
  std::string ath;  // b64u(SHA256(token))
  std::unique_ptr<Ed25519PrivateKey> dpop;
  std::unique_ptr<X25519PrivateKey> recipient;
  std::unique_ptr<net::HttpsClient> http;
  std::string nonce;  // the last DPoP-Nonce the edge sent
  std::string session;
  std::vector<capsule::SealedValue> values;
  std::vector<std::string> plaintexts;
  std::vector<std::string> capsules_b64u;
  std::string establish_body;

  // Send sends one request with the pod's credentials (SendWithProof).
  Result<net::HttpResponse> Send(const Target& t, const std::string& method, const std::string& path,
                                 const std::string& body, uint64_t* retries, WireBytes* wire = nullptr) {
    return SendWithProof(*http, t, token, ath, *dpop, nonce, method, path, body, retries, wire);
  }

  std::string UnwrapBody(size_t first, size_t count) const {
    Json caps = Json::array();
    for (size_t i = 0; i < count; ++i) caps.push_back(capsules_b64u[(first + i) % capsules_b64u.size()]);
    return DumpJson(Json{{"session", session}, {"capsules", caps}});
  }
};

LoadGenerator::LoadGenerator(const LoadOptions& options) : options_(options) {}
LoadGenerator::~LoadGenerator() = default;

namespace {

// KubePost sends an admin-token POST to the Kubernetes API.
Result<net::HttpResponse> KubePost(net::HttpsClient& kube, const Target& t, const std::string& path,
                                   const Json& body) {
  net::HttpRequest req;
  req.method = "POST";
  req.target = path;
  req.body = DumpJson(body);
  req.headers.emplace_back("Authorization", "Bearer " + std::string(t.kube_admin_token.RevealString()));
  req.headers.emplace_back("Content-Type", "application/json");
  req.headers.emplace_back("Accept", "application/json");
  return kube.Send(req);
}

}  // namespace

Status EnsureServiceAccount(net::HttpsClient& kube, const Target& t) {
  // The workload's ServiceAccount (409: it exists already).
  ASTIS_ASSIGN_OR_RETURN(net::HttpResponse sa,
                         KubePost(kube, t, "/api/v1/namespaces/" + t.ns + "/serviceaccounts",
                                  Json{{"apiVersion", "v1"}, {"kind", "ServiceAccount"},
                                       {"metadata", {{"name", t.service_account}, {"namespace", t.ns}}}}));
  if (sa.status != 201 && sa.status != 409) return Unexpected("create serviceaccount", sa);
  return OkStatus();
}

Result<BoundPod> CreateBoundPod(net::HttpsClient& kube, const Target& t, const std::string& name) {
  BoundPod pod;
  pod.name = name;
  Json manifest{{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", pod.name}, {"namespace", t.ns}, {"labels", {{"app", "astis-bench"}}}}},
                {"spec",
                 {{"serviceAccountName", t.service_account},
                  {"containers", Json::array({Json{{"name", "app"},
                                                   {"image", "registry.example.com/bench/app@" + t.digest}}})}}}};
  ASTIS_ASSIGN_OR_RETURN(net::HttpResponse created,
                         KubePost(kube, t, "/api/v1/namespaces/" + t.ns + "/pods", manifest));
  if (created.status != 201) return Unexpected("create pod", created);
  ASTIS_ASSIGN_OR_RETURN(Json pod_json, ParseJson(created.body));
  if (!pod_json.contains("metadata") || !pod_json["metadata"].is_object()) {
    return Error(Code::kUnavailable, "create pod: no metadata in the answer");
  }
  pod.uid = pod_json["metadata"].value("uid", "");

  // A token bound to the pod, as the kubelet's projected volume gets it.
  Json token_request{
      {"apiVersion", "authentication.k8s.io/v1"},
      {"kind", "TokenRequest"},
      {"spec",
       {{"audiences", Json::array({"astis"})},
        {"expirationSeconds", 3600},
        {"boundObjectRef", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", pod.name}, {"uid", pod.uid}}}}}};
  ASTIS_ASSIGN_OR_RETURN(
      net::HttpResponse minted,
      KubePost(kube, t, "/api/v1/namespaces/" + t.ns + "/serviceaccounts/" + t.service_account + "/token",
               token_request));
  if (minted.status != 201 && minted.status != 200) return Unexpected("token request", minted);
  ASTIS_ASSIGN_OR_RETURN(Json minted_json, ParseJson(minted.body));
  if (!minted_json.contains("status") || !minted_json["status"].is_object() ||
      !minted_json["status"].contains("token") || !minted_json["status"]["token"].is_string()) {
    return Error(Code::kUnavailable, "token request: no status.token");
  }
  pod.token = minted_json["status"]["token"].get<std::string>();
  return pod;
}

Result<std::unique_ptr<net::HttpsClient>> KubeAdminClient(const Target& t) {
  return net::HttpsClient::Create(t.kube_url, TrustOnly(t.kube_ca_pem));
}

Result<std::unique_ptr<LoadGenerator>> LoadGenerator::Setup(const Target& t, const LoadOptions& options,
                                                            SetupReport* report) {
  return Setup(std::vector<const Target*>{&t}, options, report);
}

Result<std::unique_ptr<LoadGenerator>> LoadGenerator::Setup(const std::vector<const Target*>& targets,
                                                            const LoadOptions& options, SetupReport* report) {
  if (options.pods < 1 || options.batch < 1 || options.batch > 64 || targets.empty()) {
    return Error(Code::kInvalidArgument, "pods must be >= 1, batch in 1..64 and a target given");
  }
  const auto start = std::chrono::steady_clock::now();
  Random& rng = DefaultRandom();
  std::unique_ptr<LoadGenerator> gen(new LoadGenerator(options));
  // Every target shares one Kubernetes API (the first's credentials).
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> kube, KubeAdminClient(*targets.front()));
  for (const Target* target : targets) ASTIS_RETURN_IF_ERROR(EnsureServiceAccount(*kube, *target));

  // A run-unique suffix, so repeated runs against one stand-in never collide.
  std::vector<uint8_t> suffix_bytes(3);
  ASTIS_RETURN_IF_ERROR(rng.Fill(suffix_bytes));
  const std::string run_id = HexEncode(suffix_bytes);
  FakeClock seal_clock(DefaultClock().NowUnix());

  for (int i = 0; i < options.pods; ++i) {
    const Target& t = *targets[static_cast<size_t>(i) % targets.size()];
    auto pod = std::make_unique<Pod>();
    pod->target = &t;
    ASTIS_ASSIGN_OR_RETURN(BoundPod bound,
                           CreateBoundPod(*kube, t, options.pod_prefix + "-" + run_id + "-" + std::to_string(i)));
    pod->name = std::move(bound.name);
    pod->uid = std::move(bound.uid);
    pod->token = std::move(bound.token);
    pod->ath = jose::DpopHash(pod->token);
    if (report != nullptr && report->token_alg.empty()) report->token_alg = TokenAlg(pod->token);

    ASTIS_ASSIGN_OR_RETURN(Ed25519PrivateKey dpop, Ed25519PrivateKey::Generate(rng));
    pod->dpop = std::make_unique<Ed25519PrivateKey>(std::move(dpop));
    ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey recipient, X25519PrivateKey::Generate(rng));
    pod->recipient = std::make_unique<X25519PrivateKey>(std::move(recipient));
    net::ClientOptions copts;
    copts.max_idle_connections = 1;  // one keep-alive connection per pod
    ASTIS_ASSIGN_OR_RETURN(pod->http, net::HttpsClient::Create(t.edge_url, TrustOnly(t.edge_ca_pem), copts));
    pod->establish_body =
        DumpJson(Json{{"recipient", jose::Jwk::FromX25519Public(pod->recipient->public_key()).ToJson()}});

    for (int v = 0; v < options.batch; ++v) {
      const std::string plaintext = "bench value " + std::to_string(v) + " of " + pod->name;
      capsule::Binding b{t.cluster, t.ns, t.service_account, "bench-secret", "value-" + std::to_string(v)};
      ASTIS_ASSIGN_OR_RETURN(capsule::SealedValue sealed,
                             capsule::Seal(*t.org_public, b, AsBytes(plaintext), rng, seal_clock));
      pod->capsules_b64u.push_back(B64uEncode(sealed.capsule().bytes()));
      pod->values.push_back(std::move(sealed));
      pod->plaintexts.push_back(plaintext);
    }

    // Establish, then check the whole round trip once: every value unwraps
    // and decrypts to its plaintext (a fast wrong answer is no benchmark).
    ASTIS_ASSIGN_OR_RETURN(net::HttpResponse est, pod->Send(t, "POST", "/v1/sessions", pod->establish_body, nullptr));
    if (est.status != 201) return Unexpected("establish", est);
    ASTIS_ASSIGN_OR_RETURN(Json est_json, ParseJson(est.body));
    pod->session = est_json.value("session", "");
    ASTIS_ASSIGN_OR_RETURN(net::HttpResponse unwrapped,
                           pod->Send(t, "POST", "/v1/unwrap", pod->UnwrapBody(0, pod->values.size()), nullptr));
    if (unwrapped.status != 200) return Unexpected("unwrap", unwrapped);
    ASTIS_ASSIGN_OR_RETURN(Json results, ParseJson(unwrapped.body));
    if (!results.contains("results") || results["results"].size() != pod->values.size()) {
      return Error(Code::kUnavailable, "unwrap: wrong number of results");
    }
    for (size_t v = 0; v < pod->values.size(); ++v) {
      const Json& r = results["results"][v];
      if (!r.contains("enc") || !r.contains("ct")) return Error(Code::kUnavailable, "unwrap: result " + std::to_string(v) + " is an error");
      ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> enc, B64uDecode(r["enc"].get<std::string>()));
      ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> ct, B64uDecode(r["ct"].get<std::string>()));
      ASTIS_ASSIGN_OR_RETURN(SecretBytes dek, capsule::OpenRewrapped(*pod->recipient, pod->values[v].capsule().hash(),
                                                                     pod->session, enc, ct));
      ASTIS_ASSIGN_OR_RETURN(SecretBytes plain, capsule::DecryptValue(dek, pod->values[v]));
      if (!(plain == SecretBytes::CopyFrom(pod->plaintexts[v]))) {
        return Error(Code::kInternal, "unwrap: a value decrypted to the wrong plaintext");
      }
      if (report != nullptr) ++report->values_verified;
    }
    gen->pods_.push_back(std::move(pod));
  }
  if (report != nullptr) {
    report->pods = options.pods;
    report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return gen;
}

const std::string& LoadGenerator::FirstPodName() const { return pods_.front()->name; }

PhaseReport LoadGenerator::Run(Phase phase) {
  using SteadyClock = std::chrono::steady_clock;
  PhaseReport rep;
  rep.phase = phase;
  rep.offered_rate = options_.rate > 0 ? options_.rate : 0;
  struct PerThread {
    std::vector<uint64_t> latencies_us;
    uint64_t requests = 0, secrets = 0, errors = 0, retries = 0, unsent = 0;
    WireBytes wire;
    std::map<std::string, uint64_t> kinds;
    double cpu_seconds = 0;
  };
  std::vector<PerThread> per(pods_.size());
  const size_t capsules = phase == Phase::kBatch ? static_cast<size_t>(options_.batch) : 1;
  // Open loop: one schedule per pod (schedule.h); empty for a closed loop.
  std::vector<PodSchedule> schedules;
  if (options_.rate > 0) {
    for (size_t i = 0; i < pods_.size(); ++i) {
      auto s = PodSchedule::Make(options_.rate, static_cast<int>(pods_.size()), static_cast<int>(i));
      if (!s.ok()) {
        ++rep.errors;
        ++rep.error_kinds["schedule:" + s.status().message()];
        return rep;
      }
      schedules.push_back(*s);
    }
  }
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  SteadyClock::time_point start, deadline;  // written before go is set, read after

  std::vector<std::thread> threads;
  threads.reserve(pods_.size());
  for (size_t i = 0; i < pods_.size(); ++i) {
    threads.emplace_back([&, i] {
      Pod& pod = *pods_[i];
      PerThread& out = per[i];
      out.latencies_us.reserve(1 << 14);
      ++ready;
      while (!go.load()) std::this_thread::yield();
      const double cpu0 = ThreadCpuSeconds();
      const bool open_loop = !schedules.empty();
      size_t next = i;  // rotate through the pod's capsules
      for (uint64_t k = 0;; ++k) {
        // t0 is when the request should go: its scheduled time (open loop),
        // or now (closed loop). Latency counts from t0.
        SteadyClock::time_point t0;
        if (open_loop) {
          t0 = start + schedules[i].At(k);
          if (t0 >= deadline) break;
          const auto now = SteadyClock::now();
          if (now >= deadline) {
            // Behind schedule when the phase ended: what was due is unsent.
            out.unsent = schedules[i].CountBefore(deadline - start) - k;
            break;
          }
          // Late (the previous answer came after t0): send at once, and the
          // lateness counts in this request's latency (schedule.h).
          if (now < t0) std::this_thread::sleep_until(t0);
        } else {
          t0 = SteadyClock::now();
          if (t0 >= deadline) break;
        }
        const bool establish = phase == Phase::kEstablish;
        const std::string body = establish ? pod.establish_body : pod.UnwrapBody(next, capsules);
        next += capsules;
        auto resp = pod.Send(*pod.target, "POST", establish ? "/v1/sessions" : "/v1/unwrap", body, &out.retries,
                             &out.wire);
        const auto t1 = SteadyClock::now();
        if (!resp.ok()) {
          ++out.errors;
          ++out.kinds["transport"];
          continue;
        }
        const int want = establish ? 201 : 200;
        if (resp->status != want) {
          ++out.errors;
          ++out.kinds["http_" + std::to_string(resp->status) + ":" + EdgeErrorCode(resp->body)];
          continue;
        }
        out.latencies_us.push_back(OpenLoopLatencyUs(t0 - start, t1 - start));
        ++out.requests;
        if (!establish) {
          auto j = ParseJson(resp->body);
          if (!j.ok() || !j->contains("results") || (*j)["results"].size() != capsules) {
            ++out.errors;
            ++out.kinds["bad_unwrap_body"];
            continue;
          }
          for (const Json& r : (*j)["results"]) {
            if (r.contains("enc") && r.contains("ct")) {
              ++out.secrets;
            } else {
              ++out.errors;
              ++out.kinds["capsule:" + EdgeErrorCode(DumpJson(r))];
            }
          }
        }
      }
      out.cpu_seconds = ThreadCpuSeconds() - cpu0;
    });
  }
  while (ready.load() < static_cast<int>(threads.size())) std::this_thread::yield();
  const double excluded0 = options_.server_pid == 0 ? ThreadsCpuSeconds(options_.exclude_threads) : 0;
  auto before = ReadProcStats(options_.server_pid);
  start = SteadyClock::now();
  deadline = start + std::chrono::microseconds(static_cast<int64_t>(options_.phase_seconds * 1e6));
  go.store(true);
  for (auto& th : threads) th.join();
  const auto end = SteadyClock::now();
  auto after = ReadProcStats(options_.server_pid);
  const double excluded = options_.server_pid == 0 ? ThreadsCpuSeconds(options_.exclude_threads) - excluded0 : 0;

  rep.seconds = std::chrono::duration<double>(end - start).count();
  std::vector<uint64_t> all;
  double client_cpu = 0;
  for (PerThread& p : per) {
    all.insert(all.end(), p.latencies_us.begin(), p.latencies_us.end());
    rep.requests += p.requests;
    rep.secrets += p.secrets;
    rep.errors += p.errors;
    rep.nonce_retries += p.retries;
    rep.unsent += p.unsent;
    rep.wire.request += p.wire.request;
    rep.wire.response += p.wire.response;
    for (const auto& [k, v] : p.kinds) rep.error_kinds[k] += v;
    client_cpu += p.cpu_seconds;
  }
  if (phase == Phase::kEstablish) rep.secrets = 0;
  const LatencySummary lat = Summarize(all);
  rep.p50_us = lat.p50_us;
  rep.p90_us = lat.p90_us;
  rep.p99_us = lat.p99_us;
  rep.max_us = lat.max_us;
  if (before.ok() && after.ok()) {
    rep.server_cpu_seconds = after->cpu_seconds - before->cpu_seconds;
    // In process, the pods' own threads are subtracted (what is left is
    // the edge, the CVS and the stand-in's watch), and exclude_threads.
    if (options_.server_pid == 0) {
      rep.server_cpu_seconds = std::max(0.0, rep.server_cpu_seconds - client_cpu - excluded);
    }
    rep.server_rss_kb = after->rss_kb;
    rep.server_hwm_kb = after->hwm_kb;
  }
  return rep;
}

}  // namespace astis::bench
