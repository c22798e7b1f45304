#include "edge/config.h"
#include "edge/run.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace astis::edge {
namespace {

constexpr char kMinimal[] = R"(
tls: {cert_file: /etc/astis/tls.crt, key_file: /etc/astis/tls.key}
external_base_url: https://edge.example.com
store: {backend: sqlite, path: /var/lib/astis/edge.db}
cvs: {mode: embedded, org_keys: /etc/astis/org-keys.json}
audit_log: /var/log/astis/audit.jsonl
)";

Status ParseWith(const std::string& extra) { return ParseEdgeConfig(std::string(kMinimal) + extra).status(); }

TEST(EdgeConfig, MinimalGetsDefaults) {
  auto c = ParseEdgeConfig(kMinimal);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->session_ttl_seconds, 900);
  EXPECT_EQ(c->dpop.max_skew_seconds, 60);
  EXPECT_EQ(c->dpop.nonce_window_seconds, 60);
  EXPECT_EQ(c->token.max_skew_seconds, 60);
  EXPECT_EQ(c->token.verified_cache_entries, 16384);
  EXPECT_EQ(c->limits.max_capsules_per_request, 64);
  EXPECT_EQ(c->cvs.mode, CvsMode::kEmbedded);
  EXPECT_EQ(c->external_base_url, "https://edge.example.com");
  EXPECT_EQ(c->listen.threads, 0);  // run.cc: DefaultThreadsPerCore per core
  EXPECT_EQ(DefaultThreadsPerCore(*c), 1u);
}

TEST(EdgeConfig, ListenThreadsParsesAndIsBounded) {
  auto c = ParseEdgeConfig(std::string(kMinimal) + "listen: {port: 9443, threads: 12}\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen.threads, 12);
  for (const char* bad : {"listen: {threads: 257}\n", "listen: {threads: -1}\n", "listen: {threads: many}\n"}) {
    Status s = ParseWith(bad);
    EXPECT_NE(s.message().find("listen.threads"), std::string::npos) << bad << ": " << s.message();
  }
}

// gate4 (docs/edge.md "Gate 4 from fresh state"): defaults, 0 = a read per
// decision, and every knob bounded.
TEST(EdgeConfig, Gate4ParsesWithDefaultsAndBounds) {
  auto d = ParseEdgeConfig(kMinimal);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->gate4.max_staleness_ms, 1000);
  EXPECT_EQ(d->gate4.api_timeout_ms, 2000);
  EXPECT_EQ(d->gate4.retry_ms, 1000);
  EXPECT_EQ(d->gate4.max_waiting_per_cluster, 0);
  EXPECT_EQ(d->gate4.slow_read_ms, 250);
  auto c = ParseEdgeConfig(std::string(kMinimal) +
                           "gate4: {max_staleness_ms: 0, api_timeout_ms: 500, retry_ms: 0, "
                           "max_waiting_per_cluster: 3, slow_read_ms: 100}\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->gate4.max_staleness_ms, 0);
  EXPECT_EQ(c->gate4.api_timeout_ms, 500);
  EXPECT_EQ(c->gate4.max_waiting_per_cluster, 3);
  EXPECT_EQ(ParseWith("gate4: {max_staleness_ms: 60001}\n").code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseWith("gate4: {api_timeout_ms: 10}\n").code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseWith("gate4: {cache_only: true}\n").code(), Code::kInvalidArgument);
}

TEST(EdgeConfig, FullRemoteConfigParses) {
  auto c = ParseEdgeConfig(R"(
listen: {address: 127.0.0.1, port: 9443}
tls: {cert_file: a, key_file: b}
external_base_url: https://edge.example.com:8443
store: {path: /tmp/x.db}
cvs:
  mode: remote
  url: https://cvs.internal:9000
  ca_file: ca.pem
  client_cert_file: c.pem
  client_key_file: k.pem
  server_cert_sha256: 0000000000000000000000000000000000000000000000000000000000000000
audit_log: a.log
session_ttl_seconds: 600
dpop: {max_skew_seconds: 30, nonce_window_seconds: 120}
token: {max_skew_seconds: 10}
limits: {max_body_bytes: 65536, max_capsules_per_request: 32, rate_per_api_key_per_minute: 10, rate_per_pod_uid_per_minute: 5}
admin: {unix_socket: /run/astis/admin.sock}
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen.port, 9443);
  EXPECT_EQ(c->cvs.mode, CvsMode::kRemote);
  EXPECT_EQ(c->limits.max_capsules_per_request, 32);
  EXPECT_EQ(c->dpop.nonce_window_seconds, 120);
  EXPECT_EQ(c->admin.unix_socket, "/run/astis/admin.sock");
  EXPECT_EQ(DefaultThreadsPerCore(*c), 4u);  // a remote CVS: requests wait on the network
}

TEST(EdgeConfig, RejectsUnknownTopLevelKey) {
  Status s = ParseWith("debug: true\n");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("debug"), std::string::npos);
}

TEST(EdgeConfig, RejectsUnknownNestedKey) {
  Status s = ParseWith("dpop: {max_skew_seconds: 10, allow_none: true}\n");
  EXPECT_NE(s.message().find("dpop.allow_none"), std::string::npos) << s.message();
}

TEST(EdgeConfig, RejectsHttpBaseUrl) {
  auto c = ParseEdgeConfig(R"(
tls: {cert_file: a, key_file: b}
external_base_url: http://edge.example.com
store: {path: x}
cvs: {mode: embedded, org_keys: k}
audit_log: a
)");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("external_base_url"), std::string::npos);
}

// WithStore replaces the minimal config's store line.
std::string WithStore(const std::string& store_line) {
  std::string text = kMinimal;
  const std::string old = "store: {backend: sqlite, path: /var/lib/astis/edge.db}";
  text.replace(text.find(old), old.size(), store_line);
  return text;
}

TEST(EdgeConfig, PostgresStoreParses) {
  auto c = ParseEdgeConfig(WithStore("store: {backend: postgres, dsn_file: /etc/astis/pg/dsn, pool_size: 4}"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->store.backend, "postgres");
  EXPECT_EQ(c->store.dsn_file, "/etc/astis/pg/dsn");
  EXPECT_EQ(c->store.pool_size, 4);
  const store::StoreOptions o = StoreOptionsOf(*c);
  EXPECT_EQ(o.backend, "postgres");
  EXPECT_EQ(o.postgres_dsn_file, "/etc/astis/pg/dsn");
  EXPECT_EQ(o.pool_size, 4);
  EXPECT_EQ(DefaultThreadsPerCore(*c), 4u);  // PostgreSQL: requests wait on the network
}

TEST(EdgeConfig, AdminHttpsParses) {
  auto c = ParseEdgeConfig(std::string(kMinimal) +
                           "admin:\n  https: {address: 0.0.0.0, port: 9444, cert_file: /etc/astis/admin.crt, "
                           "key_file: /etc/astis/admin.key, client_ca_file: /etc/astis/admin-ca.pem}\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->admin.https.port, 9444);
  EXPECT_EQ(c->admin.https.address, "0.0.0.0");
  EXPECT_EQ(c->admin.https.client_ca_file, "/etc/astis/admin-ca.pem");
  auto off = ParseEdgeConfig(kMinimal);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->admin.https.port, 0) << "the remote admin API is off unless configured";
}

TEST(EdgeConfig, AdminHttpsNeedsMutualTls) {
  for (const char* bad : {"admin:\n  https: {port: 9444, cert_file: /c, key_file: /k}\n",
                          "admin:\n  https: {cert_file: /c, key_file: /k, client_ca_file: /ca}\n",
                          "admin:\n  https: {port: 9444, cert_file: /c, key_file: /k, client_ca_file: /ca, x: 1}\n"}) {
    auto c = ParseEdgeConfig(std::string(kMinimal) + bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("admin.https"), std::string::npos) << c.status().message();
  }
}

TEST(EdgeConfig, RejectsPostgresWithoutDsnFile) {
  auto c = ParseEdgeConfig(WithStore("store: {backend: postgres}"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("store.dsn_file"), std::string::npos) << c.status().message();
}

TEST(EdgeConfig, RejectsMixedStoreFields) {
  EXPECT_FALSE(ParseEdgeConfig(WithStore("store: {backend: postgres, dsn_file: /d, path: /p}")).ok());
  EXPECT_FALSE(ParseEdgeConfig(WithStore("store: {backend: sqlite, path: /p, dsn_file: /d}")).ok());
  EXPECT_FALSE(ParseEdgeConfig(WithStore("store: {backend: postgres, dsn_file: /d, pool_size: 0}")).ok());
}

TEST(EdgeConfig, RejectsUnknownStoreBackend) {
  auto c = ParseEdgeConfig(WithStore("store: {backend: mysql, path: /p}"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("store.backend"), std::string::npos) << c.status().message();
}

TEST(EdgeConfig, RejectsMissingRequiredField) {
  auto c = ParseEdgeConfig("tls: {cert_file: a, key_file: b}\nexternal_base_url: https://e\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("store"), std::string::npos);
}

TEST(EdgeConfig, RejectsOutOfRangeSkew) {
  Status s = ParseWith("dpop: {max_skew_seconds: 100000}\n");
  EXPECT_NE(s.message().find("dpop.max_skew_seconds"), std::string::npos) << s.message();
}

TEST(EdgeConfig, TokenCacheEntries) {
  auto off = ParseEdgeConfig(std::string(kMinimal) + "token: {verified_cache_entries: 0}\n");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->token.verified_cache_entries, 0);
  for (const char* bad : {"token: {verified_cache_entries: -1}\n", "token: {verified_cache_entries: 1000001}\n",
                          "token: {verified_cache_entries: many}\n"}) {
    Status s = ParseWith(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("token.verified_cache_entries"), std::string::npos) << s.message();
  }
}

TEST(EdgeConfig, RejectsMoreThan64Capsules) {
  Status s = ParseWith("limits: {max_capsules_per_request: 65}\n");
  EXPECT_NE(s.message().find("limits.max_capsules_per_request"), std::string::npos) << s.message();
}

TEST(EdgeConfig, RejectsNonIntegerTtl) {
  Status s = ParseWith("session_ttl_seconds: 15m\n");
  EXPECT_NE(s.message().find("session_ttl_seconds"), std::string::npos) << s.message();
}

TEST(EdgeConfig, RejectsRemoteFieldsInEmbeddedMode) {
  auto c = ParseEdgeConfig(R"(
tls: {cert_file: a, key_file: b}
external_base_url: https://e
store: {path: x}
cvs: {mode: embedded, org_keys: k, url: https://cvs}
audit_log: a
)");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("cvs.url"), std::string::npos);
}

// Tier 1 key sets per organisation and the edge's identity towards Tier 2
// CVSs (docs/configuration.md "cvs", "hyok").
TEST(EdgeConfig, CvsOrgKeysDirAndHyok) {
  const std::string head = R"(
tls: {cert_file: a, key_file: b}
external_base_url: https://e
store: {path: x}
audit_log: a
)";
  auto dir_only = ParseEdgeConfig(head + "cvs: {mode: embedded, org_keys_dir: /var/lib/astis/org-keys}\n");
  ASSERT_TRUE(dir_only.ok()) << dir_only.status().ToString();
  EXPECT_EQ(dir_only->cvs.org_keys_dir, "/var/lib/astis/org-keys");
  EXPECT_TRUE(dir_only->cvs.org_keys.empty());
  EXPECT_TRUE(dir_only->hyok.client_cert_file.empty());
  auto both = ParseEdgeConfig(head + "cvs: {mode: embedded, org_keys: k.json, org_keys_dir: d}\n"
                                     "hyok: {client_cert_file: /c.pem, client_key_file: /c.key}\n");
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_EQ(both->cvs.org_keys, "k.json");
  EXPECT_EQ(both->hyok.client_cert_file, "/c.pem");
  EXPECT_EQ(both->hyok.client_key_file, "/c.key");
  const std::string remote =
      "cvs: {mode: remote, url: https://cvs, ca_file: a, client_cert_file: b, client_key_file: c, "
      "server_cert_sha256: " + std::string(64, 'a') + "}\n";
  ASSERT_TRUE(ParseEdgeConfig(head + remote).ok());
  struct Bad {
    std::string yaml;
    std::string field;
  };
  for (const Bad& b : std::vector<Bad>{
           {"cvs: {mode: embedded}\n", "cvs.org_keys"},
           {"cvs: {mode: embedded, org_keys_dir: [a]}\n", "cvs.org_keys_dir"},
           {remote.substr(0, remote.size() - 2) + ", org_keys_dir: d}\n", "cvs.org_keys_dir"},
           {"cvs: {mode: embedded, org_keys: k}\nhyok: {client_cert_file: /c.pem}\n", "hyok.client_key_file"},
           {"cvs: {mode: embedded, org_keys: k}\nhyok: {client_key_file: /c.key}\n", "hyok.client_cert_file"},
           {"cvs: {mode: embedded, org_keys: k}\nhyok: {client_cert_file: a, client_key_file: b, ca: c}\n",
            "hyok.ca"},
           {"cvs: {mode: embedded, org_keys: k}\nhyok: yes\n", "hyok"},
       }) {
    auto c = ParseEdgeConfig(head + b.yaml);
    ASSERT_FALSE(c.ok()) << b.yaml;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
    EXPECT_NE(c.status().message().find(b.field), std::string::npos) << b.yaml << ": " << c.status().message();
  }
}

TEST(EdgeConfig, RejectsBadPin) {
  auto c = ParseEdgeConfig(R"(
tls: {cert_file: a, key_file: b}
external_base_url: https://e
store: {path: x}
cvs: {mode: remote, url: https://cvs, ca_file: a, client_cert_file: b, client_key_file: c, server_cert_sha256: abc}
audit_log: a
)");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("cvs.server_cert_sha256"), std::string::npos);
}

TEST(EdgeConfig, RejectsYamlSyntaxErrorWithoutThrowing) {
  auto c = ParseEdgeConfig("tls: {cert_file: [\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
}

TEST(EdgeConfig, LogFormatAndLevel) {
  auto d = ParseEdgeConfig(kMinimal);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->log.format, "text");
  EXPECT_EQ(d->log.level, "info");
  auto c = ParseEdgeConfig(std::string(kMinimal) + "log: {format: json, level: warn}\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->log.format, "json");
  EXPECT_EQ(c->log.level, "warn");
  for (const char* bad : {"log: {format: yaml}\n", "log: {level: loud}\n", "log: {format: json, colour: on}\n"}) {
    Status s = ParseWith(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("log"), std::string::npos) << s.message();
  }
}

TEST(EdgeConfig, AuditSinkAndRotation) {
  auto d = ParseEdgeConfig(kMinimal);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->audit_sink, "file");
  EXPECT_EQ(d->audit_log_max_bytes, 0);
  auto c = ParseEdgeConfig(std::string(kMinimal) + "audit_sink: both\naudit_log_max_bytes: 104857600\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->audit_sink, "both");
  EXPECT_EQ(c->audit_log_max_bytes, 104857600);
  std::string no_file = kMinimal;
  const std::string audit_line = "audit_log: /var/log/astis/audit.jsonl\n";
  ASSERT_NE(no_file.find(audit_line), std::string::npos);
  no_file.erase(no_file.find(audit_line), audit_line.size());
  auto s = ParseEdgeConfig(no_file + "audit_sink: stdout\n");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->audit_sink, "stdout");
  EXPECT_TRUE(s->audit_log.empty());
  EXPECT_FALSE(ParseEdgeConfig(no_file).ok());  // file sink: audit_log required
}

TEST(EdgeConfig, RefusesBadAuditSinkAndRotation) {
  for (const char* bad : {"audit_sink: syslog\n", "audit_sink: stdout\n", "audit_log_max_bytes: 1000\n",
                          "audit_log_max_bytes: -1\n", "audit_sink: [file]\n"}) {
    Status s = ParseWith(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("audit"), std::string::npos) << bad << ": " << s.message();
  }
}

}  // namespace
}  // namespace astis::edge
