// sdk_test_edge: the real edge as a separate process, for tests of SDK
// clients that run in another process (Go, Python, examples, astis-run).
// Test-only; never installed.
//
//   sdk_test_edge INFO_JSON
//
// Starts the real EdgeService (all four gates, in-memory SQLite store,
// in-process CVS, FakeKubeClient: edge/testing/edge_harness.h) over HTTPS on
// 127.0.0.1 port 0 with a run-time test PKI, on the wall clock (the client
// processes sign DPoP proofs with it). It writes, in a fresh private temp
// dir: ca.pem, api-key, a kubelet-style projected token (token -> ..data/token)
// and secrets/<name> sealed values. Then it writes INFO_JSON
//   {"url","ca_file","api_key_file","token_path","secrets_dir","dir",
//    "plaintexts":{name: value}, "sealed":{name: sealed value},
//    "refused": [names sealed for another namespace]}
// and INFO_JSON.env (the ASTIS_* client settings as NAME=value lines),
// prints "ready" on stdout, and serves until stdin reaches EOF; then it
// stops, removes the temp dir and exits 0. Exit 1 on any setup failure.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "edge/testing/edge_harness.h"
#include "net/testing/test_pki.h"

namespace {

namespace eh = astis::edge::testing;
using astis::Json;

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  return f.good();
}

int Run(const std::string& info_path) {
  eh::EdgeHarness h;
  astis::Clock& clock = astis::DefaultClock();
  auto pki = astis::net::testing::TestPki::Create();
  auto dir = astis::net::testing::MakeTempDir();
  if (!pki.ok() || !dir.ok() || !pki->WriteFiles(*dir).ok()) {
    std::fprintf(stderr, "sdk_test_edge: PKI or temp dir setup failed\n");
    return 1;
  }
  std::unique_ptr<astis::edge::EdgeService> service;
  astis::net::ServerConfig sc;
  sc.tls = pki->ServerTls();
  sc.threads = 2;
  auto server = astis::net::HttpServer::Start(sc, [&](const astis::net::ServerRequest& r) {
    return service->HandleHeld(r);
  });
  if (!server.ok()) {
    std::fprintf(stderr, "sdk_test_edge: %s\n", server.status().ToString().c_str());
    return 1;
  }
  const std::string url = "https://127.0.0.1:" + std::to_string((*server)->port());
  h.config.external_base_url = url;  // htu is checked against this
  // The harness service runs on a FakeClock; this one runs on the wall clock
  // because the SDK in the client process does.
  astis::edge::EdgeDeps deps;
  deps.store = h.store.get();
  deps.kube = [&h](std::string_view cluster) -> astis::kube::KubeClient* {
    return cluster == eh::kCluster ? &h.kube_main : nullptr;
  };
  deps.cvs = h.cvs.get();
  deps.audit = &h.audit_sink;
  deps.clock = &clock;
  deps.rng = &astis::DefaultRandom();
  auto created = astis::edge::EdgeService::Create(h.config, deps);
  if (!created.ok()) {
    std::fprintf(stderr, "sdk_test_edge: %s\n", created.status().ToString().c_str());
    return 1;
  }
  service = std::move(*created);

  const int64_t now = clock.NowUnix();
  Json claims = h.Claims();
  claims["iat"] = now - 10;
  claims["nbf"] = now - 10;
  claims["exp"] = now + 3600;
  const std::string d = *dir;
  std::error_code ec;
  std::filesystem::create_directories(d + "/token/..ts1", ec);
  std::filesystem::create_directories(d + "/secrets", ec);
  bool ok = !ec && WriteText(d + "/token/..ts1/token", h.Token(claims)) &&
            WriteText(d + "/api-key", std::string(h.api_key.header_value.RevealString()));
  std::filesystem::create_directory_symlink("..ts1", d + "/token/..data", ec);
  ok = ok && !ec;
  std::filesystem::create_symlink("..data/token", d + "/token/token", ec);
  ok = ok && !ec;

  const std::vector<std::pair<std::string, std::string>> values = {
      {"db-password", "correct horse battery staple"}, {"api-token", "tok-7f3a9"}, {"greeting", "hello, world"},
      {"binary", std::string("a\0b", 3)}};
  Json plaintexts = Json::object(), sealed = Json::object();
  for (const auto& [name, plain] : values) {
    auto s = astis::capsule::Seal(*h.org_public, astis::capsule::Binding{eh::kCluster, eh::kNs, eh::kSa, name, "value"},
                                  astis::AsBytes(plain), astis::DefaultRandom(), clock);
    if (!s.ok()) return 1;
    plaintexts[name] = plain;
    sealed[name] = s->ToString();
    ok = ok && WriteText(d + "/secrets/" + name, s->ToString());
  }
  // Sealed for another namespace: the edge refuses it (capsule_scope).
  auto theirs = astis::capsule::Seal(*h.org_public,
                                     astis::capsule::Binding{eh::kCluster, "other-ns", eh::kSa, "theirs", "value"},
                                     astis::AsBytes(std::string("not yours")), astis::DefaultRandom(), clock);
  ok = ok && theirs.ok() && WriteText(d + "/secrets/theirs", theirs->ToString());

  const Json info{{"url", url},
                  {"ca_file", d + "/ca.pem"},
                  {"api_key_file", d + "/api-key"},
                  {"token_path", d + "/token/token"},
                  {"secrets_dir", d + "/secrets"},
                  {"dir", d},
                  {"plaintexts", plaintexts},
                  {"sealed", sealed},
                  {"refused", Json::array({"theirs"})}};
  // The same settings as shell assignments (INFO_JSON.env) for wrapper scripts.
  const std::string env = "ASTIS_EDGE_URL=" + url + "\nASTIS_CA_FILE=" + d + "/ca.pem\nASTIS_API_KEY_FILE=" + d +
                          "/api-key\nASTIS_TOKEN_PATH=" + d + "/token/token\nASTIS_SECRETS_DIR=" + d + "/secrets\n";
  ok = ok && WriteText(info_path, astis::DumpJson(info)) && WriteText(info_path + ".env", env);
  if (!ok) {
    std::fprintf(stderr, "sdk_test_edge: writing test files failed\n");
    std::filesystem::remove_all(d, ec);
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  (*server)->Stop(std::chrono::milliseconds(0));
  std::filesystem::remove_all(d, ec);
  std::filesystem::remove(info_path, ec);
  std::filesystem::remove(info_path + ".env", ec);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: sdk_test_edge INFO_JSON\n");
    return 2;
  }
  return Run(argv[1]);
}
