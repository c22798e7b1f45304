// SecretBytes: the one type that holds key material, DEKs and plaintext.
//
// - wiped on release (sodium_memzero / OPENSSL_cleanse semantics),
// - compared only in constant time (operator== uses CRYPTO_memcmp),
// - never printable (no operator<<, no formatter; the type is not a string),
// - optionally locked in RAM and excluded from core dumps (Protection::kLocked),
//   as the SDK and CVS use: buffers up to 4 KiB come from mlock'd,
//   MADV_DONTDUMP, MADV_WIPEONFORK arenas fenced by guard pages
//   (crypto/internal/locked_pool.h), larger ones from sodium_malloc (a guard
//   page each side, mlock, MADV_DONTDUMP).
//
// Raw access goes through Reveal()/RevealMutable() only, so every place that
// touches secret bytes is found with `grep -rn Reveal src/`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string_view>

namespace astis {

class SecretBytes {
 public:
  enum class Protection : uint8_t {
    kPlain,   // heap memory, wiped on release
    kLocked,  // mlock'd, MADV_DONTDUMP, guard pages; wiped on release
  };

  // SecretBytes() is empty.
  SecretBytes() = default;
  // SecretBytes(n) holds n zero bytes. Aborts if locked memory cannot be
  // allocated (out of memory is not a recoverable request outcome).
  explicit SecretBytes(size_t n, Protection protection = Protection::kPlain);
  // CopyFrom copies bytes in; the caller remains responsible for its source.
  static SecretBytes CopyFrom(std::span<const uint8_t> data, Protection protection = Protection::kPlain);
  static SecretBytes CopyFrom(std::string_view data, Protection protection = Protection::kPlain);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  // Clone makes an explicit copy with the same protection.
  SecretBytes Clone() const;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Protection protection() const { return protection_; }
  // IsLocked reports whether the buffer is mlock'd (kLocked and the lock took).
  bool IsLocked() const { return locked_; }

  // Reveal gives read access to the secret bytes. Every call site is a place
  // where a secret leaves this type: keep them few and auditable.
  std::span<const uint8_t> Reveal() const { return {data_, size_}; }
  std::string_view RevealString() const { return {reinterpret_cast<const char*>(data_), size_}; }
  // RevealMutable gives write access (filling a fresh key, decrypting into it).
  std::span<uint8_t> RevealMutable() { return {data_, size_}; }

  // Wipe zeroes the bytes now and releases the memory.
  void Wipe();

  // operator== compares in constant time for equal lengths.
  friend bool operator==(const SecretBytes& a, const SecretBytes& b);

  // TestOnlyDataAddress exposes the buffer's address so a test can show the
  // memory is locked; it grants no read access.
  const void* TestOnlyDataAddress() const { return data_; }

 private:
  void Release();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  Protection protection_ = Protection::kPlain;
  bool locked_ = false;
  bool pooled_ = false;  // from crypto_internal::LockedPool (kLocked only)
};

// No stream output: printing a secret is a compile error.
std::ostream& operator<<(std::ostream&, const SecretBytes&) = delete;

// ConstantTimeEquals compares two byte strings in time independent of their
// contents (lengths are public). Used for API key hashes and MACs.
bool ConstantTimeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b);

// SecureWipe zeroes memory in a way the compiler cannot elide.
void SecureWipe(void* data, size_t size);

}  // namespace astis
