// Org key rotation without a restart: OrgKeyFileWatcher and PeriodicRefresh.
#include "cvs/key_file_watcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "common/testing/temp_dir.h"
#include "cvs/cvs_test_util.h"
#include "cvs/key_management.h"
#include "cvs/testing/verified_scope.h"

namespace astis::cvs {
namespace {

using testing::BindingFor;
using testing::NewOrgKey;
using testing::SealTo;
namespace fs = std::filesystem;

class OrgKeyFileWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = tmp_.path() + "/org-keys.json"; }

  // WriteSet replaces the key set file atomically (a new inode, as the
  // CLI's rotation and a kubelet Secret swap do): active first, then retired.
  void WriteSet(const capsule::OrgPrivateKey& active, const std::vector<const capsule::OrgPrivateKey*>& retired,
                fs::perms perms = fs::perms::owner_read | fs::perms::owner_write) {
    Json keys = Json::array();
    Json a = active.ToPrivateJwk();
    a["status"] = "active";
    keys.push_back(a);
    for (const capsule::OrgPrivateKey* r : retired) {
      Json j = r->ToPrivateJwk();
      j["status"] = "retired";
      keys.push_back(j);
    }
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << Json{{"keys", keys}}.dump();
    fs::permissions(tmp, perms);
    fs::rename(tmp, path_);
  }

  // Opens reports the rewrap outcome of v in the default organisation.
  Code Opens(CvsService& service, const capsule::SealedValue& v) {
    std::vector<std::vector<uint8_t>> caps = {testing::CapsuleBytes(v)};
    auto results = service.Rewrap(scope_, pod_.recipient(), "s-1", caps);
    if (!results.ok()) return results.status().code();
    if ((*results)[0].code != Code::kOk) return (*results)[0].code;
    return pod_.Decrypt(v, (*results)[0], "s-1").empty() ? Code::kInternal : Code::kOk;
  }

  FakeClock clock_{1764115200};
  VerifiedScope scope_ = testing::TestScope("prod-eu1", "payments", "api");
  testing::Pod pod_;
  test::TempDir tmp_{"astis-keywatch"};
  std::string path_;
};

// Test: OrgKeyFileWatcherTest.RotateThenRetireWithoutRestart: a new active
// key is used at once (the old one still opens while retired), then the
// old key, removed from the file, no longer opens: unknown_key.
TEST_F(OrgKeyFileWatcherTest, RotateThenRetireWithoutRestart) {
  capsule::OrgPrivateKey a = NewOrgKey();
  capsule::OrgPrivateKey b = NewOrgKey();
  const capsule::SealedValue va = SealTo(a.public_key(), BindingFor(scope_), "sealed to a", clock_);
  const capsule::SealedValue vb = SealTo(b.public_key(), BindingFor(scope_), "sealed to b", clock_);
  WriteSet(a, {});
  auto loaded = capsule::OrgKeySet::LoadFile(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  OrgKeySets sets;
  sets.emplace(std::string(kDefaultOrg), std::move(loaded).value());
  CvsService service(std::move(sets), DefaultRandom());
  OrgKeyFileWatcher watcher(path_, std::string(kDefaultOrg), service);
  EXPECT_TRUE(watcher.Refresh().ok());
  EXPECT_EQ(watcher.reloads(), 0u);
  EXPECT_EQ(Opens(service, va), Code::kOk);
  EXPECT_EQ(Opens(service, vb), Code::kUnknownKey);

  WriteSet(b, {&a});  // rotate: b active, a retired
  ASSERT_TRUE(watcher.Refresh().ok());
  EXPECT_EQ(watcher.reloads(), 1u);
  EXPECT_EQ(Opens(service, vb), Code::kOk);
  EXPECT_EQ(Opens(service, va), Code::kOk);

  WriteSet(b, {});  // retire a for good
  ASSERT_TRUE(watcher.Refresh().ok());
  EXPECT_EQ(Opens(service, vb), Code::kOk);
  EXPECT_EQ(Opens(service, va), Code::kUnknownKey);
}

// Test: OrgKeyFileWatcherTest.BadFileKeepsTheOldSet: a file that does not
// parse, or is readable by others, is refused (reported once) and the set
// being served stays.
TEST_F(OrgKeyFileWatcherTest, BadFileKeepsTheOldSet) {
  capsule::OrgPrivateKey a = NewOrgKey();
  const capsule::SealedValue va = SealTo(a.public_key(), BindingFor(scope_), "sealed to a", clock_);
  WriteSet(a, {});
  OrgKeySets sets;
  sets.emplace(std::string(kDefaultOrg), capsule::OrgKeySet::LoadFile(path_).value());
  CvsService service(std::move(sets), DefaultRandom());
  OrgKeyFileWatcher watcher(path_, std::string(kDefaultOrg), service);

  {
    std::ofstream(path_ + ".tmp") << "{\"keys\":[]}";
    fs::permissions(path_ + ".tmp", fs::perms::owner_read | fs::perms::owner_write);
    fs::rename(path_ + ".tmp", path_);
  }
  Status empty = watcher.Refresh();
  EXPECT_EQ(empty.code(), Code::kInvalidArgument);
  EXPECT_TRUE(watcher.Refresh().ok()) << "the same bad file is not retried";
  EXPECT_EQ(Opens(service, va), Code::kOk);

  capsule::OrgPrivateKey b = NewOrgKey();
  WriteSet(b, {&a}, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  Status wide = watcher.Refresh();
  EXPECT_EQ(wide.code(), Code::kPermissionDenied);
  EXPECT_EQ(wide.message().find("\"d\""), std::string::npos);
  EXPECT_EQ(watcher.reloads(), 0u);
  EXPECT_EQ(Opens(service, va), Code::kOk);

  fs::permissions(path_, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(watcher.Refresh(/*force=*/true).ok());  // SIGHUP
  EXPECT_EQ(watcher.reloads(), 1u);
}

// Test: OrgKeyFileWatcherTest.PeriodicRefreshPicksUpRotation.
TEST_F(OrgKeyFileWatcherTest, PeriodicRefreshPicksUpRotation) {
  capsule::OrgPrivateKey a = NewOrgKey();
  capsule::OrgPrivateKey b = NewOrgKey();
  const capsule::SealedValue vb = SealTo(b.public_key(), BindingFor(scope_), "sealed to b", clock_);
  WriteSet(a, {});
  OrgKeySets sets;
  sets.emplace(std::string(kDefaultOrg), capsule::OrgKeySet::LoadFile(path_).value());
  CvsService service(std::move(sets), DefaultRandom());
  OrgKeyFileWatcher watcher(path_, std::string(kDefaultOrg), service);
  std::atomic<int> reports{0};
  PeriodicRefresh poller([&] { return watcher.Refresh(); }, std::chrono::milliseconds(20),
                         [&](const Status&) { ++reports; });
  WriteSet(b, {&a});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (Opens(service, vb) != Code::kOk && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Opens(service, vb), Code::kOk);
  poller.Stop();
  EXPECT_EQ(reports.load(), 0);  // only changes of outcome are reported; all were OK
}

}  // namespace
}  // namespace astis::cvs
