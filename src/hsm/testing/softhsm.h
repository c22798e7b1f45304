// Test-only: a SoftHSM2 token in a private directory, a raw PKCS#11 session
// for tests that must look past hsm::Pkcs11Module, and the switch of the
// fault-injecting module (astis_pkcs11_faulty, testing/faulty_module.cc).
// Free of GoogleTest, so the benchmarks use it too. Product code never
// includes it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <p11-kit/pkcs11.h>

#include "common/status.h"
#include "hsm/pkcs11.h"

namespace astis::hsm::testing {

// kSoftHsmModule is where Debian's softhsm2 package puts the module.
inline constexpr const char* kSoftHsmModule = "/usr/lib/softhsm/libsofthsm2.so";

// SoftHsmAvailable reports whether kSoftHsmModule exists; tests skip (and
// say why) only when it does not. The package that installs it
// (softhsm2, scripts/install-deps.sh) installs softhsm2-util too.
bool SoftHsmAvailable();

// SoftHsmToken is a freshly initialised SoftHSM2 token: a private directory
// (mkdtemp) holding softhsm2.conf and the token store, SOFTHSM2_CONF set for
// this process, `softhsm2-util --init-token --free` run on it, and a 0600
// user PIN file. The destructor removes the directory and restores
// SOFTHSM2_CONF. One at a time per process (SOFTHSM2_CONF is process-wide,
// and SoftHSM2 reads it when the module is initialised).
class SoftHsmToken {
 public:
  static Result<std::unique_ptr<SoftHsmToken>> Create(std::string label = "astis-test");
  ~SoftHsmToken();
  SoftHsmToken(const SoftHsmToken&) = delete;
  SoftHsmToken& operator=(const SoftHsmToken&) = delete;

  const std::string& label() const { return label_; }
  const std::string& dir() const { return dir_; }
  const std::string& pin_file() const { return pin_file_; }
  // pin is the (test) user PIN the token was initialised with.
  static std::string_view pin();

  // Config is a Pkcs11Config for SoftHSM2 with this token's PIN file.
  Pkcs11Config Config(size_t max_sessions = 8) const;
  // KeyUri is "pkcs11:token=<label>;object=<object>".
  std::string KeyUri(std::string_view object) const;

 private:
  SoftHsmToken() = default;
  std::string label_;
  std::string dir_;
  std::string pin_file_;
  std::string old_conf_;
  bool had_conf_ = false;
};

// FaultyModule drives astis_pkcs11_faulty: the constructor points it at
// SoftHSM2 (ASTIS_PKCS11_FAULTY_TARGET) and a control file in dir
// (ASTIS_PKCS11_FAULTY_CONTROL); Remove() makes the token unusable (calls
// fail with CKR_DEVICE_REMOVED, sessions are closed), Restore() makes it
// usable again. module_path is the built wrapper's path.
class FaultyModule {
 public:
  FaultyModule(std::string module_path, const std::string& dir);
  ~FaultyModule();
  Pkcs11Config Config(const SoftHsmToken& token, size_t max_sessions = 8) const;
  Status Remove();
  Status Restore();

 private:
  std::string module_path_;
  std::string control_;
};

// RawSession is a logged-in read-write session on the token through the
// module's raw function list, for tests that create or inspect objects
// directly. It initialises the module if nothing has (and then finalizes it
// on destruction); load any Pkcs11Module first so it stays initialised.
class RawSession {
 public:
  static Result<std::unique_ptr<RawSession>> Open(const SoftHsmToken& token);
  ~RawSession();
  CK_FUNCTION_LIST* f() const { return f_; }
  CK_SESSION_HANDLE session() const { return session_; }

 private:
  RawSession() = default;
  CK_FUNCTION_LIST* f_ = nullptr;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
  bool initialized_here_ = false;
};

}  // namespace astis::hsm::testing
