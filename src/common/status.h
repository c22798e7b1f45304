// Status and Result<T>: the one error type of the project.
//
// Errors are values. No function on a request path throws; exceptions from
// third-party libraries are caught at the parse or I/O boundary and turned
// into a Status. A Status carries a Code and a message meant for operators
// (the audit log, the CLI's stderr). What a *client* of the edge sees is only
// the wire name of the code (WireName), never the message: see
// docs/protocol.md "Error blinding".
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace astis {

// Code enumerates every error the project can return. The protocol codes of
// docs/protocol.md §7 come first and keep their wire names; the rest are local.
enum class Code : uint8_t {
  kOk = 0,
  // docs/protocol.md §7, request-level.
  kBadRequest,
  kApiKeyInvalid,
  kTokenInvalid,
  kDpopInvalid,
  kDpopReplay,
  kUseDpopNonce,
  kSessionInvalid,
  kScopeMismatch,
  kPodNotLive,
  kImageNotAllowed,
  kCredentialPinned,
  kTooLarge,
  kRateLimited,
  kKubeUnavailable,
  kCvsUnavailable,
  kStoreUnavailable,
  // docs/protocol.md §7, per-capsule inside a 200 unwrap response.
  kCapsuleScope,
  kUnknownKey,
  kCapsuleInvalid,
  // Local codes (never on the wire as such; mapped to internal_error).
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kPermissionDenied,
  kUnavailable,
  kIo,
  kCrypto,
  kInternal,
};

// WireName returns the snake_case name of a code ("token_invalid"). Local
// codes return their own snake_case name; the edge maps them before sending.
std::string_view WireName(Code code);

// HttpStatus returns the HTTP status docs/protocol.md §7 assigns to a code; local
// codes map to 500 except kInvalidArgument (400) and kNotFound (404).
int HttpStatus(Code code);

// Status is an error code plus an operator-facing message. It never holds
// secret material: callers must not format a key, DEK or plaintext into it.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // ToString renders "wire_name: message" for logs and the CLI.
  std::string ToString() const;

  // Annotate prefixes the message with context ("reading org key: ...").
  Status Annotate(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status Error(Code code, std::string message) { return Status(code, std::move(message)); }

// Result<T> holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  // NOLINTNEXTLINE(google-explicit-constructor): implicit from a value.
  Result(T value) : value_(std::move(value)) {}
  // NOLINTNEXTLINE(google-explicit-constructor): implicit from an error.
  Result(Status status) : status_(std::move(status)) {
    if (status_.ok()) status_ = Status(Code::kInternal, "Result constructed from OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // value() on an error aborts: it is a programming error, not a request
  // outcome, and this project does not throw.
  T& value() & { Check(); return *value_; }
  const T& value() const& { Check(); return *value_; }
  T&& value() && { Check(); return std::move(*value_); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void Check() const {
    if (!value_.has_value()) std::abort();
  }
  std::optional<T> value_;
  Status status_;
};

}  // namespace astis

#define ASTIS_CONCAT_INNER_(a, b) a##b
#define ASTIS_CONCAT_(a, b) ASTIS_CONCAT_INNER_(a, b)

// ASTIS_RETURN_IF_ERROR(expr) returns the Status of expr from the enclosing
// function when it is not OK. expr may be a Status or a Result<T>.
#define ASTIS_RETURN_IF_ERROR(expr)                                  \
  do {                                                              \
    const auto& astis_status_tmp_ = (expr);                         \
    if (!::astis::internal_status::IsOk(astis_status_tmp_))         \
      return ::astis::internal_status::GetStatus(astis_status_tmp_); \
  } while (0)

// ASTIS_ASSIGN_OR_RETURN(decl, expr) evaluates a Result<T>, returns its
// Status on error and otherwise moves the value into decl.
#define ASTIS_ASSIGN_OR_RETURN(decl, expr)                                        \
  auto ASTIS_CONCAT_(astis_result_, __LINE__) = (expr);                           \
  if (!ASTIS_CONCAT_(astis_result_, __LINE__).ok())                               \
    return ASTIS_CONCAT_(astis_result_, __LINE__).status();                       \
  decl = std::move(ASTIS_CONCAT_(astis_result_, __LINE__)).value()

namespace astis::internal_status {
inline bool IsOk(const Status& s) { return s.ok(); }
template <typename T>
bool IsOk(const Result<T>& r) { return r.ok(); }
inline const Status& GetStatus(const Status& s) { return s; }
template <typename T>
const Status& GetStatus(const Result<T>& r) { return r.status(); }
}  // namespace astis::internal_status
