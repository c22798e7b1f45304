// Engine: the pod SDK's core (internal C++; applications use
// include/astis/astis.h or include/astis/client.hpp).
//
// It owns the pod's two RAM-only keys, the edge session and its DPoP nonce,
// and implements the client side of docs/protocol.md §4-5: establish, refresh,
// rotate, unwrap in batches, end. The world (clock, randomness, waiting,
// environment) is injected so tests are hermetic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "crypto/x25519.h"
#include "net/https_client.h"
#include "sdk/config.h"
#include "sdk/watched_file.h"

namespace astis::capsule {
class SealedValue;
}

namespace astis::sdkcore {

// Sleeper waits between retries; tests record instead of sleeping.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  // Sleep blocks the calling thread for about d. Cannot fail.
  virtual void Sleep(std::chrono::milliseconds d) = 0;
};

// DefaultSleeper returns a process-wide Sleeper over std::this_thread.
Sleeper& DefaultSleeper();

// EnvLookup returns the value of an environment variable, or nullopt.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// EngineDeps are borrowed collaborators; null members get the process-wide
// defaults (SystemClock, SystemRandom, DefaultSleeper, ::getenv).
struct EngineDeps {
  Clock* clock = nullptr;
  Random* rng = nullptr;
  Sleeper* sleeper = nullptr;
  EnvLookup env;
};

// EngineStats counts what the engine did (for tests and debugging).
struct EngineStats {
  uint64_t establishes = 0;
  uint64_t rotations = 0;
  uint64_t unwrap_requests = 0;
  uint64_t http_requests = 0;
};

class Engine {
 public:
  // Create validates config (kInvalidArgument), reads the CA file (kIo),
  // builds one HTTPS client per edge URL and generates the Ed25519 DPoP key
  // and the X25519 recipient key in locked memory (kCrypto if the RNG
  // fails). It sends nothing. The engine borrows deps.
  static Result<std::unique_ptr<Engine>> Create(SdkConfig config, EngineDeps deps = {});

  // ~Engine calls Close.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Get returns the plaintext of one secret (see GetMany). Thread-safe.
  Result<SecretBytes> Get(std::string_view name);

  // GetMany reads each name's sealed value (<secrets_dir>/<name>, else env
  // <prefix><NAME>), unwraps the capsules in requests of at most 64, opens
  // each rewrapped DEK with the recipient key and decrypts locally. The
  // plaintexts, in order, are in locked SecretBytes owned by the caller.
  // All or nothing: the first failure is returned, its message naming the
  // secret. Errors: kInvalidArgument (bad name), kNotFound, kIo, the
  // docs/protocol.md §7 codes, kCrypto, kUnavailable, kFailedPrecondition after
  // Close. Thread-safe; concurrent calls share the session.
  Result<std::vector<SecretBytes>> GetMany(std::span<const std::string> names);

  // Close ends the session at the edge (DELETE /v1/sessions/{id}, docs/protocol.md
  // §4.4; one attempt per endpoint) and wipes both keys. Idempotent; returns
  // the DELETE's error, if any, but always wipes. Later gets fail.
  Status Close();

  // stats returns a snapshot of the counters.
  EngineStats stats() const;

  // --- Test-only inspection (docs/sdk.md "Test hooks"); grants no access to
  // key bytes. ---
  // TestOnlyRecipientKeyAddress / TestOnlyRecipientKeyLocked describe the
  // current X25519 recipient key's buffer (nullptr / false after Close).
  const void* TestOnlyRecipientKeyAddress() const;
  bool TestOnlyRecipientKeyLocked() const;
  // TestOnlyDpopKeyAddress / TestOnlyDpopKeyLocked do the same for the
  // Ed25519 DPoP key.
  const void* TestOnlyDpopKeyAddress() const;
  bool TestOnlyDpopKeyLocked() const;
  // TestOnlyDpopJkt is the current DPoP key's RFC 7638 thumbprint.
  std::string TestOnlyDpopJkt() const;
  // TestOnlySessionId is the current session id ("" when none).
  std::string TestOnlySessionId() const;

 private:
  struct Keys;
  struct Exchange;
  Engine(SdkConfig config, EngineDeps deps);

  // Session management; EnsureSession takes the exclusive lock when needed.
  // EnsureSession sets *established when it (re-)established the session.
  Status EnsureSession(bool* established = nullptr);
  Status EstablishLocked();
  void RotateLocked();
  void InvalidateSession(uint64_t generation);
  // EndSessionAfterFailure ends the session of that generation at the edge
  // (best effort) and forgets it; the keys stay.
  void EndSessionAfterFailure(uint64_t generation);

  // One logical request: nonce dance (retry once on use_dpop_nonce), 503
  // backoff, endpoint failover.
  Result<net::HttpResponse> Call(const std::string& method, const std::string& path, const std::string& body,
                                 const Keys& keys, int max_attempts);
  Result<net::HttpResponse> SendAnyEndpoint(const std::string& method, const std::string& path,
                                            const std::string& body, const Keys& keys);
  std::chrono::milliseconds Backoff(int attempt);

  Result<std::vector<SecretBytes>> UnwrapAll(const std::vector<capsule::SealedValue>& values,
                                             std::span<const std::string> names);
  Result<capsule::SealedValue> LoadSealedValue(const std::string& name);

  const SdkConfig config_;
  Clock& clock_;
  Random& rng_;
  Sleeper& sleeper_;
  EnvLookup env_;
  std::vector<std::unique_ptr<net::HttpsClient>> clients_;
  WatchedFile token_;
  std::unique_ptr<WatchedFile> api_key_file_;

  // Session state. Unwraps hold session_mu_ shared; establish, rotate,
  // invalidate and close hold it exclusively, so a rotation never races an
  // in-flight unwrap signed by the old key.
  mutable std::shared_mutex session_mu_;
  std::shared_ptr<const Keys> keys_;
  std::string session_id_;
  int64_t refresh_at_ = 0;
  int64_t next_rotation_at_ = 0;
  uint64_t generation_ = 0;
  bool closed_ = false;

  mutable std::mutex nonce_mu_;
  std::string nonce_;
  std::atomic<size_t> current_endpoint_{0};

  mutable std::mutex stats_mu_;
  EngineStats stats_;
};

}  // namespace astis::sdkcore
