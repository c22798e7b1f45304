// The remote admin API over real mutual TLS (docs/tenancy.md "Roles"): each
// role's certificate, two organisations whose names collide on purpose, and
// what each caller may see and change.
#include "admin/https_api.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "common/json.h"
#include "crypto/random.h"
#include "crypto/sha256.h"
#include "jose/jwk.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"
#include "store/sqlite_store.h"

namespace astis::admin {
namespace {

constexpr int64_t kNow = 1'750'000'000;

Result<NewApiKey> Generate(Random& rng) {
  std::vector<uint8_t> raw(8 + 32);
  ASTIS_RETURN_IF_ERROR(rng.Fill(raw));
  NewApiKey key;
  key.id = HexEncode(std::span<const uint8_t>(raw).first(8));
  const std::string secret = B64uEncode(std::span<const uint8_t>(raw).subspan(8));
  key.hash = Sha256(secret);
  key.header_value = SecretBytes::CopyFrom("astis_" + key.id + "_" + secret);
  return key;
}

class RecordingSink final : public audit::AuditSink {
 public:
  Status Append(const audit::AuditEvent& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    events.push_back(e);
    return OkStatus();
  }
  std::mutex mu_;
  std::vector<audit::AuditEvent> events;
};

class AdminHttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(store::OpenSqliteStore(":memory:")).value();
    for (const char* org : {"tenant-a", "tenant-b"}) {
      store::Organization o;
      o.name = org;
      o.created_at = kNow;
      ASSERT_TRUE(store_->PutOrganization(o).ok());
      store::Cluster c;
      c.org = org;
      c.name = "prod";  // the same name in both organisations
      c.issuer = "https://oidc.example/" + std::string(org);
      c.jwks_json = R"({"keys":[]})";
      c.api_url = "https://api.example";
      ASSERT_TRUE(store_->PutCluster(c).ok());
    }
    auto pki = net::testing::TestPki::Create();
    ASSERT_TRUE(pki.ok());
    pki_ = std::make_unique<net::testing::TestPki>(std::move(*pki));
    AdminHttpsOptions options;
    options.api_key_generator = Generate;
    options.audit = &sink_;
    // One active key per organisation, named after it (org.key.list).
    options.org_keys = [](std::string_view org) -> Result<std::vector<OrgKeyRow>> {
      return std::vector<OrgKeyRow>{{"kid-of-" + std::string(org), "active", "x25519", false}};
    };
    handler_ = std::make_unique<AdminHttpsHandler>(*store_, clock_, DefaultRandom(), std::move(options));
    AdminHttpsConfig config;
    config.tls.cert_chain_pem = pki_->server().cert_pem;
    config.tls.key_pem = SecretBytes::CopyFrom(pki_->server().key_pem.RevealString());
    config.tls.client_ca_pem = pki_->ca_cert_pem();
    auto server = StartAdminHttpsServer(std::move(config), *handler_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  // Client returns an HTTPS client presenting a certificate with these SANs.
  std::unique_ptr<net::HttpsClient> Client(const std::string& cn, const std::vector<std::string>& sans) {
    auto cert = pki_->IssueClientCertWithSans(cn, sans);
    EXPECT_TRUE(cert.ok());
    net::TlsClientConfig tls;
    tls.ca_pem = pki_->ca_cert_pem();
    tls.client_cert_pem = cert->cert_pem;
    tls.client_key_pem = SecretBytes::CopyFrom(cert->key_pem.RevealString());
    auto client = net::HttpsClient::Create("https://127.0.0.1:" + std::to_string(server_->port()), tls);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return std::move(client).value();
  }

  struct Answer {
    int status = 0;
    Json body;
  };
  Answer Call(net::HttpsClient& c, const std::string& op, Json args, const std::string& org = "") {
    Json req{{"v", 1}, {"op", op}, {"args", std::move(args)}};
    if (!org.empty()) req["org"] = org;
    net::HttpRequest r;
    r.method = "POST";
    r.target = std::string(kAdminApiPath);
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = DumpJson(req);
    auto resp = c.Send(r);
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
    if (!resp.ok()) return {};
    auto j = ParseJson(resp->body);
    EXPECT_TRUE(j.ok()) << resp->body;
    return Answer{resp->status, j.ok() ? *j : Json()};
  }
  static std::string CodeOf(const Answer& a) {
    return a.body.contains("error") ? a.body["error"].value("code", "") : "";
  }

  FakeClock clock_{kNow};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<net::testing::TestPki> pki_;
  RecordingSink sink_;
  std::unique_ptr<AdminHttpsHandler> handler_;
  std::unique_ptr<net::HttpServer> server_;
};

TEST_F(AdminHttpsTest, OrgAdminSeesAndChangesOnlyItsOrganization) {
  auto alice = Client("alice", {"URI:astis://admin/org-admin/tenant-a"});
  Answer own = Call(*alice, "cluster.list", Json::object());  // no org: the caller's own
  ASSERT_EQ(own.status, 200) << own.body.dump();
  ASSERT_EQ(own.body["result"]["items"].size(), 1u);
  EXPECT_EQ(own.body["result"]["items"][0].value("name", ""), "prod");

  // Another organisation, existing or not: the same answer, byte for byte.
  Answer other = Call(*alice, "cluster.list", Json::object(), "tenant-b");
  Answer missing = Call(*alice, "cluster.list", Json::object(), "tenant-zz");
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(CodeOf(other), "not_found");
  EXPECT_EQ(other.body, missing.body);
  Answer remove_other = Call(*alice, "cluster.remove", Json{{"name", "prod"}}, "tenant-b");
  EXPECT_EQ(remove_other.status, 404);
  EXPECT_TRUE(store_->GetCluster("tenant-b", "prod").ok()) << "an org-admin changed another organisation";

  Answer remove_own = Call(*alice, "cluster.remove", Json{{"name", "prod"}});
  EXPECT_EQ(remove_own.status, 200) << remove_own.body.dump();
  EXPECT_EQ(store_->GetCluster("tenant-a", "prod").status().code(), Code::kNotFound);
  // Recorded in A's configuration audit with the certificate's name and role.
  auto trail = store_->ListConfigAudit("tenant-a", 0, 10);
  ASSERT_TRUE(trail.ok());
  ASSERT_FALSE(trail->empty());
  EXPECT_EQ(trail->back().actor, "admin:alice/org-admin");
  EXPECT_EQ(trail->back().action, "cluster.remove");

  // Organisations are the operator's.
  Answer add_org = Call(*alice, "org.add", Json{{"name", "tenant-c"}, {"tier", "standard"}});
  EXPECT_EQ(add_org.status, 403);
  EXPECT_EQ(CodeOf(add_org), "permission_denied");
}

// An organisation's admin lists its own org keys and no one else's; the
// operator lists any organisation's (docs/admin.md "Sealing").
TEST_F(AdminHttpsTest, OrgKeyListRefusesAnotherOrganization) {
  auto alice = Client("alice", {"URI:astis://admin/org-admin/tenant-a"});
  Answer own = Call(*alice, "org.key.list", Json::object());
  ASSERT_EQ(own.status, 200) << own.body.dump();
  ASSERT_EQ(own.body["result"]["items"].size(), 1u);
  EXPECT_EQ(own.body["result"]["items"][0].value("kid", ""), "kid-of-tenant-a");
  EXPECT_EQ(own.body["result"]["items"][0].value("state", ""), "active");
  // Another organisation's keys: exactly the answer for a missing one.
  Answer other = Call(*alice, "org.key.list", Json::object(), "tenant-b");
  Answer missing = Call(*alice, "org.key.list", Json::object(), "tenant-zz");
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(CodeOf(other), "not_found");
  EXPECT_EQ(other.body, missing.body);
  EXPECT_EQ(other.body.dump().find("kid-of-tenant-b"), std::string::npos);
  // The auditor of tenant-a may read them too; the operator reads any.
  auto carol = Client("carol", {"URI:astis://admin/auditor/tenant-a"});
  EXPECT_EQ(Call(*carol, "org.key.list", Json::object()).status, 200);
  EXPECT_EQ(Call(*carol, "org.key.list", Json::object(), "tenant-b").status, 404);
  auto ops = Client("ops", {"URI:astis://admin/operator"});
  Answer b = Call(*ops, "org.key.list", Json::object(), "tenant-b");
  ASSERT_EQ(b.status, 200) << b.body.dump();
  EXPECT_EQ(b.body["result"]["items"][0].value("kid", ""), "kid-of-tenant-b");
}

TEST_F(AdminHttpsTest, OrgListShowsOnlyTheCallersOrganization) {
  auto carol = Client("carol", {"URI:astis://admin/auditor/tenant-b"});
  Answer list = Call(*carol, "org.list", Json::object());
  ASSERT_EQ(list.status, 200) << list.body.dump();
  ASSERT_EQ(list.body["result"]["items"].size(), 1u);
  EXPECT_EQ(list.body["result"]["items"][0].value("name", ""), "tenant-b");
  auto ops = Client("ops", {"URI:astis://admin/operator"});
  Answer all = Call(*ops, "org.list", Json::object());
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.body["result"]["items"].size(), 3u);  // default, tenant-a, tenant-b
}

TEST_F(AdminHttpsTest, AuditorIsReadOnly) {
  auto carol = Client("carol", {"URI:astis://admin/auditor/tenant-a"});
  EXPECT_EQ(Call(*carol, "cluster.list", Json::object()).status, 200);
  EXPECT_EQ(Call(*carol, "apikey.list", Json::object()).status, 200);
  Answer remove = Call(*carol, "cluster.remove", Json{{"name", "prod"}});
  EXPECT_EQ(remove.status, 403);
  EXPECT_EQ(CodeOf(remove), "permission_denied");
  EXPECT_TRUE(store_->GetCluster("tenant-a", "prod").ok());
  Answer key = Call(*carol, "apikey.create", Json{{"cluster", "prod"}, {"namespace", "payments"},
                                                  {"serviceAccount", "api"}, {"ttlSeconds", 0}});
  EXPECT_EQ(key.status, 403);
}

TEST_F(AdminHttpsTest, OperatorEverywhereButNoSecrets) {
  auto ops = Client("ops", {"URI:astis://admin/operator"});
  Answer a = Call(*ops, "cluster.list", Json::object(), "tenant-a");
  Answer b = Call(*ops, "cluster.list", Json::object(), "tenant-b");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(b.status, 200);
  // Several organisations and none named: the operator must say which.
  Answer unnamed = Call(*ops, "cluster.list", Json::object());
  EXPECT_EQ(unnamed.status, 400);
  Answer key = Call(*ops, "apikey.create", Json{{"cluster", "prod"}, {"namespace", "payments"},
                                                {"serviceAccount", "api"}, {"ttlSeconds", 0}},
                    "tenant-a");
  EXPECT_EQ(key.status, 403);
  EXPECT_EQ(CodeOf(key), "permission_denied");
  auto keys = store_->ListApiKeys(std::nullopt);
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE(keys->empty());
}

TEST_F(AdminHttpsTest, RefusesCallerWithoutRole) {
  auto bob = Client("bob", {"DNS:bob.example"});
  Answer a = Call(*bob, "cluster.list", Json::object(), "tenant-a");
  EXPECT_EQ(a.status, 403) << a.body.dump();
  EXPECT_EQ(CodeOf(a), "permission_denied");
  // Every refused request is in the audit log, with no body content.
  std::lock_guard<std::mutex> lock(sink_.mu_);
  ASSERT_FALSE(sink_.events.empty());
  EXPECT_EQ(sink_.events.back().decision, audit::Decision::kDeny);
}

TEST_F(AdminHttpsTest, RefusesClientWithoutCertificate) {
  net::TlsClientConfig tls;
  tls.ca_pem = pki_->ca_cert_pem();
  auto client = net::HttpsClient::Create("https://127.0.0.1:" + std::to_string(server_->port()), tls);
  ASSERT_TRUE(client.ok());
  net::HttpRequest r;
  r.method = "POST";
  r.target = std::string(kAdminApiPath);
  r.body = R"({"v":1,"op":"org.list","args":{}})";
  auto resp = (*client)->Send(r);
  EXPECT_FALSE(resp.ok() && resp->status == 200) << "served without a client certificate";
}

TEST_F(AdminHttpsTest, CliTransportSpeaksTheApi) {
  // The CLI's --server path: typed Operations over the API, as org-admin.
  auto cert = pki_->IssueClientCertWithSans("alice", {"URI:astis://admin/org-admin/tenant-a"});
  ASSERT_TRUE(cert.ok());
  net::TlsClientConfig tls;
  tls.ca_pem = pki_->ca_cert_pem();
  tls.client_cert_pem = cert->cert_pem;
  tls.client_key_pem = SecretBytes::CopyFrom(cert->key_pem.RevealString());
  const std::string url = "https://127.0.0.1:" + std::to_string(server_->port());
  auto ops = ConnectAdminHttps(url, tls, "");
  ASSERT_TRUE(ops.ok()) << ops.status().ToString();
  auto clusters = (*ops)->ClusterList();
  ASSERT_TRUE(clusters.ok()) << clusters.status().ToString();
  ASSERT_EQ(clusters->size(), 1u);
  auto key = (*ops)->ApiKeyCreate(ApiKeyCreateArgs{"prod", "payments", "api", 0});
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto stored = store_->GetApiKey(key->id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->org, "tenant-a");
  // Another organisation: the server's "not found", carried through.
  net::TlsClientConfig tls_b;
  tls_b.ca_pem = pki_->ca_cert_pem();
  tls_b.client_cert_pem = cert->cert_pem;
  tls_b.client_key_pem = SecretBytes::CopyFrom(cert->key_pem.RevealString());
  auto other = ConnectAdminHttps(url, tls_b, "tenant-b");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->ClusterList().status().code(), Code::kNotFound);
  // No client certificate: refused before any request.
  net::TlsClientConfig anonymous;
  anonymous.ca_pem = pki_->ca_cert_pem();
  EXPECT_EQ(ConnectAdminHttps(url, anonymous, "").status().code(), Code::kInvalidArgument);
}

TEST_F(AdminHttpsTest, AdminApiRequiresMutualTls) {
  AdminHttpsConfig config;
  config.tls.cert_chain_pem = pki_->server().cert_pem;
  config.tls.key_pem = SecretBytes::CopyFrom(pki_->server().key_pem.RevealString());
  EXPECT_EQ(StartAdminHttpsServer(std::move(config), *handler_).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace astis::admin
