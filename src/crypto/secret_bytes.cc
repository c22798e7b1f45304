#include "crypto/secret_bytes.h"

#include <openssl/crypto.h>
#include <sodium.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "crypto/internal/locked_pool.h"
#include "crypto/internal/ossl.h"
#include "crypto/internal/secret_bytes_testing.h"

namespace astis {
namespace {

std::atomic<crypto_internal::ReleaseHook> g_release_hook{nullptr};

}  // namespace

namespace crypto_internal {
void SetReleaseHookForTesting(ReleaseHook hook) { g_release_hook.store(hook); }
}  // namespace crypto_internal

SecretBytes::SecretBytes(size_t n, Protection protection) : protection_(protection) {
  if (n == 0) return;  // Empty secrets allocate nothing.
  if (protection == Protection::kLocked) {
    // Small buffers come from the locked pool (mlock'd, MADV_DONTDUMP,
    // guard pages around each arena; crypto/internal/locked_pool.h says why
    // and what it trades). Larger ones, or any once the pool is full, get
    // their own sodium_malloc mapping.
    if (auto block = crypto_internal::LockedPool::Global().Allocate(n); block.data != nullptr) {
      data_ = block.data;
      locked_ = block.locked;
      pooled_ = true;
      size_ = n;
      std::memset(data_, 0, n);
      return;
    }
    crypto_internal::EnsureSodium();
    // sodium_malloc places the buffer against a guard page, and calls
    // sodium_mlock (MADV_DONTDUMP, then mlock) on its page-aligned region but
    // ignores mlock's result. Locking the user range again is idempotent
    // and tells us truthfully whether the lock took (RLIMIT_MEMLOCK may be
    // small: then the memory is still wiped and still excluded from dumps).
    // The raw system call is used because sanitizer runtimes replace mlock()
    // with a no-op that reports success (test
    // SecretBytesLockedTest.LockedMemoryIsLockedAndNotDumped reads smaps).
    void* p = sodium_malloc(n);
    if (p == nullptr) std::abort();
    data_ = static_cast<uint8_t*>(p);
    locked_ = syscall(SYS_mlock, p, n) == 0;
  } else {
    data_ = new (std::nothrow) uint8_t[n];
    if (data_ == nullptr) std::abort();
  }
  size_ = n;
  std::memset(data_, 0, n);
}

SecretBytes SecretBytes::CopyFrom(std::span<const uint8_t> data, Protection protection) {
  SecretBytes out(data.size(), protection);
  if (!data.empty()) std::memcpy(out.data_, data.data(), data.size());
  return out;
}

SecretBytes SecretBytes::CopyFrom(std::string_view data, Protection protection) {
  return CopyFrom(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
                  protection);
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(other.data_), size_(other.size_), protection_(other.protection_), locked_(other.locked_),
      pooled_(other.pooled_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.locked_ = false;
  other.pooled_ = false;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = other.data_;
    size_ = other.size_;
    protection_ = other.protection_;
    locked_ = other.locked_;
    pooled_ = other.pooled_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.locked_ = false;
    other.pooled_ = false;
  }
  return *this;
}

SecretBytes::~SecretBytes() { Release(); }

SecretBytes SecretBytes::Clone() const { return CopyFrom(Reveal(), protection_); }

void SecretBytes::Wipe() { Release(); }

void SecretBytes::Release() {
  if (data_ == nullptr) return;
  SecureWipe(data_, size_);
  if (auto hook = g_release_hook.load(); hook != nullptr) hook(data_, size_);
  if (pooled_) {
    crypto_internal::LockedPool::Global().Free(data_, size_);
  } else if (protection_ == Protection::kLocked) {
    sodium_free(data_);  // munlocks and frees, guard pages included
  } else {
    delete[] data_;
  }
  data_ = nullptr;
  size_ = 0;
  locked_ = false;
  pooled_ = false;
}

bool operator==(const SecretBytes& a, const SecretBytes& b) { return ConstantTimeEquals(a.Reveal(), b.Reveal()); }

bool ConstantTimeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;  // lengths are public
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void SecureWipe(void* data, size_t size) {
  if (data == nullptr || size == 0) return;
  OPENSSL_cleanse(data, size);
}

}  // namespace astis
