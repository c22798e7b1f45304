// The C ABI of include/astis/astis.h over sdkcore::Engine. Every entry point
// catches all exceptions (none may cross the ABI) and maps Status codes to
// astis_code.
#include "astis/astis.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/version.h"
#include "crypto/secret_bytes.h"
#include "sdk/config.h"
#include "sdk/engine.h"
#include "sdk/internal/test_hooks.h"

struct astis_config {
  astis::sdkcore::SdkConfig config;
  std::string message;
};

struct astis_client {
  std::unique_ptr<astis::sdkcore::Engine> engine;
  mutable std::mutex mu;
  std::map<std::thread::id, std::string> messages;  // last failure per calling thread
};

struct astis_secret {
  astis::SecretBytes bytes;
};

namespace {

using astis::Code;
using astis::Status;

astis_code ToCode(Code code) {
  switch (code) {
    case Code::kOk: return ASTIS_OK;
    case Code::kBadRequest: return ASTIS_BAD_REQUEST;
    case Code::kApiKeyInvalid: return ASTIS_API_KEY_INVALID;
    case Code::kTokenInvalid: return ASTIS_TOKEN_INVALID;
    case Code::kDpopInvalid: return ASTIS_DPOP_INVALID;
    case Code::kDpopReplay: return ASTIS_DPOP_REPLAY;
    case Code::kUseDpopNonce: return ASTIS_USE_DPOP_NONCE;
    case Code::kSessionInvalid: return ASTIS_SESSION_INVALID;
    case Code::kScopeMismatch: return ASTIS_SCOPE_MISMATCH;
    case Code::kPodNotLive: return ASTIS_POD_NOT_LIVE;
    case Code::kImageNotAllowed: return ASTIS_IMAGE_NOT_ALLOWED;
    case Code::kCredentialPinned: return ASTIS_CREDENTIAL_PINNED;
    case Code::kTooLarge: return ASTIS_TOO_LARGE;
    case Code::kRateLimited: return ASTIS_RATE_LIMITED;
    case Code::kKubeUnavailable: return ASTIS_KUBE_UNAVAILABLE;
    case Code::kCvsUnavailable: return ASTIS_CVS_UNAVAILABLE;
    case Code::kStoreUnavailable: return ASTIS_STORE_UNAVAILABLE;
    case Code::kCapsuleScope: return ASTIS_CAPSULE_SCOPE;
    case Code::kUnknownKey: return ASTIS_UNKNOWN_KEY;
    case Code::kCapsuleInvalid: return ASTIS_CAPSULE_INVALID;
    case Code::kInvalidArgument: return ASTIS_INVALID_ARGUMENT;
    case Code::kNotFound: return ASTIS_NOT_FOUND;
    case Code::kFailedPrecondition: return ASTIS_CONFIG;
    case Code::kPermissionDenied: return ASTIS_IO;
    case Code::kIo: return ASTIS_IO;
    case Code::kCrypto: return ASTIS_CRYPTO;
    case Code::kUnavailable: return ASTIS_UNAVAILABLE;
    case Code::kAlreadyExists:
    case Code::kInternal: return ASTIS_INTERNAL;
  }
  return ASTIS_INTERNAL;
}

size_t CopyMessage(const std::string& message, char* buf, size_t size) {
  if (buf != nullptr && size > 0) {
    const size_t n = std::min(size - 1, message.size());
    std::memcpy(buf, message.data(), n);
    buf[n] = '\0';
  }
  return message.size();
}

astis_code ConfigFail(astis_config* config, const Status& s, astis_code code) {
  config->message = s.message();
  return code;
}

astis_code ClientFail(astis_client* client, const Status& s) {
  std::lock_guard<std::mutex> lock(client->mu);
  client->messages[std::this_thread::get_id()] = s.message();
  return ToCode(s.code());
}

void ClientOk(astis_client* client) {
  std::lock_guard<std::mutex> lock(client->mu);
  client->messages.erase(std::this_thread::get_id());
}

// SetString is the body of the simple string setters.
template <typename F>
astis_code SetString(astis_config* config, const char* value, F apply) {
  if (config == nullptr) return ASTIS_INVALID_ARGUMENT;
  try {
    if (value == nullptr || *value == '\0') {
      return ConfigFail(config, Status(Code::kInvalidArgument, "value must be a non-empty string"), ASTIS_CONFIG);
    }
    Status s = apply(std::string(value));
    if (!s.ok()) return ConfigFail(config, s, ASTIS_CONFIG);
    config->message.clear();
    return ASTIS_OK;
  } catch (...) {
    return ASTIS_INTERNAL;
  }
}

// SetPinWaitSeconds applies ASTIS_PIN_WAIT_SECONDS (docs/sdk.md
// "Configuration"); the C ABI has no setter for it.
astis_code SetPinWaitSeconds(astis_config* config, const char* value) {
  auto seconds = astis::sdkcore::ParseSeconds(value);
  if (!seconds.ok()) return ConfigFail(config, seconds.status(), ASTIS_CONFIG);
  config->config.pin_wait_seconds = *seconds;
  config->message.clear();
  return ASTIS_OK;
}

// Quarantine (test-only, see sdk/internal/test_hooks.h).
std::mutex g_quarantine_mu;
bool g_quarantine_on = false;
std::vector<astis::SecretBytes>* g_quarantine = nullptr;

}  // namespace

namespace astis::sdkcore::testing {

void SetSecretQuarantine(bool on) {
  std::lock_guard<std::mutex> lock(g_quarantine_mu);
  g_quarantine_on = on;
  if (!on) {
    delete g_quarantine;
    g_quarantine = nullptr;
  }
}

std::vector<uint8_t> QuarantinedBytes(const void* data) {
  std::lock_guard<std::mutex> lock(g_quarantine_mu);
  if (g_quarantine == nullptr) return {};
  for (const SecretBytes& s : *g_quarantine) {
    if (s.TestOnlyDataAddress() == data) return {s.Reveal().begin(), s.Reveal().end()};
  }
  return {};
}

astis_client* WrapEngine(std::unique_ptr<Engine> engine) {
  auto* c = new astis_client;
  c->engine = std::move(engine);
  return c;
}

Engine* EngineOf(astis_client* client) { return client != nullptr ? client->engine.get() : nullptr; }

}  // namespace astis::sdkcore::testing

extern "C" {

const char* astis_version(void) {
  // Built once (thread-safe static init); OpenSSL_version and
  // sodium_version_string do not throw. Test: CApiVersionTest.VersionIsStaticText.
  static const std::string text = astis::VersionText("libastis");
  return text.c_str();
}

const char* astis_code_name(astis_code code) {
  switch (code) {
    case ASTIS_OK: return "ok";
    case ASTIS_BAD_REQUEST: return "bad_request";
    case ASTIS_API_KEY_INVALID: return "api_key_invalid";
    case ASTIS_TOKEN_INVALID: return "token_invalid";
    case ASTIS_DPOP_INVALID: return "dpop_invalid";
    case ASTIS_DPOP_REPLAY: return "dpop_replay";
    case ASTIS_USE_DPOP_NONCE: return "use_dpop_nonce";
    case ASTIS_SESSION_INVALID: return "session_invalid";
    case ASTIS_SCOPE_MISMATCH: return "scope_mismatch";
    case ASTIS_POD_NOT_LIVE: return "pod_not_live";
    case ASTIS_IMAGE_NOT_ALLOWED: return "image_not_allowed";
    case ASTIS_CREDENTIAL_PINNED: return "credential_pinned";
    case ASTIS_TOO_LARGE: return "too_large";
    case ASTIS_RATE_LIMITED: return "rate_limited";
    case ASTIS_KUBE_UNAVAILABLE: return "kube_unavailable";
    case ASTIS_CVS_UNAVAILABLE: return "cvs_unavailable";
    case ASTIS_STORE_UNAVAILABLE: return "store_unavailable";
    case ASTIS_CAPSULE_SCOPE: return "capsule_scope";
    case ASTIS_UNKNOWN_KEY: return "unknown_key";
    case ASTIS_CAPSULE_INVALID: return "capsule_invalid";
    case ASTIS_INVALID_ARGUMENT: return "invalid_argument";
    case ASTIS_CONFIG: return "config";
    case ASTIS_IO: return "io";
    case ASTIS_NOT_FOUND: return "not_found";
    case ASTIS_CRYPTO: return "crypto";
    case ASTIS_UNAVAILABLE: return "unavailable";
    case ASTIS_INTERNAL: return "internal";
  }
  return "unknown";
}

astis_code astis_config_new(astis_config** out_config) {
  if (out_config == nullptr) return ASTIS_INVALID_ARGUMENT;
  *out_config = nullptr;
  try {
    *out_config = new astis_config;
    return ASTIS_OK;
  } catch (...) {
    return ASTIS_INTERNAL;
  }
}

void astis_config_free(astis_config* config) { delete config; }

astis_code astis_config_load_env(astis_config* config) {
  if (config == nullptr) return ASTIS_INVALID_ARGUMENT;
  struct Setting {
    const char* env;
    astis_code (*set)(astis_config*, const char*);
  };
  static constexpr Setting kSettings[] = {
      {"ASTIS_EDGE_URL", astis_config_set_edge_url},       {"ASTIS_CA_FILE", astis_config_set_ca_file},
      {"ASTIS_API_KEY_FILE", astis_config_set_api_key_file}, {"ASTIS_TOKEN_PATH", astis_config_set_token_path},
      {"ASTIS_SECRETS_DIR", astis_config_set_secrets_dir}, {"ASTIS_ENV_PREFIX", astis_config_set_env_prefix},
      {"ASTIS_PIN_WAIT_SECONDS", SetPinWaitSeconds},
  };
  for (const Setting& s : kSettings) {
    const char* v = std::getenv(s.env);  // NOLINT(concurrency-mt-unsafe): read-only use
    if (v == nullptr || *v == '\0') continue;
    const astis_code code = s.set(config, v);
    if (code != ASTIS_OK) {
      config->message = std::string(s.env) + ": " + config->message;
      return code;
    }
  }
  return ASTIS_OK;
}

astis_code astis_config_set_edge_url(astis_config* config, const char* urls) {
  return SetString(config, urls, [&](std::string v) -> Status {
    auto parsed = astis::sdkcore::ParseEdgeUrls(v);
    if (!parsed.ok()) return parsed.status();
    config->config.edge_urls = std::move(*parsed);
    return Status();
  });
}

astis_code astis_config_set_ca_file(astis_config* config, const char* path) {
  return SetString(config, path, [&](std::string v) {
    config->config.ca_file = std::move(v);
    return Status();
  });
}

astis_code astis_config_set_api_key_file(astis_config* config, const char* path) {
  return SetString(config, path, [&](std::string v) {
    config->config.api_key_file = std::move(v);
    return Status();
  });
}

astis_code astis_config_set_api_key_env(astis_config* config, const char* env_name) {
  return SetString(config, env_name, [&](std::string v) {
    config->config.api_key_env = std::move(v);
    config->config.api_key_file.clear();
    return Status();
  });
}

astis_code astis_config_set_token_path(astis_config* config, const char* path) {
  return SetString(config, path, [&](std::string v) {
    config->config.token_path = std::move(v);
    return Status();
  });
}

astis_code astis_config_set_secrets_dir(astis_config* config, const char* dir) {
  return SetString(config, dir, [&](std::string v) {
    config->config.secrets_dir = std::move(v);
    return Status();
  });
}

astis_code astis_config_set_env_prefix(astis_config* config, const char* prefix) {
  return SetString(config, prefix, [&](std::string v) -> Status {
    astis::sdkcore::SdkConfig probe = config->config;
    probe.env_prefix = v;
    probe.edge_urls = {"https://probe"};  // validate the prefix alone
    if (Status s = astis::sdkcore::ValidateConfig(probe); !s.ok()) return s;
    config->config.env_prefix = std::move(v);
    return Status();
  });
}

astis_code astis_config_set_rotation_seconds(astis_config* config, int64_t seconds) {
  if (config == nullptr) return ASTIS_INVALID_ARGUMENT;
  if (seconds < 0) {
    return ConfigFail(config, Status(Code::kInvalidArgument, "rotation interval must be >= 0"), ASTIS_CONFIG);
  }
  config->config.rotation_seconds = seconds;
  config->message.clear();
  return ASTIS_OK;
}

size_t astis_config_last_message(const astis_config* config, char* buf, size_t size) {
  if (config == nullptr) return CopyMessage("", buf, size);
  return CopyMessage(config->message, buf, size);
}

astis_code astis_client_new(const astis_config* config, astis_client** out_client) {
  if (out_client != nullptr) *out_client = nullptr;
  if (config == nullptr || out_client == nullptr) return ASTIS_INVALID_ARGUMENT;
  auto* mutable_config = const_cast<astis_config*>(config);  // only its message changes
  try {
    auto engine = astis::sdkcore::Engine::Create(config->config);
    if (!engine.ok()) {
      const Code c = engine.status().code();
      const astis_code code = (c == Code::kInvalidArgument || c == Code::kNotFound) ? ASTIS_CONFIG : ToCode(c);
      return ConfigFail(mutable_config, engine.status(), code);
    }
    *out_client = astis::sdkcore::testing::WrapEngine(std::move(*engine));
    mutable_config->message.clear();
    return ASTIS_OK;
  } catch (...) {
    return ASTIS_INTERNAL;
  }
}

void astis_client_free(astis_client* client) {
  if (client == nullptr) return;
  try {
    (void)client->engine->Close();
  } catch (...) {
    // Nothing may cross the ABI; the keys are wiped by the destructor below.
  }
  delete client;
}

astis_code astis_client_get(astis_client* client, const char* name, astis_secret** out_secret) {
  if (out_secret != nullptr) *out_secret = nullptr;
  if (client == nullptr || out_secret == nullptr) return ASTIS_INVALID_ARGUMENT;
  if (name == nullptr) return ClientFail(client, Status(Code::kInvalidArgument, "name is NULL"));
  try {
    auto plain = client->engine->Get(name);
    if (!plain.ok()) return ClientFail(client, plain.status());
    *out_secret = new astis_secret{std::move(*plain)};
    ClientOk(client);
    return ASTIS_OK;
  } catch (...) {
    return ClientFail(client, Status(Code::kInternal, "unexpected exception"));
  }
}

astis_code astis_client_get_many(astis_client* client, const char* const* names, size_t n,
                                 astis_secret** out_secrets) {
  if (client == nullptr || out_secrets == nullptr) return ASTIS_INVALID_ARGUMENT;
  for (size_t i = 0; i < n; ++i) out_secrets[i] = nullptr;
  if (names == nullptr && n > 0) return ClientFail(client, Status(Code::kInvalidArgument, "names is NULL"));
  try {
    std::vector<std::string> list;
    list.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (names[i] == nullptr) {
        return ClientFail(client, Status(Code::kInvalidArgument, "names[" + std::to_string(i) + "] is NULL"));
      }
      list.emplace_back(names[i]);
    }
    auto plain = client->engine->GetMany(list);
    if (!plain.ok()) return ClientFail(client, plain.status());
    for (size_t i = 0; i < n; ++i) out_secrets[i] = new astis_secret{std::move((*plain)[i])};
    ClientOk(client);
    return ASTIS_OK;
  } catch (...) {
    for (size_t i = 0; i < n; ++i) {
      astis_secret_free(out_secrets[i]);
      out_secrets[i] = nullptr;
    }
    return ClientFail(client, Status(Code::kInternal, "unexpected exception"));
  }
}

size_t astis_client_last_message(const astis_client* client, char* buf, size_t size) {
  if (client == nullptr) return CopyMessage("", buf, size);
  std::lock_guard<std::mutex> lock(client->mu);
  auto it = client->messages.find(std::this_thread::get_id());
  return CopyMessage(it != client->messages.end() ? it->second : std::string(), buf, size);
}

const uint8_t* astis_secret_data(const astis_secret* secret) {
  if (secret == nullptr || secret->bytes.empty()) return nullptr;
  return secret->bytes.Reveal().data();
}

size_t astis_secret_size(const astis_secret* secret) { return secret != nullptr ? secret->bytes.size() : 0; }

void astis_secret_free(astis_secret* secret) {
  if (secret == nullptr) return;
  // Zero now, through the production path, whatever happens next (test
  // PlaintextWipedAfterFree reads this memory back under quarantine).
  std::span<uint8_t> bytes = secret->bytes.RevealMutable();
  astis::SecureWipe(bytes.data(), bytes.size());
  {
    std::lock_guard<std::mutex> lock(g_quarantine_mu);
    if (g_quarantine_on) {
      if (g_quarantine == nullptr) g_quarantine = new std::vector<astis::SecretBytes>;
      g_quarantine->push_back(std::move(secret->bytes));
    }
  }
  delete secret;  // SecretBytes wipes again and releases the locked pages
}

astis_code astis_harden_process(void) {
  // No core dumps and no ptrace attach by non-root (docs/sdk.md "Hardening").
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return ASTIS_INTERNAL;
  struct rlimit none {};
  if (setrlimit(RLIMIT_CORE, &none) != 0) return ASTIS_INTERNAL;
  return ASTIS_OK;
}

}  // extern "C"
