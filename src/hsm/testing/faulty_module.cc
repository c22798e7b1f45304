// astis_pkcs11_faulty: a PKCS#11 module for tests that forwards every call
// to a real module and fails calls with CKR_DEVICE_REMOVED while a control
// file exists. SoftHSM2 has no removal event; this is how the tests make a
// token unusable and usable again (docs/hsm.md "How the tests simulate a
// removed token").
//
//   ASTIS_PKCS11_FAULTY_TARGET   the real module (e.g. libsofthsm2.so)
//   ASTIS_PKCS11_FAULTY_CONTROL  while this file exists, the token is "removed"
//
// On the first call that sees the control file, every session of the real
// module is closed (C_CloseAllSessions on each slot), as a real removal
// would: after the file is gone the caller must open sessions and log in
// again. C_Initialize, C_Finalize, C_GetInfo, C_GetFunctionList and
// C_GetSlotList are always forwarded (the slot stays, its token does not).

#include <dlfcn.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <p11-kit/pkcs11.h>

namespace {

CK_FUNCTION_LIST* g_real = nullptr;
CK_FUNCTION_LIST g_list{};
std::string g_control;
std::atomic<bool> g_removed{false};
std::mutex g_mu;

void CloseEverySession() {
  CK_ULONG n = 0;
  if (g_real->C_GetSlotList(CK_FALSE, nullptr, &n) != CKR_OK) return;
  std::vector<CK_SLOT_ID> slots(n);
  if (g_real->C_GetSlotList(CK_FALSE, slots.data(), &n) != CKR_OK) return;
  for (CK_ULONG i = 0; i < n; ++i) g_real->C_CloseAllSessions(slots[i]);
}

// Removed reports whether the control file exists; on the transition to
// removed it closes the real module's sessions first.
bool Removed() {
  struct stat st {};
  const bool now = !g_control.empty() && ::stat(g_control.c_str(), &st) == 0;
  if (now && !g_removed.load()) {
    std::lock_guard lock(g_mu);
    if (!g_removed.load()) {
      CloseEverySession();
      g_removed.store(true);
    }
  } else if (!now && g_removed.load()) {
    g_removed.store(false);
  }
  return now;
}

template <auto Member, typename Fn>
struct Wrap;

template <auto Member, typename... Args>
struct Wrap<Member, CK_RV (*)(Args...)> {
  static CK_RV Call(Args... args) {
    if (Removed()) return CKR_DEVICE_REMOVED;
    return (g_real->*Member)(args...);
  }
};

#define ASTIS_WRAP(name) g_list.name = &Wrap<&CK_FUNCTION_LIST::name, decltype(CK_FUNCTION_LIST::name)>::Call

CK_RV Load() {
  std::lock_guard lock(g_mu);
  if (g_real != nullptr) return CKR_OK;
  const char* target = std::getenv("ASTIS_PKCS11_FAULTY_TARGET");
  const char* control = std::getenv("ASTIS_PKCS11_FAULTY_CONTROL");
  if (target == nullptr || control == nullptr) return CKR_GENERAL_ERROR;
  void* handle = ::dlopen(target, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return CKR_GENERAL_ERROR;
  auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
  CK_FUNCTION_LIST* real = nullptr;
  if (get == nullptr || get(&real) != CKR_OK || real == nullptr) return CKR_GENERAL_ERROR;
  g_control = control;
  g_list = *real;  // C_Initialize, C_Finalize, C_GetInfo, C_GetSlotList forwarded as is
  g_list.C_GetFunctionList = &C_GetFunctionList;
  ASTIS_WRAP(C_GetSlotInfo);
  ASTIS_WRAP(C_GetTokenInfo);
  ASTIS_WRAP(C_GetMechanismList);
  ASTIS_WRAP(C_GetMechanismInfo);
  ASTIS_WRAP(C_InitToken);
  ASTIS_WRAP(C_InitPIN);
  ASTIS_WRAP(C_SetPIN);
  ASTIS_WRAP(C_OpenSession);
  ASTIS_WRAP(C_CloseSession);
  ASTIS_WRAP(C_CloseAllSessions);
  ASTIS_WRAP(C_GetSessionInfo);
  ASTIS_WRAP(C_GetOperationState);
  ASTIS_WRAP(C_SetOperationState);
  ASTIS_WRAP(C_Login);
  ASTIS_WRAP(C_Logout);
  ASTIS_WRAP(C_CreateObject);
  ASTIS_WRAP(C_CopyObject);
  ASTIS_WRAP(C_DestroyObject);
  ASTIS_WRAP(C_GetObjectSize);
  ASTIS_WRAP(C_GetAttributeValue);
  ASTIS_WRAP(C_SetAttributeValue);
  ASTIS_WRAP(C_FindObjectsInit);
  ASTIS_WRAP(C_FindObjects);
  ASTIS_WRAP(C_FindObjectsFinal);
  ASTIS_WRAP(C_EncryptInit);
  ASTIS_WRAP(C_Encrypt);
  ASTIS_WRAP(C_EncryptUpdate);
  ASTIS_WRAP(C_EncryptFinal);
  ASTIS_WRAP(C_DecryptInit);
  ASTIS_WRAP(C_Decrypt);
  ASTIS_WRAP(C_DecryptUpdate);
  ASTIS_WRAP(C_DecryptFinal);
  ASTIS_WRAP(C_DigestInit);
  ASTIS_WRAP(C_Digest);
  ASTIS_WRAP(C_DigestUpdate);
  ASTIS_WRAP(C_DigestKey);
  ASTIS_WRAP(C_DigestFinal);
  ASTIS_WRAP(C_SignInit);
  ASTIS_WRAP(C_Sign);
  ASTIS_WRAP(C_SignUpdate);
  ASTIS_WRAP(C_SignFinal);
  ASTIS_WRAP(C_SignRecoverInit);
  ASTIS_WRAP(C_SignRecover);
  ASTIS_WRAP(C_VerifyInit);
  ASTIS_WRAP(C_Verify);
  ASTIS_WRAP(C_VerifyUpdate);
  ASTIS_WRAP(C_VerifyFinal);
  ASTIS_WRAP(C_VerifyRecoverInit);
  ASTIS_WRAP(C_VerifyRecover);
  ASTIS_WRAP(C_DigestEncryptUpdate);
  ASTIS_WRAP(C_DecryptDigestUpdate);
  ASTIS_WRAP(C_SignEncryptUpdate);
  ASTIS_WRAP(C_DecryptVerifyUpdate);
  ASTIS_WRAP(C_GenerateKey);
  ASTIS_WRAP(C_GenerateKeyPair);
  ASTIS_WRAP(C_WrapKey);
  ASTIS_WRAP(C_UnwrapKey);
  ASTIS_WRAP(C_DeriveKey);
  ASTIS_WRAP(C_SeedRandom);
  ASTIS_WRAP(C_GenerateRandom);
  ASTIS_WRAP(C_GetFunctionStatus);
  ASTIS_WRAP(C_CancelFunction);
  ASTIS_WRAP(C_WaitForSlotEvent);
  g_real = real;
  return CKR_OK;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
  if (list == nullptr) return CKR_ARGUMENTS_BAD;
  if (CK_RV rv = Load(); rv != CKR_OK) return rv;
  *list = &g_list;
  return CKR_OK;
}
