#include "crypto/aead.h"

#include <openssl/evp.h>

#include <climits>
#include <cstdlib>

#include "crypto/internal/ossl.h"

namespace astis {
namespace {

using crypto_internal::OsslError;

const EVP_CIPHER* Cipher(AeadAlg alg) {
  auto fetch = [](const char* name) {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, name, nullptr);
    if (c == nullptr) std::abort();  // a broken installation, not a request outcome
    return c;
  };
  static EVP_CIPHER* const aes128 = fetch("AES-128-GCM");
  static EVP_CIPHER* const aes256 = fetch("AES-256-GCM");
  static EVP_CIPHER* const chacha = fetch("ChaCha20-Poly1305");
  switch (alg) {
    case AeadAlg::kAes128Gcm: return aes128;
    case AeadAlg::kAes256Gcm: return aes256;
    case AeadAlg::kChaCha20Poly1305: return chacha;
  }
  return nullptr;
}

Status CheckParams(AeadAlg alg, std::span<const uint8_t> key, std::span<const uint8_t> nonce,
                   std::span<const uint8_t> aad, size_t text_size) {
  if (Cipher(alg) == nullptr) return Error(Code::kInvalidArgument, "aead: unknown algorithm");
  if (key.size() != AeadKeySize(alg)) return Error(Code::kInvalidArgument, "aead: wrong key length");
  if (nonce.size() != kAeadNonceSize) return Error(Code::kInvalidArgument, "aead: nonce must be 12 bytes");
  if (aad.size() > INT_MAX || text_size > INT_MAX) return Error(Code::kInvalidArgument, "aead: input too large");
  return OkStatus();
}

// Init sets up ctx for one operation and absorbs the AAD.
Status Init(EVP_CIPHER_CTX* ctx, AeadAlg alg, std::span<const uint8_t> key, std::span<const uint8_t> nonce,
            std::span<const uint8_t> aad, bool encrypt) {
  // The default IV length of all three ciphers is 12 bytes, the only one
  // accepted (CheckParams), so no IVLEN control is needed.
  if (EVP_CipherInit_ex2(ctx, Cipher(alg), key.data(), nonce.data(), encrypt ? 1 : 0, nullptr) != 1)
    return OsslError(Code::kCrypto, "aead: init failed");
  int len = 0;
  // With out == nullptr, an update feeds AAD; skip it when there is none.
  if (!aad.empty() && EVP_CipherUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
    return OsslError(Code::kCrypto, "aead: aad update failed");
  return OkStatus();
}

}  // namespace

size_t AeadKeySize(AeadAlg alg) { return alg == AeadAlg::kAes128Gcm ? 16 : 32; }

Result<std::vector<uint8_t>> AeadSeal(AeadAlg alg, std::span<const uint8_t> key, std::span<const uint8_t> nonce,
                                      std::span<const uint8_t> aad, std::span<const uint8_t> pt) {
  ASTIS_RETURN_IF_ERROR(CheckParams(alg, key, nonce, aad, pt.size()));
  ossl::UniquePtr<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return OsslError(Code::kCrypto, "aead: EVP_CIPHER_CTX_new failed");
  ASTIS_RETURN_IF_ERROR(Init(ctx.get(), alg, key, nonce, aad, /*encrypt=*/true));
  std::vector<uint8_t> out(pt.size() + kAeadTagSize);
  int len = 0;
  size_t written = 0;
  if (!pt.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), out.data(), &len, pt.data(), static_cast<int>(pt.size())) != 1)
      return OsslError(Code::kCrypto, "aead: encrypt failed");
    written = static_cast<size_t>(len);
  }
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + written, &len) != 1)
    return OsslError(Code::kCrypto, "aead: encrypt final failed");
  written += static_cast<size_t>(len);
  if (written != pt.size()) return Error(Code::kInternal, "aead: unexpected ciphertext length");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kAeadTagSize), out.data() + written) !=
      1)
    return OsslError(Code::kCrypto, "aead: get tag failed");
  return out;
}

Result<SecretBytes> AeadOpen(AeadAlg alg, std::span<const uint8_t> key, std::span<const uint8_t> nonce,
                             std::span<const uint8_t> aad, std::span<const uint8_t> ct,
                             SecretBytes::Protection protection) {
  ASTIS_RETURN_IF_ERROR(CheckParams(alg, key, nonce, aad, ct.size()));
  // A ciphertext shorter than the tag cannot authenticate (test
  // AeadTest.RejectsTruncatedCiphertext).
  if (ct.size() < kAeadTagSize) return Error(Code::kCrypto, "aead: authentication failed");
  const auto body = ct.first(ct.size() - kAeadTagSize);
  const auto tag = ct.last(kAeadTagSize);
  ossl::UniquePtr<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return OsslError(Code::kCrypto, "aead: EVP_CIPHER_CTX_new failed");
  ASTIS_RETURN_IF_ERROR(Init(ctx.get(), alg, key, nonce, aad, /*encrypt=*/false));
  // Plaintext is decrypted into SecretBytes and wiped (by its destructor)
  // unless the tag verifies: nothing unauthenticated is released.
  SecretBytes pt(body.size(), protection);
  int len = 0;
  size_t written = 0;
  if (!body.empty()) {
    if (EVP_DecryptUpdate(ctx.get(), pt.RevealMutable().data(), &len, body.data(), static_cast<int>(body.size())) !=
        1)
      return OsslError(Code::kCrypto, "aead: decrypt failed");
    written = static_cast<size_t>(len);
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kAeadTagSize),
                          const_cast<uint8_t*>(tag.data())) != 1)
    return OsslError(Code::kCrypto, "aead: set tag failed");
  uint8_t final_block[1];
  if (EVP_DecryptFinal_ex(ctx.get(), body.empty() ? final_block : pt.RevealMutable().data() + written, &len) != 1) {
    ossl::DrainErrors();  // the message stays fixed whatever OpenSSL queued
    return Error(Code::kCrypto, "aead: authentication failed");
  }
  return pt;
}

}  // namespace astis
