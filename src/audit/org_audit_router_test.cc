// OrgAuditRouter: each organisation's decisions in its own trail, each
// trail verifying on its own (docs/tenancy.md "Audit trails").
#include "audit/org_audit_router.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "common/testing/temp_dir.h"

namespace astis::audit {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

AuditEvent Event(std::string org, std::string cluster) {
  AuditEvent e;
  e.event = "unwrap";
  e.org = std::move(org);
  e.cluster = std::move(cluster);
  e.namespace_ = "payments";
  return e;
}

class OrgAuditRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    path_ = tmp_.path() + "/audit.log";
    auto log = FileAuditLog::Open(path_, clock_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    main_ = std::move(log).value();
    router_ = std::make_unique<OrgAuditRouter>(*main_, path_, clock_);
  }

  test::TempDir tmp_{"astis-org-audit"};
  FakeClock clock_{1'800'000'000};
  std::string path_;
  std::unique_ptr<FileAuditLog> main_;
  std::unique_ptr<OrgAuditRouter> router_;
};

TEST_F(OrgAuditRouterTest, EachOrganizationGetsItsOwnTrail) {
  ASSERT_TRUE(router_->Append(Event("", "prod")).ok());
  ASSERT_TRUE(router_->Append(Event("tenant-a", "prod")).ok());
  ASSERT_TRUE(router_->Append(Event("tenant-b", "prod")).ok());
  ASSERT_TRUE(router_->AppendDeferringSync(Event("tenant-a", "prod")).ok());
  ASSERT_TRUE(router_->Append(Event("tenant-a", "prod")).ok());

  const std::string a = Slurp(OrgTrailPath(path_, "tenant-a"));
  const std::string b = Slurp(OrgTrailPath(path_, "tenant-b"));
  const std::string main = Slurp(path_);
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 3);
  EXPECT_EQ(std::count(b.begin(), b.end(), '\n'), 1);
  EXPECT_EQ(std::count(main.begin(), main.end(), '\n'), 1);
  EXPECT_EQ(a.find("tenant-b"), std::string::npos) << "A's trail holds a line of B";
  EXPECT_EQ(b.find("tenant-a"), std::string::npos) << "B's trail holds a line of A";
  EXPECT_EQ(main.find("tenant-"), std::string::npos);
  EXPECT_NE(a.find(R"("org":"tenant-a")"), std::string::npos);

  // Each trail is its own chain, from genesis, and verifies alone.
  for (const std::string& p : {path_, OrgTrailPath(path_, "tenant-a"), OrgTrailPath(path_, "tenant-b")}) {
    auto report = VerifyAuditLog(p);
    ASSERT_TRUE(report.ok()) << p;
    EXPECT_TRUE(report->ok) << p << ": " << report->problem;
  }
  auto ra = VerifyAuditLog(OrgTrailPath(path_, "tenant-a"));
  EXPECT_EQ(ra->last_seq, 3u);

  struct stat st {};
  ASSERT_EQ(::stat(OrgTrailPath(path_, "tenant-a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((path_ + ".orgs").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

// Stats adds up the main log and every organisation's trail.
TEST_F(OrgAuditRouterTest, StatsSumEveryTrail) {
  ASSERT_TRUE(router_->Append(Event("", "prod")).ok());
  ASSERT_TRUE(router_->Append(Event("tenant-a", "prod")).ok());
  ASSERT_TRUE(router_->AppendDeferringSync(Event("tenant-b", "prod")).ok());
  ASSERT_TRUE(router_->Append(Event("tenant-b", "prod")).ok());
  std::optional<AuditStats> stats = router_->Stats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->lines, 4u);
  EXPECT_EQ(stats->syncs, 3u);  // one per trail: B's deferred line rode B's next sync
}

TEST_F(OrgAuditRouterTest, ContinuesAnOrganizationsChainAfterRestart) {
  ASSERT_TRUE(router_->Append(Event("tenant-a", "prod")).ok());
  router_.reset();
  router_ = std::make_unique<OrgAuditRouter>(*main_, path_, clock_);
  ASSERT_TRUE(router_->Append(Event("tenant-a", "prod")).ok());
  auto report = VerifyAuditLog(OrgTrailPath(path_, "tenant-a"));
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->last_seq, 2u);
}

TEST_F(OrgAuditRouterTest, RefusesOrgThatIsNotALabel) {
  for (const char* org : {"../escape", "Tenant", "a/b", ".hidden"}) {
    Status st = router_->Append(Event(org, "prod"));
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << org;
  }
  EXPECT_FALSE(std::filesystem::exists(path_ + ".orgs")) << "a refused event created a trail";
  EXPECT_TRUE(Slurp(path_).empty());
}


// With no main file (audit_sink: stdout), every organisation's chain goes to
// the one stream; split by "org", each part verifies on its own.
TEST(OrgAuditRouterStreamTest, StreamOnlyKeepsOneChainPerOrg) {
  test::TempDir tmp{"astis-org-audit-stream"};
  ASSERT_FALSE(tmp.path().empty());
  const std::string capture = tmp.path() + "/stdout";
  int stream = ::open(capture.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(stream, 0);
  FakeClock clock{1'800'000'000};
  FileAuditOptions options;
  options.stream_fd = stream;
  {
    auto main = FileAuditLog::Open("", clock, options);
    ASSERT_TRUE(main.ok()) << main.status().ToString();
    OrgAuditRouter router(**main, "", clock, options);
    for (const char* org : {"acme", "", "globex", "acme", ""}) ASSERT_TRUE(router.Append(Event(org, "c1")).ok());
  }
  ::close(stream);
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/.orgs"));
  std::map<std::string, std::string> parts;
  std::istringstream in(Slurp(capture));
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find("\"org\":\"");
    const std::string org = at == std::string::npos ? "" : line.substr(at + 7, line.find('"', at + 7) - at - 7);
    parts[org] += line + "\n";
  }
  ASSERT_EQ(parts.size(), 3u);
  for (const auto& [org, text] : parts) {
    const std::string file = tmp.path() + "/part-" + (org.empty() ? "main" : org);
    std::ofstream(file, std::ios::binary) << text;
    auto report = VerifyAuditLog(file);
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok) << org << ": " << report->problem;
    EXPECT_EQ(report->lines, org == "globex" ? 1u : 2u) << org;
  }
}

}  // namespace
}  // namespace astis::audit
