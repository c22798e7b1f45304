#include "sdk/engine.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "capsule/capsule.h"
#include "capsule/seal.h"
#include "common/encoding.h"
#include "common/json.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "net/tls.h"
#include "sdk/wire.h"

namespace astis::sdkcore {

struct Engine::Keys {
  Ed25519PrivateKey dpop;
  X25519PrivateKey recipient;
  std::string jkt;  // RFC 7638 thumbprint of dpop's public JWK

  static Result<std::shared_ptr<const Keys>> Generate(Random& rng) {
    // docs/protocol.md §2: both keys are generated in RAM, locked and excluded
    // from core dumps, never written or logged (test KeysAreLocked).
    ASTIS_ASSIGN_OR_RETURN(auto dpop, Ed25519PrivateKey::Generate(rng, SecretBytes::Protection::kLocked));
    ASTIS_ASSIGN_OR_RETURN(auto recipient, X25519PrivateKey::Generate(rng, SecretBytes::Protection::kLocked));
    std::string jkt = jose::Jwk::FromEd25519Public(dpop.public_key()).Thumbprint();
    return std::make_shared<const Keys>(Keys{std::move(dpop), std::move(recipient), std::move(jkt)});
  }
};

namespace {

constexpr std::string_view kSessionsPath = "/v1/sessions";
constexpr std::string_view kUnwrapPath = "/v1/unwrap";
constexpr std::string_view kRotatePath = "/v1/sessions/rotate";

class ThreadSleeper final : public Sleeper {
 public:
  void Sleep(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }
};

std::optional<std::string> RealGetenv(const std::string& name) {
  const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read-only use
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

// CodeFromWire maps a docs/protocol.md §7 wire name back to its Code.
std::optional<Code> CodeFromWire(std::string_view wire) {
  for (int c = static_cast<int>(Code::kBadRequest); c <= static_cast<int>(Code::kCapsuleInvalid); ++c) {
    if (WireName(static_cast<Code>(c)) == wire) return static_cast<Code>(c);
  }
  return std::nullopt;
}

// ErrorCodeOf returns obj.error.code, or "".
std::string ErrorCodeOf(const Json& obj) {
  if (!obj.is_object()) return "";
  auto err = GetObject(obj, "error");
  if (!err.ok()) return "";
  auto code = GetString(**err, "code");
  return code.ok() ? *code : "";
}

// WireCodeOf returns the error.code of an error body, or "".
std::string WireCodeOf(const net::HttpResponse& resp) {
  auto j = ParseJsonObject(resp.body);
  return j.ok() ? ErrorCodeOf(*j) : "";
}

// NonceChallenged reports whether a 401 asks for a fresh DPoP nonce: by the
// §7 body's code, or by the WWW-Authenticate field alone (test
// EngineTest.NonceChallengeInHeaderOnlyIsRetried).
bool NonceChallenged(const net::HttpResponse& resp) {
  return resp.status == 401 && (WireCodeOf(resp) == "use_dpop_nonce" || AsksForDpopNonce(resp.headers));
}

// StatusFromResponse turns a refusal into a Status with the §7 code (by the
// body's code, else by HTTP status). The message holds only status and code.
Status StatusFromResponse(const net::HttpResponse& resp, std::string_view what) {
  const std::string wire = WireCodeOf(resp);
  std::optional<Code> code = CodeFromWire(wire);
  if (!code.has_value() && resp.status == 401 && AsksForDpopNonce(resp.headers)) code = Code::kUseDpopNonce;
  if (!code.has_value()) code = CodeForBodylessStatus(resp.status);
  if (!code.has_value()) {
    if (resp.status == 503) {
      code = Code::kUnavailable;
    } else if (resp.status >= 400 && resp.status < 500) {
      code = Code::kBadRequest;
    } else {
      code = Code::kInternal;
    }
  }
  return Error(*code, std::string(what) + ": edge answered " + std::to_string(resp.status) +
                          (wire.empty() ? "" : " " + wire));
}

// PinnedRefusal is an establishment refused because another key holds the
// pod's pin (docs/protocol.md §4.1): 409 with code credential_pinned, or a
// 409 with no readable code (§7 gives 409 no other code).
bool PinnedRefusal(const net::HttpResponse& resp) {
  if (resp.status != 409) return false;
  const std::string wire = WireCodeOf(resp);
  return wire == "credential_pinned" || wire.empty();
}

}  // namespace

Sleeper& DefaultSleeper() {
  static ThreadSleeper sleeper;
  return sleeper;
}

Engine::Engine(SdkConfig config, EngineDeps deps)
    : config_(std::move(config)),
      clock_(deps.clock != nullptr ? *deps.clock : DefaultClock()),
      rng_(deps.rng != nullptr ? *deps.rng : DefaultRandom()),
      sleeper_(deps.sleeper != nullptr ? *deps.sleeper : DefaultSleeper()),
      env_(deps.env ? std::move(deps.env) : EnvLookup(RealGetenv)),
      token_(config_.token_path) {
  if (!config_.api_key_file.empty()) api_key_file_ = std::make_unique<WatchedFile>(config_.api_key_file);
}

Result<std::unique_ptr<Engine>> Engine::Create(SdkConfig config, EngineDeps deps) {
  ASTIS_RETURN_IF_ERROR(ValidateConfig(config));
  net::TlsClientConfig tls;
  if (!config.ca_file.empty()) {
    ASTIS_ASSIGN_OR_RETURN(std::string ca, net::ReadPemFile(config.ca_file));
    tls.ca_pem = std::move(ca);
  }
  net::ClientOptions options;
  options.connect_timeout = config.connect_timeout;
  options.request_timeout = config.request_timeout;
  options.max_response_body_bytes = 4 * 1024 * 1024;
  std::unique_ptr<Engine> engine(new Engine(std::move(config), std::move(deps)));
  for (const std::string& url : engine->config_.edge_urls) {
    ASTIS_ASSIGN_OR_RETURN(auto client, net::HttpsClient::Create(url, tls, options));
    engine->clients_.push_back(std::move(client));
  }
  ASTIS_ASSIGN_OR_RETURN(engine->keys_, Keys::Generate(engine->rng_));
  return engine;
}

Engine::~Engine() { (void)Close(); }

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

// ------------------------------------------------------------------ requests

std::chrono::milliseconds Engine::Backoff(int attempt) {
  // Exponential backoff with jitter: base * 2^(attempt-1), capped, then a
  // uniformly random value in [d/2, d] so replicas' clients do not align.
  int64_t d = config_.backoff_base.count();
  for (int i = 1; i < attempt && d < config_.backoff_max.count(); ++i) d *= 2;
  d = std::min<int64_t>(d, config_.backoff_max.count());
  uint8_t r[4] = {};
  if (!rng_.Fill(r).ok()) return std::chrono::milliseconds(d);
  const uint32_t x = (uint32_t{r[0]} << 24) | (uint32_t{r[1]} << 16) | (uint32_t{r[2]} << 8) | r[3];
  const int64_t half = d / 2;
  return std::chrono::milliseconds(half + static_cast<int64_t>(x % static_cast<uint32_t>(d - half + 1)));
}

Result<net::HttpResponse> Engine::SendAnyEndpoint(const std::string& method, const std::string& path,
                                                  const std::string& body, const Keys& keys) {
  // The token is re-read whenever the kubelet rotated it (test
  // TokenFileRotationPickedUp); the API key likewise when it is a file.
  ASTIS_ASSIGN_OR_RETURN(SecretBytes token, token_.Read());
  SecretBytes api_key;
  if (api_key_file_ != nullptr) {
    ASTIS_ASSIGN_OR_RETURN(api_key, api_key_file_->Read());
  } else {
    std::optional<std::string> v = env_(config_.api_key_env);
    if (!v.has_value() || v->empty()) {
      return Error(Code::kFailedPrecondition, "API key env var " + config_.api_key_env + " is not set");
    }
    api_key = SecretBytes::CopyFrom(*v, SecretBytes::Protection::kLocked);
    SecureWipe(v->data(), v->size());
  }
  // docs/protocol.md §5: ath binds the proof to the token, bh to the exact body.
  const std::string ath = jose::DpopHash(token.RevealString());
  const std::optional<std::string> bh = body.empty() ? std::nullopt : std::optional(jose::DpopHash(body));

  const size_t n = clients_.size();
  // On a transport failure try the next endpoint; with one endpoint, one
  // retry on a fresh connection (test FailsOverToNextEndpoint).
  const size_t tries = std::max<size_t>(n, 2);
  const size_t start = current_endpoint_.load();
  Status last;
  for (size_t i = 0; i < tries; ++i) {
    const size_t idx = (start + i) % n;
    std::string nonce;
    {
      std::lock_guard<std::mutex> lock(nonce_mu_);
      nonce = nonce_;
    }
    ASTIS_ASSIGN_OR_RETURN(std::string jti, jose::NewDpopJti(rng_));
    // RFC 9449 §4.2: htu is the target URI without query and fragment.
    const std::string htu = config_.edge_urls[idx] + path;
    net::HttpRequest req;
    req.method = method;
    req.target = path;
    req.body = body;
    req.headers.emplace_back("X-Astis-Api-Key", std::string(api_key.RevealString()));
    req.headers.emplace_back("Authorization", "DPoP " + std::string(token.RevealString()));
    req.headers.emplace_back(
        "DPoP", jose::MakeDpopProof(keys.dpop, method, htu, clock_.NowUnix(), jti, ath,
                                    nonce.empty() ? std::nullopt : std::optional<std::string_view>(nonce),
                                    bh.has_value() ? std::optional<std::string_view>(*bh) : std::nullopt));
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      ++stats_.http_requests;
    }
    Result<net::HttpResponse> resp = clients_[idx]->Send(req);
    for (auto& [name, value] : req.headers) SecureWipe(value.data(), value.size());
    if (resp.ok()) {
      current_endpoint_.store(idx);
      // docs/protocol.md §5: every response carries a current DPoP-Nonce; always
      // take the latest (test NonceDanceOnFirstRequest).
      if (auto fresh = resp->Header("DPoP-Nonce"); fresh.has_value() && !fresh->empty()) {
        std::lock_guard<std::mutex> lock(nonce_mu_);
        nonce_ = *fresh;
      }
      return resp;
    }
    if (resp.status().code() != Code::kUnavailable) return resp.status();
    last = resp.status();
  }
  return Error(Code::kUnavailable, "no edge endpoint reachable (" + last.message() + ")");
}

Result<net::HttpResponse> Engine::Call(const std::string& method, const std::string& path, const std::string& body,
                                       const Keys& keys, int max_attempts) {
  bool nonce_retried = false;
  int attempt = 1;
  while (true) {
    ASTIS_ASSIGN_OR_RETURN(net::HttpResponse resp, SendAnyEndpoint(method, path, body, keys));
    // RFC 9449 §8: a 401 use_dpop_nonce carries the nonce to use; retry once
    // with it, never in a loop (tests NonceDanceOnFirstRequest,
    // NonceChallengeInHeaderOnlyIsRetried).
    if (!nonce_retried && NonceChallenged(resp)) {
      nonce_retried = true;
      continue;
    }
    // Only 503 is retried, with jittered exponential backoff and a bounded
    // number of attempts (tests Retries503WithBackoff, DoesNotRetry4xx).
    if (resp.status == 503 && attempt < max_attempts) {
      sleeper_.Sleep(Backoff(attempt));
      ++attempt;
      continue;
    }
    return resp;
  }
}

// ------------------------------------------------------------------ session

Status Engine::EstablishLocked() {
  // docs/protocol.md §4.1: establish (or, with the same key, extend) a session.
  const Json body{{"recipient", jose::Jwk::FromX25519Public(keys_->recipient.public_key()).ToJson()}};
  const std::string body_text = DumpJson(body);
  const int64_t start = clock_.NowUnix();
  // docs/protocol.md §4.1: while another key holds the pod's pin, the edge
  // answers credential_pinned. A restarted container's new key is accepted
  // once the edge sees the restart or the old lease ends, so establishment
  // (and nothing else) waits for up to pin_wait_seconds, with the 503
  // backoff (tests PinnedThenAcceptedAfterBackoff, PinnedLongerThanTheBoundFails,
  // OtherEstablishRefusalsNotRetried).
  const int64_t bound_ms = config_.pin_wait_seconds * 1000;
  int64_t waited_ms = 0;
  net::HttpResponse resp;
  for (int attempt = 1;; ++attempt) {
    ASTIS_ASSIGN_OR_RETURN(resp, Call("POST", std::string(kSessionsPath), body_text, *keys_, config_.max_attempts));
    if (!PinnedRefusal(resp)) break;
    const int64_t elapsed_ms = std::max(waited_ms, (clock_.NowUnix() - start) * 1000);
    if (elapsed_ms >= bound_ms) break;
    const std::chrono::milliseconds wait = std::min(Backoff(attempt), std::chrono::milliseconds(bound_ms - elapsed_ms));
    sleeper_.Sleep(wait);
    waited_ms += wait.count();
  }
  const int64_t now = clock_.NowUnix();
  if (resp.status != 201 && resp.status != 200) return StatusFromResponse(resp, "establish session");
  auto j = ParseJsonObject(resp.body);
  if (!j.ok()) return Error(Code::kInternal, "establish session: response is not a JSON object");
  auto id = GetString(*j, "session");
  auto expires = GetString(*j, "expiresAt");
  if (!id.ok() || id->empty() || !expires.ok()) {
    return Error(Code::kInternal, "establish session: response lacks session or expiresAt");
  }
  auto expires_at_or = ParseExpiresAt(*expires);
  if (!expires_at_or.ok()) {
    // The edge holds a session (and the pod's pin) the SDK cannot use: end
    // it, best effort, so the pin is not left behind (test
    // EngineTest.RefusesExpiresAtWithOffsetOrNoZone).
    (void)Call("DELETE", std::string(kSessionsPath) + "/" + PathSegment(*id), "", *keys_, 1);
    return expires_at_or.status();
  }
  const int64_t expires_at = *expires_at_or;
  session_id_ = *id;
  // Refresh before expiresAt: at the configured margin, or half the
  // lifetime for short sessions (test RefreshesBeforeExpiry).
  const int64_t lifetime = std::max<int64_t>(expires_at - now, 0);
  refresh_at_ = expires_at - std::min(config_.refresh_margin_seconds, lifetime / 2);
  if (next_rotation_at_ == 0 && config_.rotation_seconds > 0) next_rotation_at_ = now + config_.rotation_seconds;
  ++generation_;
  std::lock_guard<std::mutex> lock(stats_mu_);
  ++stats_.establishes;
  return OkStatus();
}

void Engine::RotateLocked() {
  // docs/protocol.md §4.3: the proof is by the CURRENT key; `pop` is a JWS by the
  // NEW key over {"session","prev": old jkt,"iat"} (test RotatesDpopKey).
  const int64_t now = clock_.NowUnix();
  auto fresh = Keys::Generate(rng_);
  if (!fresh.ok()) {
    next_rotation_at_ = now + config_.rotation_retry_seconds;
    return;
  }
  const Keys& next = **fresh;
  const Json payload{{"session", session_id_}, {"prev", keys_->jkt}, {"iat", now}};
  const std::string pop = jose::SignCompactJws(Json{{"alg", "EdDSA"}}, DumpJson(payload), next.dpop);
  const Json body{{"session", session_id_},
                  {"key", jose::Jwk::FromEd25519Public(next.dpop.public_key()).ToJson()},
                  {"recipient", jose::Jwk::FromX25519Public(next.recipient.public_key()).ToJson()},
                  {"pop", pop}};
  auto resp = Call("POST", std::string(kRotatePath), DumpJson(body), *keys_, config_.max_attempts);
  if (resp.ok() && resp->status == 200) {
    keys_ = std::move(*fresh);  // the old keys are wiped once no unwrap holds them
    next_rotation_at_ = now + config_.rotation_seconds;
    ++generation_;
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.rotations;
    return;
  }
  // A failed rotation does not break secret access: the old key stays
  // pinned. A session the edge no longer knows is re-established instead.
  if (resp.ok() && WireCodeOf(*resp) == "session_invalid") session_id_.clear();
  next_rotation_at_ = now + config_.rotation_retry_seconds;
}

Status Engine::EnsureSession(bool* established) {
  {
    std::shared_lock<std::shared_mutex> lock(session_mu_);
    if (closed_) return Error(Code::kFailedPrecondition, "client is closed");
    const int64_t now = clock_.NowUnix();
    const bool rotate_due = config_.rotation_seconds > 0 && now >= next_rotation_at_;
    if (!session_id_.empty() && now < refresh_at_ && !rotate_due) return OkStatus();
  }
  std::unique_lock<std::shared_mutex> lock(session_mu_);
  if (closed_) return Error(Code::kFailedPrecondition, "client is closed");
  const int64_t now = clock_.NowUnix();
  if (session_id_.empty() || now >= refresh_at_) {
    ASTIS_RETURN_IF_ERROR(EstablishLocked());
    if (established != nullptr) *established = true;
  }
  if (config_.rotation_seconds > 0 && clock_.NowUnix() >= next_rotation_at_) {
    RotateLocked();
    if (session_id_.empty()) {
      ASTIS_RETURN_IF_ERROR(EstablishLocked());
      if (established != nullptr) *established = true;
    }
  }
  return OkStatus();
}

void Engine::InvalidateSession(uint64_t generation) {
  std::unique_lock<std::shared_mutex> lock(session_mu_);
  if (generation_ == generation) session_id_.clear();
}

void Engine::EndSessionAfterFailure(uint64_t generation) {
  std::unique_lock<std::shared_mutex> lock(session_mu_);
  if (closed_ || generation_ != generation || session_id_.empty() || keys_ == nullptr) return;
  // docs/protocol.md §4.4, best effort: one attempt, its answer ignored. The
  // keys stay: a later get establishes again with the same key.
  (void)Call("DELETE", std::string(kSessionsPath) + "/" + PathSegment(session_id_), "", *keys_, 1);
  session_id_.clear();
}

Status Engine::Close() {
  std::unique_lock<std::shared_mutex> lock(session_mu_);
  if (closed_) return OkStatus();
  closed_ = true;
  Status result;
  if (!session_id_.empty() && keys_ != nullptr) {
    // docs/protocol.md §4.4: end the session; proof by the pinned key.
    auto resp = Call("DELETE", std::string(kSessionsPath) + "/" + PathSegment(session_id_), "", *keys_, 1);
    if (!resp.ok()) {
      result = resp.status();
    } else if (resp->status != 204 && resp->status != 200) {
      result = StatusFromResponse(*resp, "end session");
    }
  }
  session_id_.clear();
  keys_.reset();  // wipes both private keys (SecretBytes)
  return result;
}

// ------------------------------------------------------------------ secrets

Result<capsule::SealedValue> Engine::LoadSealedValue(const std::string& name) {
  ASTIS_RETURN_IF_ERROR(ValidateSecretName(name));
  // A mounted Secret file holds the ASCII sealed value (Kubernetes decodes
  // the base64 of `data` when mounting); else the env var.
  std::string text;
  auto file = ReadSmallFile(config_.secrets_dir + "/" + name, capsule::kMaxSealedValueBytes + 2);
  if (file.ok()) {
    text = std::move(*file);
  } else if (file.status().code() == Code::kNotFound) {
    std::optional<std::string> v = env_(EnvVarName(config_.env_prefix, name));
    if (!v.has_value()) {
      return Error(Code::kNotFound, "secret " + name + ": no file in " + config_.secrets_dir + " and no env var " +
                                        EnvVarName(config_.env_prefix, name));
    }
    text = std::move(*v);
  } else {
    return file.status().Annotate("secret " + name);
  }
  std::string_view v(text);
  if (v.ends_with('\n')) v.remove_suffix(1);
  if (v.ends_with('\r')) v.remove_suffix(1);
  auto sealed = capsule::SealedValue::Parse(v);
  if (!sealed.ok()) {
    return Error(Code::kCapsuleInvalid, "secret " + name + ": not a valid sealed value (" +
                                            sealed.status().message() + ")");
  }
  return sealed;
}

Result<SecretBytes> Engine::Get(std::string_view name) {
  const std::string n(name);
  ASTIS_ASSIGN_OR_RETURN(std::vector<SecretBytes> out, GetMany(std::span<const std::string>(&n, 1)));
  return std::move(out.front());
}

Result<std::vector<SecretBytes>> Engine::GetMany(std::span<const std::string> names) {
  if (names.empty()) return std::vector<SecretBytes>{};
  std::vector<capsule::SealedValue> values;
  values.reserve(names.size());
  for (const std::string& name : names) {
    ASTIS_ASSIGN_OR_RETURN(auto v, LoadSealedValue(name));
    values.push_back(std::move(v));
  }
  return UnwrapAll(values, names);
}

Result<std::vector<SecretBytes>> Engine::UnwrapAll(const std::vector<capsule::SealedValue>& values,
                                                   std::span<const std::string> names) {
  // A session_invalid (edge restarted, session revoked, expired early) is
  // answered by re-establishing once (tests ReestablishesAfterSessionInvalid,
  // EdgeRestartRecovers); a second one is returned.
  bool established = false;
  for (int round = 0;; ++round) {
    ASTIS_RETURN_IF_ERROR(EnsureSession(&established));
    std::shared_lock<std::shared_mutex> lock(session_mu_);
    if (closed_) return Error(Code::kFailedPrecondition, "client is closed");
    if (session_id_.empty()) {
      if (round >= 2) return Error(Code::kSessionInvalid, "session was invalidated concurrently");
      continue;
    }
    const std::shared_ptr<const Keys> keys = keys_;
    const std::string session = session_id_;
    const uint64_t generation = generation_;

    std::vector<SecretBytes> out;
    out.reserve(values.size());
    Status failure;
    for (size_t begin = 0; begin < values.size() && failure.ok(); begin += kMaxCapsulesPerUnwrap) {
      const size_t end = std::min(values.size(), begin + kMaxCapsulesPerUnwrap);
      // docs/protocol.md §4.2: 1 to 64 capsules per request (test
      // EstablishesAndUnwrapsBatch checks the chunking).
      Json capsules = Json::array();
      for (size_t i = begin; i < end; ++i) capsules.push_back(B64uEncode(values[i].capsule().bytes()));
      const Json body{{"session", session}, {"capsules", std::move(capsules)}};
      {
        std::lock_guard<std::mutex> slock(stats_mu_);
        ++stats_.unwrap_requests;
      }
      auto resp = Call("POST", std::string(kUnwrapPath), DumpJson(body), *keys, config_.max_attempts);
      if (!resp.ok()) {
        failure = resp.status();
        break;
      }
      if (resp->status != 200) {
        failure = StatusFromResponse(*resp, "unwrap");
        break;
      }
      auto j = ParseJsonObject(resp->body, JsonLimits{8 * 1024 * 1024, 8});
      auto results = j.ok() ? GetArray(*j, "results") : Result<const Json*>(j.status());
      if (!results.ok() || (*results)->size() != end - begin) {
        failure = Error(Code::kInternal, "unwrap: response does not hold one result per capsule");
        break;
      }
      for (size_t i = begin; i < end && failure.ok(); ++i) {
        const Json& r = (**results)[i - begin];
        const std::string& name = names[i];
        if (r.is_object() && r.contains("error")) {
          const std::string wire = ErrorCodeOf(r);
          failure = Error(CodeFromWire(wire).value_or(Code::kCapsuleInvalid),
                          "secret " + name + ": edge refused the capsule (" + wire + ")");
          break;
        }
        auto enc = r.is_object() ? GetString(r, "enc") : Result<std::string>(Error(Code::kInternal, ""));
        auto ct = r.is_object() ? GetString(r, "ct") : Result<std::string>(Error(Code::kInternal, ""));
        auto enc_bytes = enc.ok() ? B64uDecode(*enc) : Result<std::vector<uint8_t>>(enc.status());
        auto ct_bytes = ct.ok() ? B64uDecode(*ct) : Result<std::vector<uint8_t>>(ct.status());
        if (!enc_bytes.ok() || !ct_bytes.ok()) {
          failure = Error(Code::kInternal, "secret " + name + ": malformed unwrap result");
          break;
        }
        // docs/protocol.md §4.2: aad = CAPSULE_HASH || session id, so a result
        // for another capsule or session does not open.
        const capsule::Capsule& cap = values[i].capsule();
        auto dek = capsule::OpenRewrapped(keys->recipient, cap.hash(), session, *enc_bytes, *ct_bytes);
        if (!dek.ok()) {
          failure = Error(Code::kCrypto, "secret " + name + ": rewrapped key does not open");
          break;
        }
        // docs/protocol.md §3.2: aad = "astis value v1" || CAPSULE_HASH.
        auto plain = capsule::DecryptValue(*dek, values[i], SecretBytes::Protection::kLocked);
        if (!plain.ok()) {
          failure = Error(Code::kCrypto, "secret " + name + ": value does not decrypt under its key");
          break;
        }
        out.push_back(std::move(*plain));
      }
    }
    if (failure.ok()) return out;
    lock.unlock();
    if (failure.code() == Code::kSessionInvalid && round == 0) {
      InvalidateSession(generation);
      continue;
    }
    // A get that established the session and then failed ends it before the
    // error is returned: a process that exits on that error must not leave
    // its pod's pin behind (docs/sdk.md "Lifecycle"; test
    // EngineTest.FailedFirstGetEndsTheSession). An unreachable edge or a
    // session it no longer knows needs no DELETE.
    if (established && failure.code() != Code::kUnavailable && failure.code() != Code::kSessionInvalid) {
      EndSessionAfterFailure(generation);
    }
    return failure;
  }
}

// ------------------------------------------------------------------ test-only

const void* Engine::TestOnlyRecipientKeyAddress() const {
  std::shared_lock<std::shared_mutex> lock(session_mu_);
  return keys_ != nullptr ? keys_->recipient.secret().TestOnlyDataAddress() : nullptr;
}

bool Engine::TestOnlyRecipientKeyLocked() const {
  std::shared_lock<std::shared_mutex> lock(session_mu_);
  return keys_ != nullptr && keys_->recipient.secret().IsLocked();
}

const void* Engine::TestOnlyDpopKeyAddress() const {
  std::shared_lock<std::shared_mutex> lock(session_mu_);
  return keys_ != nullptr ? keys_->dpop.TestOnlyDataAddress() : nullptr;
}

bool Engine::TestOnlyDpopKeyLocked() const {
  std::shared_lock<std::shared_mutex> lock(session_mu_);
  return keys_ != nullptr && keys_->dpop.IsLocked();
}

std::string Engine::TestOnlyDpopJkt() const {
  std::shared_lock<std::shared_mutex> lock(session_mu_);
  return keys_ != nullptr ? keys_->jkt : "";
}

std::string Engine::TestOnlySessionId() const {
  std::shared_lock<std::shared_mutex> lock(session_mu_);
  return session_id_;
}

}  // namespace astis::sdkcore
