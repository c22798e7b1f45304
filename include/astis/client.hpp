// client.hpp: the C++ face of the ASTIS pod SDK, header-only over the C ABI
// of astis.h (so it links against libastis.so and nothing else).
//
//   auto config = astis::sdk::Config::FromEnv();           // ASTIS_EDGE_URL, ...
//   auto client = astis::sdk::Client::Create(*config);
//   auto secret = client->Get("db-password");              // Result<Secret>
//   if (!secret) { log(secret.error().message()); ... }
//   use(secret->view());                                    // wiped when secret dies
//
// Errors are values (Result<T>); nothing here throws except std::bad_alloc.
// Secret is move-only and zeroes its plaintext on destruction. Client is
// move-only and thread-safe; destroying it ends the edge session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "astis/astis.h"

namespace astis::sdk {

// Version returns astis_version(): the library's version, git commit, build
// type, OpenSSL and libsodium versions, five lines (see astis.h).
inline std::string_view Version() { return astis_version(); }

// Error is a failed call: the astis_code and its message (never secret).
class Error {
 public:
  Error(astis_code code, std::string message) : code_(code), message_(std::move(message)) {}
  // code returns the astis_code (never ASTIS_OK).
  astis_code code() const { return code_; }
  // name returns the code's snake_case name ("session_invalid").
  std::string_view name() const { return astis_code_name(code_); }
  // message returns the human-readable detail.
  const std::string& message() const { return message_; }

 private:
  astis_code code_;
  std::string message_;
};

// Result holds a T or an Error. value() on an error is a programming error
// (checked by ok() first); it aborts rather than throws.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}   // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // error returns the Error; only valid when !ok().
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Secret owns one plaintext in locked memory; move-only; zeroed and released
// on destruction (astis_secret_free).
class Secret {
 public:
  explicit Secret(astis_secret* s) : s_(s) {}
  Secret(Secret&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Secret& operator=(Secret&& o) noexcept {
    if (this != &o) {
      astis_secret_free(s_);
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() { astis_secret_free(s_); }

  // bytes / view borrow the plaintext; valid while this Secret lives.
  std::span<const uint8_t> bytes() const { return {astis_secret_data(s_), astis_secret_size(s_)}; }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(astis_secret_data(s_)), astis_secret_size(s_)};
  }
  size_t size() const { return astis_secret_size(s_); }

 private:
  astis_secret* s_;
};

// Config is an astis_config; setters return an Error for invalid values.
class Config {
 public:
  // Create returns the defaults of astis_config_new.
  static Result<Config> Create() {
    astis_config* c = nullptr;
    const astis_code code = astis_config_new(&c);
    if (code != ASTIS_OK) return Error(code, "astis_config_new failed");
    return Config(c);
  }
  // FromEnv is Create plus astis_config_load_env.
  static Result<Config> FromEnv() {
    Result<Config> c = Create();
    if (!c.ok()) return c;
    if (auto e = c->Check(astis_config_load_env(c->c_)); e) return *e;
    return c;
  }
  Config(Config&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Config& operator=(Config&& o) noexcept {
    if (this != &o) {
      astis_config_free(c_);
      c_ = std::exchange(o.c_, nullptr);
    }
    return *this;
  }
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;
  ~Config() { astis_config_free(c_); }

  std::optional<Error> SetEdgeUrl(const std::string& v) { return Check(astis_config_set_edge_url(c_, v.c_str())); }
  std::optional<Error> SetCaFile(const std::string& v) { return Check(astis_config_set_ca_file(c_, v.c_str())); }
  std::optional<Error> SetApiKeyFile(const std::string& v) {
    return Check(astis_config_set_api_key_file(c_, v.c_str()));
  }
  std::optional<Error> SetApiKeyEnv(const std::string& v) { return Check(astis_config_set_api_key_env(c_, v.c_str())); }
  std::optional<Error> SetTokenPath(const std::string& v) { return Check(astis_config_set_token_path(c_, v.c_str())); }
  std::optional<Error> SetSecretsDir(const std::string& v) {
    return Check(astis_config_set_secrets_dir(c_, v.c_str()));
  }
  std::optional<Error> SetEnvPrefix(const std::string& v) { return Check(astis_config_set_env_prefix(c_, v.c_str())); }
  std::optional<Error> SetRotationSeconds(int64_t s) { return Check(astis_config_set_rotation_seconds(c_, s)); }

  // get returns the underlying handle (borrowed).
  const astis_config* get() const { return c_; }

 private:
  explicit Config(astis_config* c) : c_(c) {}
  std::optional<Error> Check(astis_code code) const {
    if (code == ASTIS_OK) return std::nullopt;
    return Error(code, Message());
  }
  std::string Message() const {
    std::string m(astis_config_last_message(c_, nullptr, 0), '\0');
    astis_config_last_message(c_, m.data(), m.size() + 1);
    return m;
  }
  astis_config* c_;
};

// Client is an astis_client: move-only, thread-safe; destruction ends the
// session and wipes the keys (astis_client_free).
class Client {
 public:
  // Create makes a client from config (see astis_client_new).
  static Result<Client> Create(const Config& config) {
    astis_client* c = nullptr;
    const astis_code code = astis_client_new(config.get(), &c);
    if (code != ASTIS_OK) {
      std::string m(astis_config_last_message(config.get(), nullptr, 0), '\0');
      astis_config_last_message(config.get(), m.data(), m.size() + 1);
      return Error(code, std::move(m));
    }
    return Client(c);
  }
  Client(Client&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Client& operator=(Client&& o) noexcept {
    if (this != &o) {
      astis_client_free(c_);
      c_ = std::exchange(o.c_, nullptr);
    }
    return *this;
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { astis_client_free(c_); }

  // Get returns the plaintext of secret name (see astis_client_get).
  Result<Secret> Get(const std::string& name) {
    astis_secret* s = nullptr;
    const astis_code code = astis_client_get(c_, name.c_str(), &s);
    if (code != ASTIS_OK) return Error(code, Message());
    return Secret(s);
  }

  // GetMany returns the plaintexts of names in order, all or nothing (see
  // astis_client_get_many).
  Result<std::vector<Secret>> GetMany(const std::vector<std::string>& names) {
    std::vector<const char*> raw;
    raw.reserve(names.size());
    for (const std::string& n : names) raw.push_back(n.c_str());
    std::vector<astis_secret*> out(names.size(), nullptr);
    const astis_code code = astis_client_get_many(c_, raw.data(), raw.size(), out.data());
    if (code != ASTIS_OK) return Error(code, Message());
    std::vector<Secret> secrets;
    secrets.reserve(out.size());
    for (astis_secret* s : out) secrets.emplace_back(s);
    return secrets;
  }

 private:
  explicit Client(astis_client* c) : c_(c) {}
  std::string Message() const {
    std::string m(astis_client_last_message(c_, nullptr, 0), '\0');
    astis_client_last_message(c_, m.data(), m.size() + 1);
    return m;
  }
  astis_client* c_;
};

}  // namespace astis::sdk
