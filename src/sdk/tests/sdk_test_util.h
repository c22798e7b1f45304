// Shared fixture for SDK tests (test-only): a FakeEdge over HTTPS with a
// run-time test PKI, a temp dir with a kubelet-style projected token
// (token -> ..data/token, ..data -> ..<ts>) and mounted secret files, a
// FakeClock, a recording Sleeper and an injected environment.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "net/testing/test_pki.h"
#include "sdk/engine.h"
#include "sdk/tests/fake_edge.h"

namespace astis::sdkcore::testing {

// RecordingSleeper records requested waits, returns at once, and runs the
// OnSleep hook (if any) with the number of waits so far, outside its lock.
class RecordingSleeper final : public Sleeper {
 public:
  void Sleep(std::chrono::milliseconds d) override {
    std::function<void(size_t)> hook;
    size_t n = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      waits_.push_back(d);
      n = waits_.size();
      hook = hook_;
    }
    if (hook) hook(n);
  }
  void OnSleep(std::function<void(size_t)> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    hook_ = std::move(hook);
  }
  std::vector<std::chrono::milliseconds> waits() {
    std::lock_guard<std::mutex> lock(mu_);
    return waits_;
  }

 private:
  std::mutex mu_;
  std::vector<std::chrono::milliseconds> waits_;
  std::function<void(size_t)> hook_;
};

// SmapsField returns the value of `field` ("VmFlags:", "Locked:") of the
// /proc/self/smaps mapping holding p ("" when not found).
inline std::string SmapsField(const void* p, const std::string& field) {
  std::ifstream smaps("/proc/self/smaps");
  const auto addr = reinterpret_cast<uintptr_t>(p);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;  // NOLINT(google-runtime-int): sscanf
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2) {
      inside = addr >= lo && addr < hi;
      continue;
    }
    if (inside && line.rfind(field, 0) == 0) return line.substr(field.size());
  }
  return "";
}

inline void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << contents;
  ASSERT_TRUE(f.good()) << path;
}

// PlainText returns the plaintext of r, or a description of its error.
inline std::string PlainText(const Result<SecretBytes>& r) {
  return r.ok() ? std::string(r->RevealString()) : "<error " + r.status().ToString() + ">";
}

class SdkFixture : public ::testing::Test {
 protected:
  static constexpr int64_t kStart = 1'800'000'000;

  void SetUp() override {
    auto pki = net::testing::TestPki::Create();
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    pki_ = std::make_unique<net::testing::TestPki>(std::move(*pki));
    auto dir = net::testing::MakeTempDir();
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    ASSERT_TRUE(pki_->WriteFiles(dir_).ok());
    edge_ = std::make_unique<FakeEdge>(clock_, *pki_);
    ASSERT_TRUE(edge_->Start().ok());

    secrets_dir_ = dir_ + "/secrets";
    std::filesystem::create_directories(secrets_dir_);
    token_dir_ = dir_ + "/token";
    std::filesystem::create_directories(token_dir_);
    SwapToken("token-one");
    std::filesystem::create_symlink("..data/token", token_dir_ + "/token");

    config_.edge_urls = {edge_->url()};
    config_.ca_file = dir_ + "/ca.pem";
    config_.token_path = token_dir_ + "/token";
    config_.secrets_dir = secrets_dir_;
    config_.rotation_seconds = 0;
    env_["ASTIS_API_KEY"] = kTestApiKey;
  }

  void TearDown() override {
    edge_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // SwapToken does what the kubelet does: write a new timestamped dir, then
  // atomically replace the ..data symlink.
  void SwapToken(const std::string& token) {
    const std::string ts = "..ts" + std::to_string(++token_serial_);
    std::filesystem::create_directories(token_dir_ + "/" + ts);
    WriteFile(token_dir_ + "/" + ts + "/token", token);
    std::filesystem::create_symlink(ts, token_dir_ + "/..data_tmp");
    std::filesystem::rename(token_dir_ + "/..data_tmp", token_dir_ + "/..data");
  }

  void PutSecret(const std::string& name, const std::string& plaintext) {
    WriteFile(secrets_dir_ + "/" + name, edge_->Seal(plaintext, name));
  }

  std::unique_ptr<Engine> MakeEngine() {
    EngineDeps deps;
    deps.clock = &clock_;
    deps.sleeper = &sleeper_;
    deps.env = [this](const std::string& name) -> std::optional<std::string> {
      std::lock_guard<std::mutex> lock(env_mu_);
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    auto engine = Engine::Create(config_, deps);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    return engine.ok() ? std::move(*engine) : nullptr;
  }

  static std::string Plain(const Result<SecretBytes>& r) { return PlainText(r); }

  FakeClock clock_{kStart};
  RecordingSleeper sleeper_;
  std::unique_ptr<net::testing::TestPki> pki_;
  std::unique_ptr<FakeEdge> edge_;
  std::string dir_, secrets_dir_, token_dir_;
  int token_serial_ = 0;
  SdkConfig config_;
  std::mutex env_mu_;
  std::map<std::string, std::string> env_;
};

}  // namespace astis::sdkcore::testing
