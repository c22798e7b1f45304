#include "cvs/key_management.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "capsule/seal.h"
#include "common/testing/temp_dir.h"
#include "cvs/cvs_test_util.h"
#include "cvs/run.h"
#include "cvs/testing/verified_scope.h"

namespace astis::cvs {
namespace {

using testing::BindingFor;
using testing::NewOrgKey;
using testing::SealTo;
using testing::SetOf;

class KeyManagementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path();
    path_ = dir_ + "/org-keys.json";
  }

  // WriteKeyFile writes a single private JWK (as `astis keygen` does), 0600.
  void WriteKeyFile(const capsule::OrgPrivateKey& key) {
    std::ofstream(path_) << key.ToPrivateJwk().dump();
    std::filesystem::permissions(path_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  std::string ReadFile() {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  FakeClock clock_{1764115200};
  VerifiedScope scope_ = testing::TestScope("prod-eu1", "payments", "api");
  test::TempDir tmp_{"astis-keys"};
  std::string dir_;
  std::string path_;
};

TEST_F(KeyManagementTest, RotateKeepsRetired) {
  capsule::OrgPrivateKey first = NewOrgKey();
  const std::string first_kid = first.kid();
  capsule::SealedValue old_value = SealTo(first.public_key(), BindingFor(scope_), "before", clock_);
  WriteKeyFile(first);

  auto r1 = RotateOrgKeys(path_, DefaultRandom());
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(r1->previous_kid, first_kid);
  EXPECT_NE(r1->new_kid, first_kid);
  EXPECT_EQ(r1->retired_keys, 1u);
  EXPECT_FALSE(r1->new_public_jwk.contains("d"));
  EXPECT_EQ(r1->new_public_jwk["kid"], r1->new_kid);

  auto r2 = RotateOrgKeys(path_, DefaultRandom());
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->previous_kid, r1->new_kid);
  EXPECT_EQ(r2->retired_keys, 2u);

  auto set = capsule::OrgKeySet::LoadFile(path_);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->size(), 3u);
  EXPECT_EQ(set->active().kid(), r2->new_kid);
  EXPECT_NE(set->Find(first_kid), nullptr);
  EXPECT_NE(set->Find(r1->new_kid), nullptr);
  // A value sealed before both rotations still opens with the retired key.
  auto dek = capsule::OpenCapsule(*set, old_value.capsule());
  ASSERT_TRUE(dek.ok());
  auto pt = capsule::DecryptValue(*dek, old_value);
  ASSERT_TRUE(pt.ok());
  EXPECT_EQ(pt->RevealString(), "before");

  struct stat st{};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Exactly one active key is written, and no temporary file is left.
  const std::string text = ReadFile();
  size_t active = 0;
  for (size_t at = text.find("\"active\""); at != std::string::npos; at = text.find("\"active\"", at + 1)) ++active;
  EXPECT_EQ(active, 1u);
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1u);
}

TEST_F(KeyManagementTest, RotateRefusesGroupReadableFile) {
  WriteKeyFile(NewOrgKey());
  std::filesystem::permissions(path_, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  // Group read is accepted only on a root-owned file (common/file_mode.h):
  // as root, hand the file to an ordinary user first.
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(path_.c_str(), 65534, 65534), 0);
  }
  const std::string before = ReadFile();
  auto r = RotateOrgKeys(path_, DefaultRandom());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(ReadFile(), before);
}

TEST_F(KeyManagementTest, RotateRefusesInvalidKeySet) {
  std::ofstream(path_) << R"({"keys":[]})";
  std::filesystem::permissions(path_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto r = RotateOrgKeys(path_, DefaultRandom());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ReadFile(), R"({"keys":[]})");
}

TEST_F(KeyManagementTest, ResealOpensWithNewKey) {
  capsule::OrgPrivateKey old_key = NewOrgKey();
  capsule::OrgPrivateKey new_key = NewOrgKey();
  const std::string old_kid = old_key.kid();
  const std::string new_kid = new_key.kid();
  capsule::SealedValue a = SealTo(old_key.public_key(), BindingFor(scope_, "password"), "alpha", clock_);
  capsule::SealedValue b = SealTo(old_key.public_key(), BindingFor(scope_, "username"), "bravo", clock_);
  capsule::SealedValue c = SealTo(new_key.public_key(), BindingFor(scope_, "token"), "charlie", clock_);
  std::vector<std::string> values = {a.ToString(), b.ToString(), c.ToString()};

  // Keep a copy of the new key alone, to prove the old key is not needed.
  auto new_only = capsule::OrgKeySet::ParseText(new_key.ToPrivateJwk().dump());
  ASSERT_TRUE(new_only.ok());
  std::vector<capsule::OrgPrivateKey> retired;
  retired.push_back(std::move(old_key));
  capsule::OrgKeySet rotated = SetOf(std::move(new_key), std::move(retired));

  clock_.Advance(3600);
  auto out = Reseal(values, rotated, DefaultRandom(), clock_);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 3u);
  const std::vector<std::string> expected = {"alpha", "bravo", "charlie"};
  const std::vector<std::string> keys = {"password", "username", "token"};
  for (size_t i = 0; i < 3; ++i) {
    const ResealedValue& r = (*out)[i];
    EXPECT_EQ(r.changed, i < 2) << i;
    EXPECT_EQ(r.previous_kid, i < 2 ? old_kid : new_kid);
    auto parsed = capsule::SealedValue::Parse(r.value);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->capsule().kid(), new_kid);
    EXPECT_EQ(parsed->capsule().binding(), BindingFor(scope_, keys[i]));
    auto dek = capsule::OpenCapsule(*new_only, parsed->capsule());
    ASSERT_TRUE(dek.ok()) << i;
    auto pt = capsule::DecryptValue(*dek, *parsed);
    ASSERT_TRUE(pt.ok()) << i;
    EXPECT_EQ(pt->RevealString(), expected[i]);
  }
  EXPECT_EQ((*out)[2].value, values[2]);  // already on the active key: untouched
  // A re-sealed value has a fresh capsule, IV and ciphertext.
  auto resealed_a = capsule::SealedValue::Parse((*out)[0].value);
  ASSERT_TRUE(resealed_a.ok());
  EXPECT_NE(resealed_a->iv(), a.iv());
  EXPECT_NE(resealed_a->capsule().hash(), a.capsule().hash());
  EXPECT_EQ(resealed_a->capsule().iat(), 1764115200 + 3600);
}

TEST_F(KeyManagementTest, ResealRejectsUnknownKey) {
  capsule::OrgPrivateKey stranger = NewOrgKey();
  const std::string secret = "plaintext-never-in-errors";
  std::vector<std::string> values = {
      SealTo(stranger.public_key(), BindingFor(scope_), secret, clock_).ToString()};
  auto out = Reseal(values, SetOf(NewOrgKey()), DefaultRandom(), clock_);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kUnknownKey);
  EXPECT_NE(out.status().message().find("#0"), std::string::npos);
  EXPECT_EQ(out.status().message().find(secret), std::string::npos);
  EXPECT_EQ(out.status().message().find(values[0]), std::string::npos);
}

TEST_F(KeyManagementTest, ResealRejectsTamperedValue) {
  capsule::OrgPrivateKey key = NewOrgKey();
  capsule::SealedValue v = SealTo(key.public_key(), BindingFor(scope_), "value", clock_);
  std::vector<uint8_t> ct = v.ciphertext();
  ct[0] ^= 0x80;
  auto tampered = capsule::SealedValue::Create(v.capsule(), v.iv(), ct);
  ASSERT_TRUE(tampered.ok());
  capsule::OrgPrivateKey next = NewOrgKey();
  std::vector<capsule::OrgPrivateKey> retired;
  retired.push_back(std::move(key));
  std::vector<std::string> values = {tampered->ToString(), "astis.v1.not-a-value"};
  auto out = Reseal(values, SetOf(std::move(next), std::move(retired)), DefaultRandom(), clock_);
  EXPECT_EQ(out.status().code(), Code::kCrypto);
  std::vector<std::string> malformed = {"astis.v1.not-a-value"};
  auto bad = Reseal(malformed, SetOf(NewOrgKey()), DefaultRandom(), clock_);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

// PrivateScalars returns every "d" of the key set file at path (b64u, as
// stored), to search answers, logs and audit lines for them.
std::vector<std::string> PrivateScalars(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<std::string> out;
  auto root = ParseJsonObject(ss.str());
  if (!root.ok() || !root->contains("keys")) return out;
  for (const Json& k : (*root)["keys"]) out.push_back(k["d"].get<std::string>());
  return out;
}

TEST_F(KeyManagementTest, CreateOrgKeySetAnswersOnlyThePublicKey) {
  auto created = CreateOrgKeySet(dir_, "tenant-a", DefaultRandom());
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->org, "tenant-a");
  EXPECT_EQ(created->public_jwk["kid"], created->kid);
  EXPECT_FALSE(created->public_jwk.contains("d"));
  const std::string file = OrgKeySetPath(dir_, "tenant-a");
  EXPECT_EQ(file, dir_ + "/tenant-a.json");
  struct stat st{};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto set = capsule::OrgKeySet::LoadFile(file);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->size(), 1u);
  EXPECT_EQ(set->active().kid(), created->kid);
  const std::vector<std::string> d = PrivateScalars(file);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(created->public_jwk.dump().find(d[0]), std::string::npos);
  // Never replaced: a second create is refused and the file is unchanged.
  auto again = CreateOrgKeySet(dir_, "tenant-a", DefaultRandom());
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(PrivateScalars(file), d);
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1u);  // no temporary file left
}

TEST_F(KeyManagementTest, CreateOrgKeySetRefusesBadOrgName) {
  for (const char* org : {"", "../etc", "a/b", "Tenant", "a.b", ".hidden", "-a"}) {
    EXPECT_EQ(CreateOrgKeySet(dir_, org, DefaultRandom()).status().code(), Code::kInvalidArgument) << org;
    EXPECT_EQ(RotateOrgKeySet(dir_, org, DefaultRandom()).status().code(), Code::kInvalidArgument) << org;
  }
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 0u);
}

TEST_F(KeyManagementTest, RotateOrgKeySetKeepsRetired) {
  EXPECT_EQ(RotateOrgKeySet(dir_, "tenant-a", DefaultRandom()).status().code(), Code::kNotFound);
  auto created = CreateOrgKeySet(dir_, "tenant-a", DefaultRandom());
  ASSERT_TRUE(created.ok());
  auto rotated = RotateOrgKeySet(dir_, "tenant-a", DefaultRandom());
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_EQ(rotated->previous_kid, created->kid);
  EXPECT_EQ(rotated->retired_keys, 1u);
  EXPECT_FALSE(rotated->public_jwk.contains("d"));
  auto sets = LoadOrgKeyDirectory(dir_);
  ASSERT_TRUE(sets.ok()) << sets.status().ToString();
  ASSERT_EQ(sets->count("tenant-a"), 1u);
  EXPECT_EQ(sets->at("tenant-a").active().kid(), rotated->kid);
  EXPECT_NE(sets->at("tenant-a").Find(created->kid), nullptr);
  for (const std::string& d : PrivateScalars(OrgKeySetPath(dir_, "tenant-a")))
    EXPECT_EQ(rotated->public_jwk.dump().find(d), std::string::npos);
}

TEST_F(KeyManagementTest, LoadOrgKeyDirectoryRefusesUnsafeFiles) {
  ASSERT_TRUE(CreateOrgKeySet(dir_, "tenant-a", DefaultRandom()).ok());
  ASSERT_TRUE(CreateOrgKeySet(dir_, "tenant-b", DefaultRandom()).ok());
  // Leftovers of an interrupted write and dot files are skipped.
  std::ofstream(dir_ + "/tenant-c.json.tmp.AbC123") << "partial";
  std::ofstream(dir_ + "/.keep") << "";
  auto ok = LoadOrgKeyDirectory(dir_);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->size(), 2u);

  const std::string secret_text = "SECRET-CONTENT-not-json";
  struct Case {
    const char* name;
    std::function<std::string()> make;  // returns the file it planted
  };
  auto write = [&](const std::string& name, const std::string& text, std::filesystem::perms perms) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    std::filesystem::permissions(path, perms);
    return path;
  };
  const auto kOwner = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;
  std::vector<Case> cases = {
      {"bad name", [&] { return write("Tenant_X.json", "{}", kOwner); }},
      {"not .json", [&] { return write("tenant-x.yaml", "{}", kOwner); }},
      {"readable by others",
       [&] {
         std::filesystem::copy_file(OrgKeySetPath(dir_, "tenant-a"), dir_ + "/tenant-x.json");
         std::filesystem::permissions(dir_ + "/tenant-x.json", kOwner | std::filesystem::perms::others_read);
         return dir_ + "/tenant-x.json";
       }},
      {"not a key set", [&] { return write("tenant-x.json", secret_text, kOwner); }},
      {"symlink",
       [&] {
         std::filesystem::create_symlink(OrgKeySetPath(dir_, "tenant-a"), dir_ + "/tenant-x.json");
         return dir_ + "/tenant-x.json";
       }},
      {"directory",
       [&] {
         std::filesystem::create_directory(dir_ + "/tenant-x.json");
         return dir_ + "/tenant-x.json";
       }},
  };
  for (const Case& c : cases) {
    const std::string planted = c.make();
    auto r = LoadOrgKeyDirectory(dir_);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_NE(r.status().message().find(planted), std::string::npos) << c.name << ": " << r.status().ToString();
    EXPECT_EQ(r.status().message().find(secret_text), std::string::npos) << c.name;
    std::filesystem::remove(planted);
  }
  // A directory others may write to is refused as a whole.
  std::filesystem::permissions(dir_, std::filesystem::perms::others_write, std::filesystem::perm_options::add);
  EXPECT_EQ(LoadOrgKeyDirectory(dir_).status().code(), Code::kPermissionDenied);
  std::filesystem::permissions(dir_, std::filesystem::perms::others_write, std::filesystem::perm_options::remove);
  EXPECT_FALSE(LoadOrgKeyDirectory(dir_ + "/missing").ok());
}

TEST_F(KeyManagementTest, KeyDirectoryCustodianRefreshSeesNewFiles) {
  CvsService service(OrgKeySets{}, DefaultRandom());
  KeyDirectoryCustodian custodian(dir_, service, DefaultRandom());
  ASSERT_TRUE(custodian.Refresh().ok());
  EXPECT_FALSE(service.HasOrg("tenant-a"));
  // Created through the custodian: in the CVS at once.
  auto a = custodian.CreateOrgKey("tenant-a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(service.HasOrg("tenant-a"));
  EXPECT_EQ(custodian.CreateOrgKey("tenant-a").status().code(), Code::kAlreadyExists);
  // Written by another process (the CLI): in the CVS after Refresh.
  ASSERT_TRUE(CreateOrgKeySet(dir_, "tenant-b", DefaultRandom()).ok());
  EXPECT_FALSE(service.HasOrg("tenant-b"));
  ASSERT_TRUE(custodian.Refresh().ok());
  EXPECT_TRUE(service.HasOrg("tenant-b"));
  // A rotation swaps the new set in: a value sealed to the new key opens.
  auto rotated = custodian.RotateOrgKey("tenant-a");
  ASSERT_TRUE(rotated.ok());
  auto pub = capsule::OrgPublicKey::FromJwk(rotated->public_jwk);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  const VerifiedScope in_a = testing::TestScope("tenant-a", "prod", "payments", "api");
  capsule::SealedValue v = SealTo(*pub, BindingFor(in_a), "after-rotate", clock_);
  testing::Pod pod;
  std::vector<std::vector<uint8_t>> caps = {testing::CapsuleBytes(v)};
  auto results = service.Rewrap(in_a, pod.recipient(), "s-1", caps);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(pod.Decrypt(v, (*results)[0], "s-1"), "after-rotate");
  // A bad file makes Refresh fail and changes nothing.
  std::ofstream(dir_ + "/tenant-x.json") << "{}";
  std::filesystem::permissions(dir_ + "/tenant-x.json",
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_FALSE(custodian.Refresh().ok());
  EXPECT_FALSE(service.HasOrg("tenant-x"));
}

TEST_F(KeyManagementTest, RotateKeepsP256Suite) {
  // docs/protocol.md §2: sealing uses the active key's suite, so a rotation
  // keeps it (an HSM-backed organisation stays on P-256).
  auto first = capsule::OrgPrivateKey::Generate(capsule::OrgKeySuite::kP256, DefaultRandom());
  ASSERT_TRUE(first.ok());
  WriteKeyFile(*first);
  auto r = RotateOrgKeys(path_, DefaultRandom());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->new_public_jwk["crv"], "P-256");
  auto set = capsule::OrgKeySet::LoadFile(path_);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->active().suite(), capsule::OrgKeySuite::kP256);
}

// OpenedIn opens a resealed value as a session in cluster would: scope, then key.
std::string OpenedIn(const capsule::OrgKeySet& keys, const std::string& value, const std::string& cluster) {
  auto parsed = capsule::SealedValue::Parse(value);
  if (!parsed.ok()) return "<parse>";
  if (!capsule::CheckCapsuleScope(parsed->capsule(), cluster, "payments", "api").ok()) return "<capsule_scope>";
  auto dek = capsule::OpenCapsule(keys, parsed->capsule());
  if (!dek.ok()) return "<open>";
  auto pt = capsule::DecryptValue(*dek, *parsed);
  return pt.ok() ? std::string(pt->RevealString()) : "<decrypt>";
}

TEST_F(KeyManagementTest, ResealAddsCluster) {
  capsule::OrgPrivateKey key = NewOrgKey();
  capsule::SealedValue v = SealTo(key.public_key(), BindingFor(scope_), "dr-ready", clock_);
  capsule::OrgKeySet keys = SetOf(std::move(key));
  EXPECT_EQ(OpenedIn(keys, v.ToString(), "dr-1"), "<capsule_scope>");

  ClusterChange add{{"dr-1"}, {}};
  auto out = Reseal(std::vector<std::string>{v.ToString()}, keys, DefaultRandom(), clock_, add);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_TRUE((*out)[0].changed);
  auto parsed = capsule::SealedValue::Parse((*out)[0].value);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->capsule().version(), 2);
  EXPECT_EQ(parsed->capsule().binding().clusters, (std::vector<std::string>{"dr-1", "prod-eu1"}));
  EXPECT_EQ(OpenedIn(keys, (*out)[0].value, "dr-1"), "dr-ready");
  EXPECT_EQ(OpenedIn(keys, (*out)[0].value, "prod-eu1"), "dr-ready");
  EXPECT_EQ(OpenedIn(keys, (*out)[0].value, "staging"), "<capsule_scope>");

  // Adding it again changes nothing: a re-run is harmless.
  auto again = Reseal(std::vector<std::string>{(*out)[0].value}, keys, DefaultRandom(), clock_, add);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE((*again)[0].changed);
  EXPECT_EQ((*again)[0].value, (*out)[0].value);
}

TEST_F(KeyManagementTest, ResealRemovesClusterBackToV1) {
  capsule::OrgPrivateKey key = NewOrgKey();
  auto b = capsule::Binding::ForClusters({"prod-eu1", "dr-1"}, "payments", "api", "db-creds", "password").value();
  capsule::SealedValue v = SealTo(key.public_key(), b, "moving", clock_);
  capsule::OrgKeySet keys = SetOf(std::move(key));
  auto out = Reseal(std::vector<std::string>{v.ToString()}, keys, DefaultRandom(), clock_, ClusterChange{{}, {"dr-1"}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  auto parsed = capsule::SealedValue::Parse((*out)[0].value);
  ASSERT_TRUE(parsed.ok());
  // One cluster left: written as v1, which every 1.0 opener reads.
  EXPECT_EQ(parsed->capsule().version(), 1);
  EXPECT_EQ(parsed->capsule().binding().cluster, "prod-eu1");
  EXPECT_EQ(OpenedIn(keys, (*out)[0].value, "prod-eu1"), "moving");
  EXPECT_EQ(OpenedIn(keys, (*out)[0].value, "dr-1"), "<capsule_scope>");
}

TEST_F(KeyManagementTest, ResealRefusesRemovingLastCluster) {
  capsule::OrgPrivateKey key = NewOrgKey();
  capsule::SealedValue v = SealTo(key.public_key(), BindingFor(scope_), "keep", clock_);
  capsule::OrgKeySet keys = SetOf(std::move(key));
  auto out =
      Reseal(std::vector<std::string>{v.ToString()}, keys, DefaultRandom(), clock_, ClusterChange{{}, {"prod-eu1"}});
  EXPECT_EQ(out.status().code(), Code::kInvalidArgument);
}

TEST_F(KeyManagementTest, ResealRefusesInvalidAddedCluster) {
  capsule::OrgPrivateKey key = NewOrgKey();
  capsule::SealedValue v = SealTo(key.public_key(), BindingFor(scope_), "keep", clock_);
  capsule::OrgKeySet keys = SetOf(std::move(key));
  for (const char* bad : {"Prod", "a,b", "", "a_b"}) {
    auto out =
        Reseal(std::vector<std::string>{v.ToString()}, keys, DefaultRandom(), clock_, ClusterChange{{bad}, {}});
    EXPECT_EQ(out.status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST_F(KeyManagementTest, ResealRefusesSeventeenClusters) {
  capsule::OrgPrivateKey key = NewOrgKey();
  capsule::SealedValue v = SealTo(key.public_key(), BindingFor(scope_), "keep", clock_);
  capsule::OrgKeySet keys = SetOf(std::move(key));
  ClusterChange add;
  for (int i = 0; i < 16; ++i) add.add.push_back("c" + std::to_string(i));
  auto out = Reseal(std::vector<std::string>{v.ToString()}, keys, DefaultRandom(), clock_, add);
  EXPECT_EQ(out.status().code(), Code::kInvalidArgument);
}

TEST(CvsProcessConfigTest, CvsProcessConfigOrgKeys) {
  const std::string base =
      "tls:\n  cert_file: /c.pem\n  key_file: /k.pem\n  client_ca_file: /ca.pem\n"
      "  edge_client_cert_sha256: " + std::string(64, 'a') + "\naudit_log: /a.jsonl\n";
  auto file = ParseCvsProcessConfig(base + "org_keys: /keys.json\n");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->org_keys, "/keys.json");
  EXPECT_TRUE(file->org.empty());
  auto named = ParseCvsProcessConfig(base + "org_keys: /keys.json\norg: tenant-b\n");
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_EQ(named->org, "tenant-b");
  auto dir = ParseCvsProcessConfig(base + "org_keys_dir: /var/lib/astis/org-keys\n");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(dir->org_keys_dir, "/var/lib/astis/org-keys");
  struct Bad {
    std::string extra;
    std::string field;
  };
  for (const Bad& b : std::vector<Bad>{
           {"", "org_keys"},
           {"org_keys: /k.json\norg_keys_dir: /d\n", "org_keys"},
           {"org_keys_dir: /d\norg: tenant-b\n", "org"},
           {"org_keys: /k.json\norg: Tenant_B\n", "org"},
           {"org_keys: /k.json\norg: [a]\n", "org"},
           {"org_keys_dir: [a]\n", "org_keys_dir"},
       }) {
    auto r = ParseCvsProcessConfig(base + b.extra);
    ASSERT_FALSE(r.ok()) << b.extra;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind(b.field, 0), 0u) << r.status().message();
  }
}

// The pkcs11 block (docs/hsm.md): module and pin_file required,
// max_sessions in [1, 1024], unknown keys refused; absent means no token.
TEST(CvsProcessConfigTest, CvsProcessConfigLog) {
  const std::string base =
      "tls:\n  cert_file: /c.pem\n  key_file: /k.pem\n  client_ca_file: /ca.pem\n"
      "  edge_client_cert_sha256: " + std::string(64, 'a') + "\naudit_log: /a.jsonl\norg_keys: /keys.json\n";
  auto d = ParseCvsProcessConfig(base);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->log_format, "text");
  auto j = ParseCvsProcessConfig(base + "log: {format: json, level: debug}\n");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(j->log_format, "json");
  EXPECT_EQ(j->log_level, "debug");
  for (const char* bad : {"log: {format: xml}\n", "log: {level: chatty}\n", "log: {file: /x}\n"}) {
    auto c = ParseCvsProcessConfig(base + bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("log"), std::string::npos) << c.status().message();
  }
}

TEST(CvsProcessConfigTest, CvsProcessConfigPkcs11) {
  const std::string base =
      "tls:\n  cert_file: /c.pem\n  key_file: /k.pem\n  client_ca_file: /ca.pem\n"
      "  edge_client_cert_sha256: " + std::string(64, 'a') + "\naudit_log: /a.jsonl\norg_keys: /keys.json\n";
  auto none = ParseCvsProcessConfig(base);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->pkcs11.has_value());
  auto full = ParseCvsProcessConfig(base +
                                    "pkcs11:\n  module: /usr/lib/softhsm/libsofthsm2.so\n"
                                    "  pin_file: /etc/astis/hsm.pin\n  max_sessions: 16\n");
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  ASSERT_TRUE(full->pkcs11.has_value());
  EXPECT_EQ(full->pkcs11->module_path, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(full->pkcs11->pin_file, "/etc/astis/hsm.pin");
  EXPECT_EQ(full->pkcs11->max_sessions, 16u);
  auto defaults = ParseCvsProcessConfig(base + "pkcs11: {module: /m.so, pin_file: /p}\n");
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->pkcs11->max_sessions, 8u);
  struct Bad {
    std::string block;
    std::string field;
  };
  for (const Bad& b : std::vector<Bad>{
           {"pkcs11: /m.so\n", "pkcs11"},
           {"pkcs11: {pin_file: /p}\n", "pkcs11.module"},
           {"pkcs11: {module: /m.so}\n", "pkcs11.pin_file"},
           {"pkcs11: {module: /m.so, pin_file: /p, pin: \"1234\"}\n", "pkcs11.pin"},
           {"pkcs11: {module: /m.so, pin_file: /p, max_sessions: 0}\n", "pkcs11.max_sessions"},
           {"pkcs11: {module: /m.so, pin_file: /p, max_sessions: 1025}\n", "pkcs11.max_sessions"},
           {"pkcs11: {module: /m.so, pin_file: /p, max_sessions: -1}\n", "pkcs11.max_sessions"},
           {"pkcs11: {module: /m.so, pin_file: /p, max_sessions: [1]}\n", "pkcs11.max_sessions"},
           {"pkcs11: {module: [a], pin_file: /p}\n", "pkcs11.module"},
       }) {
    auto r = ParseCvsProcessConfig(base + b.block);
    ASSERT_FALSE(r.ok()) << b.block;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind(b.field, 0), 0u) << r.status().message();
    EXPECT_EQ(r.status().message().find("1234"), std::string::npos);
  }
}

}  // namespace
}  // namespace astis::cvs
