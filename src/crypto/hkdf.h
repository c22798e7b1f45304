// HKDF-SHA256 (RFC 5869) as separate Extract and Expand steps, on OpenSSL's
// EVP_KDF "HKDF" with the EXTRACT_ONLY / EXPAND_ONLY modes. HPKE's labeled
// variants are built on these in hpke.cc.
#pragma once

#include <cstdint>
#include <span>

#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace astis {

// HkdfExtract returns PRK = HMAC-SHA256(salt, ikm) (32 bytes). An empty salt
// means HashLen zero bytes (RFC 5869 §2.2).
Result<SecretBytes> HkdfExtract(std::span<const uint8_t> salt, std::span<const uint8_t> ikm);

// HkdfExpand returns L bytes of OKM; L <= 255*32 (RFC 5869 §2.3), else
// kInvalidArgument.
Result<SecretBytes> HkdfExpand(std::span<const uint8_t> prk, std::span<const uint8_t> info, size_t length);

}  // namespace astis
