#include "hsm/testing/softhsm.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "common/testing/temp_dir.h"

extern char** environ;

namespace astis::hsm::testing {
namespace {

constexpr const char* kSoftHsmUtil = "/usr/bin/softhsm2-util";
constexpr std::string_view kUserPin = "astis-user-pin-1234";
constexpr std::string_view kSoPin = "astis-so-pin-5678";

Status WriteFile(const std::string& path, std::string_view text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Error(Code::kIo, "cannot write " + path);
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok ? OkStatus() : Error(Code::kIo, "short write to " + path);
}

// Run runs argv with stdout and stderr to /dev/null and waits for it.
Status Run(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int err = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) return Error(Code::kIo, "cannot start " + args[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Error(Code::kIo, args[0] + " failed");
  return OkStatus();
}

}  // namespace

bool SoftHsmAvailable() { return ::access(kSoftHsmModule, R_OK) == 0; }

std::string_view SoftHsmToken::pin() { return kUserPin; }

Result<std::unique_ptr<SoftHsmToken>> SoftHsmToken::Create(std::string label) {
  ASTIS_ASSIGN_OR_RETURN(std::string dir, test::MakeTempDir("astis-softhsm"));
  std::unique_ptr<SoftHsmToken> t(new SoftHsmToken());
  t->label_ = std::move(label);
  t->dir_ = dir;
  if (const char* old = std::getenv("SOFTHSM2_CONF")) {
    t->had_conf_ = true;
    t->old_conf_ = old;
  }
  const std::string tokens = dir + "/tokens";
  if (::mkdir(tokens.c_str(), 0700) != 0) return Error(Code::kIo, "cannot make " + tokens);
  const std::string conf = dir + "/softhsm2.conf";
  ASTIS_RETURN_IF_ERROR(WriteFile(conf,
                                  "directories.tokendir = " + tokens +
                                      "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                                  0600));
  ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
  ASTIS_RETURN_IF_ERROR(Run({kSoftHsmUtil, "--init-token", "--free", "--label", t->label_, "--so-pin",
                             std::string(kSoPin), "--pin", std::string(kUserPin)}));
  t->pin_file_ = dir + "/user.pin";
  ASTIS_RETURN_IF_ERROR(WriteFile(t->pin_file_, std::string(kUserPin) + "\n", 0600));
  return t;
}

SoftHsmToken::~SoftHsmToken() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (had_conf_) {
    ::setenv("SOFTHSM2_CONF", old_conf_.c_str(), 1);
  } else {
    ::unsetenv("SOFTHSM2_CONF");
  }
}

Pkcs11Config SoftHsmToken::Config(size_t max_sessions) const {
  Pkcs11Config c;
  c.module_path = kSoftHsmModule;
  c.pin_file = pin_file_;
  c.max_sessions = max_sessions;
  return c;
}

std::string SoftHsmToken::KeyUri(std::string_view object) const {
  Pkcs11Uri uri;
  uri.token = label_;
  uri.object = std::string(object);
  return uri.ToString();
}

FaultyModule::FaultyModule(std::string module_path, const std::string& dir)
    : module_path_(std::move(module_path)), control_(dir + "/token-removed") {
  ::setenv("ASTIS_PKCS11_FAULTY_TARGET", kSoftHsmModule, 1);
  ::setenv("ASTIS_PKCS11_FAULTY_CONTROL", control_.c_str(), 1);
}

FaultyModule::~FaultyModule() {
  ::unlink(control_.c_str());
  ::unsetenv("ASTIS_PKCS11_FAULTY_TARGET");
  ::unsetenv("ASTIS_PKCS11_FAULTY_CONTROL");
}

Pkcs11Config FaultyModule::Config(const SoftHsmToken& token, size_t max_sessions) const {
  Pkcs11Config c = token.Config(max_sessions);
  c.module_path = module_path_;
  return c;
}

Status FaultyModule::Remove() { return WriteFile(control_, "removed\n", 0600); }

Status FaultyModule::Restore() {
  if (::unlink(control_.c_str()) != 0 && errno != ENOENT) return Error(Code::kIo, "cannot remove " + control_);
  return OkStatus();
}

Result<std::unique_ptr<RawSession>> RawSession::Open(const SoftHsmToken& token) {
  void* handle = ::dlopen(kSoftHsmModule, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return Error(Code::kNotFound, "cannot load SoftHSM2");
  auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
  std::unique_ptr<RawSession> s(new RawSession());
  if (get == nullptr || get(&s->f_) != CKR_OK) return Error(Code::kInternal, "C_GetFunctionList failed");
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  const CK_RV init = s->f_->C_Initialize(&args);
  if (init != CKR_OK && init != CKR_CRYPTOKI_ALREADY_INITIALIZED) return Error(Code::kInternal, "C_Initialize failed");
  s->initialized_here_ = init == CKR_OK;
  CK_ULONG n = 0;
  if (s->f_->C_GetSlotList(CK_TRUE, nullptr, &n) != CKR_OK) return Error(Code::kInternal, "C_GetSlotList failed");
  std::vector<CK_SLOT_ID> slots(n);
  if (s->f_->C_GetSlotList(CK_TRUE, slots.data(), &n) != CKR_OK) return Error(Code::kInternal, "C_GetSlotList");
  std::string padded = token.label();
  padded.resize(32, ' ');
  for (CK_ULONG i = 0; i < n; ++i) {
    CK_TOKEN_INFO ti{};
    if (s->f_->C_GetTokenInfo(slots[i], &ti) != CKR_OK) continue;
    if (std::string(reinterpret_cast<const char*>(ti.label), sizeof ti.label) != padded) continue;
    if (s->f_->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s->session_) !=
        CKR_OK) {
      return Error(Code::kInternal, "C_OpenSession failed");
    }
    std::string pin(SoftHsmToken::pin());
    const CK_RV rv =
        s->f_->C_Login(s->session_, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(pin.data()), pin.size());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) return Error(Code::kInternal, "C_Login failed");
    return s;
  }
  return Error(Code::kNotFound, "no token labelled " + token.label());
}

RawSession::~RawSession() {
  if (f_ == nullptr) return;
  if (session_ != CK_INVALID_HANDLE) f_->C_CloseSession(session_);
  if (initialized_here_) f_->C_Finalize(nullptr);
}

}  // namespace astis::hsm::testing
