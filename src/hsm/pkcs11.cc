// Org keys in a PKCS#11 token (hsm/pkcs11.h, docs/hsm.md).
//
// The module is dlopen'ed (never linked), so the CVS binary runs without a
// token library unless the configuration names one. One process-wide
// Library per module path: PKCS#11 allows one C_Initialize per process
// (a second answers CKR_CRYPTOKI_ALREADY_INITIALIZED), so every
// Pkcs11Module on the same path shares it and the last one finalizes it.

#include "hsm/pkcs11.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <p11-kit/pkcs11.h>

#include "crypto/random.h"
#include "crypto/secret_bytes.h"

namespace astis::hsm {
namespace {

// DER of the P-256 curve OID 1.2.840.10045.3.1.7 as CKA_EC_PARAMS holds it
// (PKCS#11 v2.40 §2.3.3: the namedCurve choice of ECParameters).
constexpr uint8_t kP256Params[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
// How long a derive waits for a free session before answering unavailable.
constexpr std::chrono::seconds kSessionWait{10};
constexpr size_t kMaxPinBytes = 256;

std::string RvText(CK_RV rv) {
  switch (rv) {
    case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_ATTRIBUTE_SENSITIVE: return "CKR_ATTRIBUTE_SENSITIVE";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    default: break;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "CKR 0x%lx", static_cast<unsigned long>(rv));
  return buf;
}

Status Unavailable(std::string_view what, CK_RV rv) {
  return Error(Code::kCvsUnavailable, "pkcs11: " + std::string(what) + ": " + RvText(rv));
}

// PeerRefused reports a derive failure caused by the peer point rather than
// by the token (the point was validated before, so this is rare): the
// capsule's fault (kCrypto), not an outage.
bool PeerRefused(CK_RV rv) {
  return rv == CKR_MECHANISM_PARAM_INVALID || rv == CKR_ARGUMENTS_BAD || rv == CKR_DOMAIN_PARAMS_INVALID;
}

std::string Padded(std::string_view s, size_t n) {
  std::string out(s.substr(0, n));
  out.resize(n, ' ');
  return out;
}

// ReadPin reads the user PIN file into locked memory: a regular file, not
// readable or writable by group or others (kPermissionDenied; test
// Pkcs11Test.RefusesGroupReadablePinFile), at most 256 bytes, one trailing
// newline dropped. The PIN never appears in a Status.
Result<SecretBytes> ReadPin(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return Error(errno == ENOENT ? Code::kNotFound : Code::kIo, "pkcs11: pin_file: cannot open " + path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(Code::kIo, "pkcs11: pin_file: not a regular file: " + path);
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return Error(Code::kPermissionDenied, "pkcs11: pin_file: readable or writable by group or others: " + path);
  }
  if (st.st_size <= 0 || static_cast<size_t>(st.st_size) > kMaxPinBytes) {
    ::close(fd);
    return Error(Code::kInvalidArgument, "pkcs11: pin_file: must hold 1 to 256 bytes: " + path);
  }
  SecretBytes buf(static_cast<size_t>(st.st_size), SecretBytes::Protection::kLocked);
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, buf.RevealMutable().data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got != buf.size()) return Error(Code::kIo, "pkcs11: pin_file: short read: " + path);
  size_t len = got;
  if (len > 0 && buf.Reveal()[len - 1] == '\n') --len;
  if (len > 0 && buf.Reveal()[len - 1] == '\r') --len;
  if (len == 0) return Error(Code::kInvalidArgument, "pkcs11: pin_file: empty PIN: " + path);
  return SecretBytes::CopyFrom(buf.Reveal().first(len), SecretBytes::Protection::kLocked);
}

// LibraryMutex orders loading and finalizing: a module being finalized by
// its last user is not initialised again until that is done.
std::mutex& LibraryMutex() {
  static auto* mu = new std::mutex();
  return *mu;
}

// Library is one dlopen'ed and initialised module.
class Library {
 public:
  ~Library() {
    std::lock_guard lock(LibraryMutex());
    if (initialized_here_) functions_->C_Finalize(nullptr);
    // The handle stays open: modules (SoftHSM2 with OpenSSL among them)
    // register process exit handlers that must still find their code.
  }
  CK_FUNCTION_LIST* f() const { return functions_; }

  static Result<std::shared_ptr<Library>> Acquire(const std::string& path) {
    static auto* loaded = new std::map<std::string, std::weak_ptr<Library>>();
    std::lock_guard lock(LibraryMutex());
    if (auto existing = (*loaded)[path].lock()) return existing;
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) return Error(Code::kNotFound, "pkcs11: cannot load module " + path);
    auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
    if (get == nullptr) return Error(Code::kInvalidArgument, "pkcs11: not a PKCS#11 module: " + path);
    CK_FUNCTION_LIST* functions = nullptr;
    if (CK_RV rv = get(&functions); rv != CKR_OK || functions == nullptr) {
      return Unavailable("C_GetFunctionList " + path, rv);
    }
    // CKF_OS_LOCKING_OK: the CVS calls from many threads (PKCS#11 v2.40 §5.4).
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    const CK_RV rv = functions->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) return Unavailable("C_Initialize " + path, rv);
    auto lib = std::shared_ptr<Library>(new Library(functions, rv == CKR_OK));
    (*loaded)[path] = lib;
    return lib;
  }

 private:
  Library(CK_FUNCTION_LIST* f, bool initialized_here) : functions_(f), initialized_here_(initialized_here) {}
  CK_FUNCTION_LIST* functions_;
  bool initialized_here_;
};

}  // namespace

// Token is one token's session pool. A failure that may mean the token went
// away drops the pool (generation + 1): idle sessions are closed, leased
// ones are closed when they come back, and the slot is looked up again, so
// the next call opens and logs in afresh.
class Token {
 public:
  Token(std::shared_ptr<Library> lib, const Pkcs11Uri& uri, const SecretBytes& pin, size_t max_sessions)
      : lib_(std::move(lib)), uri_(uri), pin_(pin), max_(std::max<size_t>(1, max_sessions)) {}
  ~Token() {
    for (CK_SESSION_HANDLE h : idle_) f()->C_CloseSession(h);
  }

  CK_FUNCTION_LIST* f() const { return lib_->f(); }

  // Lease is a session checked out of the pool.
  class Lease {
   public:
    Lease(Token* t, CK_SESSION_HANDLE h, uint64_t gen) : t_(t), h_(h), gen_(gen) {}
    Lease(Lease&& o) noexcept : t_(std::exchange(o.t_, nullptr)), h_(o.h_), gen_(o.gen_), bad_(o.bad_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (t_ != nullptr) t_->Release(h_, gen_, bad_);
    }
    CK_SESSION_HANDLE handle() const { return h_; }
    uint64_t generation() const { return gen_; }
    // Fail marks the token suspect: the pool is dropped when this returns.
    void Fail() { bad_ = true; }

   private:
    Token* t_;
    CK_SESSION_HANDLE h_;
    uint64_t gen_;
    bool bad_ = false;
  };

  Result<Lease> Acquire() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kSessionWait, [&] { return !idle_.empty() || open_ < max_; })) {
      return Error(Code::kCvsUnavailable, "pkcs11: every session is busy");
    }
    const uint64_t gen = generation_;
    if (!idle_.empty()) {
      CK_SESSION_HANDLE h = idle_.back();
      idle_.pop_back();
      return Lease(this, h, gen);
    }
    ++open_;
    lock.unlock();
    auto h = Open(CKF_SERIAL_SESSION);
    if (!h.ok()) {
      Lease failed(this, CK_INVALID_HANDLE, gen);
      failed.Fail();
      return h.status();
    }
    return Lease(this, *h, gen);
  }

  // Open opens a session on the token's slot (found again after a drop)
  // and logs the user in unless the token already is (login state is per
  // token, PKCS#11 v2.40 §5.6 C_Login).
  Result<CK_SESSION_HANDLE> Open(CK_FLAGS flags) {
    ASTIS_ASSIGN_OR_RETURN(CK_SLOT_ID slot, Slot());
    CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
    if (CK_RV rv = f()->C_OpenSession(slot, flags, nullptr, nullptr, &h); rv != CKR_OK) {
      return Unavailable("C_OpenSession", rv);
    }
    CK_SESSION_INFO info{};
    CK_RV rv = f()->C_GetSessionInfo(h, &info);
    if (rv == CKR_OK && info.state != CKS_RO_USER_FUNCTIONS && info.state != CKS_RW_USER_FUNCTIONS) {
      rv = f()->C_Login(h, CKU_USER, const_cast<CK_UTF8CHAR*>(pin_.Reveal().data()), pin_.size());
      if (rv == CKR_USER_ALREADY_LOGGED_IN) rv = CKR_OK;
    }
    if (rv != CKR_OK) {
      f()->C_CloseSession(h);
      return Unavailable("login", rv);  // the code only, never the PIN
    }
    return h;
  }

  void Release(CK_SESSION_HANDLE h, uint64_t gen, bool bad) {
    std::vector<CK_SESSION_HANDLE> to_close;
    {
      std::lock_guard lock(mu_);
      if (gen != generation_) {
        to_close.push_back(h);
      } else if (bad) {
        to_close = std::move(idle_);
        idle_.clear();
        to_close.push_back(h);
        ++generation_;
        open_ = 0;
        have_slot_ = false;
      } else {
        idle_.push_back(h);
      }
    }
    cv_.notify_all();
    for (CK_SESSION_HANDLE s : to_close) {
      if (s != CK_INVALID_HANDLE) f()->C_CloseSession(s);  // errors ignored: the session is gone either way
    }
  }

 private:
  Result<CK_SLOT_ID> Slot() {
    {
      std::lock_guard lock(mu_);
      if (have_slot_) return slot_;
    }
    CK_ULONG n = 0;
    if (CK_RV rv = f()->C_GetSlotList(CK_TRUE, nullptr, &n); rv != CKR_OK) return Unavailable("C_GetSlotList", rv);
    std::vector<CK_SLOT_ID> slots(n);
    if (CK_RV rv = f()->C_GetSlotList(CK_TRUE, slots.data(), &n); rv != CKR_OK) {
      return Unavailable("C_GetSlotList", rv);
    }
    slots.resize(n);
    std::optional<CK_SLOT_ID> found;
    for (CK_SLOT_ID s : slots) {
      CK_TOKEN_INFO ti{};
      if (f()->C_GetTokenInfo(s, &ti) != CKR_OK) continue;
      auto field = [](const unsigned char* p, size_t len) {
        return std::string(reinterpret_cast<const char*>(p), len);
      };
      if (field(ti.label, sizeof ti.label) != Padded(uri_.token, sizeof ti.label)) continue;
      if (!uri_.serial.empty() && field(ti.serialNumber, sizeof ti.serialNumber) !=
                                      Padded(uri_.serial, sizeof ti.serialNumber)) {
        continue;
      }
      if (!uri_.manufacturer.empty() && field(ti.manufacturerID, sizeof ti.manufacturerID) !=
                                            Padded(uri_.manufacturer, sizeof ti.manufacturerID)) {
        continue;
      }
      if (!uri_.model.empty() && field(ti.model, sizeof ti.model) != Padded(uri_.model, sizeof ti.model)) continue;
      if (found) return Error(Code::kInvalidArgument, "pkcs11: several tokens match " + uri_.ToString());
      found = s;
    }
    if (!found) return Error(Code::kCvsUnavailable, "pkcs11: no token matches " + uri_.ToString());
    std::lock_guard lock(mu_);
    slot_ = *found;
    have_slot_ = true;
    return slot_;
  }

  std::shared_ptr<Library> lib_;
  const Pkcs11Uri uri_;  // only the token attributes are used
  const SecretBytes& pin_;
  const size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 1;
  std::vector<CK_SESSION_HANDLE> idle_;
  size_t open_ = 0;
  bool have_slot_ = false;
  CK_SLOT_ID slot_ = 0;
};

namespace {

Status Attr(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
            std::vector<uint8_t>& out) {
  CK_ATTRIBUTE a{type, nullptr, 0};
  if (CK_RV rv = f->C_GetAttributeValue(s, o, &a, 1); rv != CKR_OK) return Unavailable("C_GetAttributeValue", rv);
  if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > 4096) {
    return Error(Code::kInvalidArgument, "pkcs11: attribute unavailable");
  }
  out.resize(a.ulValueLen);
  a.pValue = out.data();
  if (CK_RV rv = f->C_GetAttributeValue(s, o, &a, 1); rv != CKR_OK) return Unavailable("C_GetAttributeValue", rv);
  out.resize(a.ulValueLen);
  return OkStatus();
}

Result<bool> BoolAttr(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type) {
  CK_BBOOL v = CK_FALSE;
  CK_ATTRIBUTE a{type, &v, sizeof v};
  if (CK_RV rv = f->C_GetAttributeValue(s, o, &a, 1); rv != CKR_OK) return Unavailable("C_GetAttributeValue", rv);
  return v == CK_TRUE;
}

// Find returns up to two objects matching tmpl (two means "ambiguous").
Result<std::vector<CK_OBJECT_HANDLE>> Find(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE s, std::vector<CK_ATTRIBUTE> tmpl) {
  if (CK_RV rv = f->C_FindObjectsInit(s, tmpl.data(), tmpl.size()); rv != CKR_OK) {
    return Unavailable("C_FindObjectsInit", rv);
  }
  CK_OBJECT_HANDLE found[2];
  CK_ULONG n = 0;
  const CK_RV rv = f->C_FindObjects(s, found, 2, &n);
  f->C_FindObjectsFinal(s);
  if (rv != CKR_OK) return Unavailable("C_FindObjects", rv);
  return std::vector<CK_OBJECT_HANDLE>(found, found + n);
}

std::vector<CK_ATTRIBUTE> ObjectTemplate(const Pkcs11Uri& uri, CK_OBJECT_CLASS* cls) {
  std::vector<CK_ATTRIBUTE> t;
  if (cls != nullptr) t.push_back({CKA_CLASS, cls, sizeof *cls});
  if (!uri.object.empty()) t.push_back({CKA_LABEL, const_cast<char*>(uri.object.data()), uri.object.size()});
  if (!uri.id.empty()) t.push_back({CKA_ID, const_cast<uint8_t*>(uri.id.data()), uri.id.size()});
  return t;
}

// ParseEcPoint reads CKA_EC_POINT: a DER OCTET STRING holding the
// uncompressed point (PKCS#11 v2.40 §2.3.3), or the bare point as some
// tokens return it; then the RFC 9180 §7.1.4 validation of P256PublicKey.
Result<P256PublicKey> ParseEcPoint(std::span<const uint8_t> v) {
  if (v.size() == kP256PublicKeySize + 2 && v[0] == 0x04 && v[1] == kP256PublicKeySize) v = v.subspan(2);
  return P256PublicKey::FromBytes(v);
}

struct FoundKey {
  CK_OBJECT_HANDLE handle;
  P256PublicKey public_key;
};

// FindKey finds the private key the URI names and checks it may serve as an
// org key: EC on P-256, CKA_DERIVE, and unable to leave the token
// (CKA_SENSITIVE true, CKA_EXTRACTABLE false). Tests:
// Pkcs11Test.OpenRefusesExtractableKey, OpenRefusesNonSensitiveKey.
Result<FoundKey> FindKey(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE s, const Pkcs11Uri& uri) {
  CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
  ASTIS_ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> keys, Find(f, s, ObjectTemplate(uri, &priv)));
  const std::string name = uri.ToString();
  if (keys.empty()) return Error(Code::kNotFound, "pkcs11: no private key " + name);
  if (keys.size() > 1) return Error(Code::kInvalidArgument, "pkcs11: several private keys match " + name);
  const CK_OBJECT_HANDLE key = keys[0];
  CK_KEY_TYPE type = 0;
  CK_ATTRIBUTE ta{CKA_KEY_TYPE, &type, sizeof type};
  if (CK_RV rv = f->C_GetAttributeValue(s, key, &ta, 1); rv != CKR_OK) return Unavailable("C_GetAttributeValue", rv);
  std::vector<uint8_t> params;
  if (type != CKK_EC || !Attr(f, s, key, CKA_EC_PARAMS, params).ok() ||
      !std::equal(params.begin(), params.end(), std::begin(kP256Params), std::end(kP256Params))) {
    return Error(Code::kInvalidArgument, "pkcs11: not a P-256 key: " + name);
  }
  ASTIS_ASSIGN_OR_RETURN(bool sensitive, BoolAttr(f, s, key, CKA_SENSITIVE));
  ASTIS_ASSIGN_OR_RETURN(bool extractable, BoolAttr(f, s, key, CKA_EXTRACTABLE));
  ASTIS_ASSIGN_OR_RETURN(bool derive, BoolAttr(f, s, key, CKA_DERIVE));
  if (!sensitive || extractable) {
    return Error(Code::kInvalidArgument, "pkcs11: key can leave the token (not sensitive or extractable): " + name);
  }
  if (!derive) return Error(Code::kInvalidArgument, "pkcs11: key does not allow CKA_DERIVE: " + name);
  // The public point: the public key object with the private key's CKA_ID
  // (or label), else CKA_EC_POINT on the private key where the token has it.
  std::vector<uint8_t> id;
  ASTIS_RETURN_IF_ERROR(Attr(f, s, key, CKA_ID, id));
  CK_OBJECT_CLASS pub = CKO_PUBLIC_KEY;
  Pkcs11Uri pub_uri;
  pub_uri.id = id;
  if (id.empty()) pub_uri.object = uri.object;
  std::vector<CK_OBJECT_HANDLE> pubs;
  if (!pub_uri.id.empty() || !pub_uri.object.empty()) {
    ASTIS_ASSIGN_OR_RETURN(pubs, Find(f, s, ObjectTemplate(pub_uri, &pub)));
  }
  std::vector<uint8_t> point;
  if (pubs.size() == 1) {
    ASTIS_RETURN_IF_ERROR(Attr(f, s, pubs[0], CKA_EC_POINT, point));
  } else if (!Attr(f, s, key, CKA_EC_POINT, point).ok()) {
    return Error(Code::kNotFound, "pkcs11: no public key for " + name);
  }
  auto pk = ParseEcPoint(point);
  if (!pk.ok()) return Error(Code::kInvalidArgument, "pkcs11: public key is not a valid P-256 point: " + name);
  return FoundKey{key, *pk};
}

// TokenKey is an org key in a token: only a handle and the public point are
// held here.
class TokenKey final : public P256KeyAgreement {
 public:
  TokenKey(std::shared_ptr<Pkcs11Module> module, std::shared_ptr<Token> token, Pkcs11Uri uri, FoundKey found,
           uint64_t generation)
      : module_(std::move(module)),
        token_(std::move(token)),
        uri_(std::move(uri)),
        public_key_(found.public_key),
        handle_(found.handle),
        handle_generation_(generation) {}

  const P256PublicKey& public_key() const override { return public_key_; }

  // Agree derives the ECDH secret in the token (CKM_ECDH1_DERIVE, CKD_NULL,
  // the peer's uncompressed point: PKCS#11 v2.40 §2.3.14) into a session
  // object that may be read (CKA_SENSITIVE false, CKA_EXTRACTABLE true,
  // CKA_TOKEN false, 32-byte generic secret), reads CKA_VALUE straight into
  // SecretBytes and destroys the object. Test: Pkcs11Test.DeriveEqualsSoftwareEcdh.
  Result<SecretBytes> Agree(const P256PublicKey& peer) const override {
    ASTIS_ASSIGN_OR_RETURN(Token::Lease lease, token_->Acquire());
    CK_FUNCTION_LIST* f = token_->f();
    const CK_SESSION_HANDLE s = lease.handle();
    auto key = Handle(lease);
    if (!key.ok()) {
      if (key.status().code() == Code::kCvsUnavailable) lease.Fail();
      return Error(Code::kCvsUnavailable, key.status().message());
    }
    CK_ECDH1_DERIVE_PARAMS params{CKD_NULL, 0, nullptr, kP256PublicKeySize, const_cast<uint8_t*>(peer.bytes.data())};
    CK_MECHANISM mech{CKM_ECDH1_DERIVE, &params, sizeof params};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_GENERIC_SECRET;
    CK_ULONG len = kP256ScalarSize;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},       {CKA_KEY_TYPE, &type, sizeof type},
                           {CKA_TOKEN, &no, sizeof no},         {CKA_SENSITIVE, &no, sizeof no},
                           {CKA_EXTRACTABLE, &yes, sizeof yes}, {CKA_VALUE_LEN, &len, sizeof len}};
    CK_OBJECT_HANDLE secret = CK_INVALID_HANDLE;
    if (CK_RV rv = f->C_DeriveKey(s, &mech, *key, tmpl, std::size(tmpl), &secret); rv != CKR_OK) {
      if (PeerRefused(rv)) return Error(Code::kCrypto, "pkcs11: C_DeriveKey refused the peer point: " + RvText(rv));
      lease.Fail();
      return Unavailable("C_DeriveKey", rv);
    }
    SecretBytes shared(kP256ScalarSize, SecretBytes::Protection::kLocked);
    CK_ATTRIBUTE value{CKA_VALUE, shared.RevealMutable().data(), shared.size()};
    const CK_RV rv = f->C_GetAttributeValue(s, secret, &value, 1);
    const CK_RV destroyed = f->C_DestroyObject(s, secret);
    if (rv != CKR_OK || value.ulValueLen != kP256ScalarSize) {
      shared.Wipe();
      lease.Fail();
      return Unavailable("reading the derived secret", rv);
    }
    // A secret object left behind would hold the shared secret until the
    // session closes: drop the session so it goes now.
    if (destroyed != CKR_OK) lease.Fail();
    return shared;
  }

 private:
  // Handle is the key's object handle in this pool generation: found again
  // after the pool was dropped (a re-inserted token may number objects
  // anew), and then it must still be the same key.
  Result<CK_OBJECT_HANDLE> Handle(const Token::Lease& lease) const {
    {
      std::lock_guard lock(mu_);
      if (handle_generation_ == lease.generation()) return handle_;
    }
    ASTIS_ASSIGN_OR_RETURN(FoundKey found, FindKey(token_->f(), lease.handle(), uri_));
    if (!(found.public_key == public_key_)) {
      return Error(Code::kCvsUnavailable, "pkcs11: the token's key changed: " + uri_.ToString());
    }
    std::lock_guard lock(mu_);
    handle_ = found.handle;
    handle_generation_ = lease.generation();
    return handle_;
  }

  std::shared_ptr<Pkcs11Module> module_;  // keeps the library loaded
  std::shared_ptr<Token> token_;
  const Pkcs11Uri uri_;
  const P256PublicKey public_key_;
  mutable std::mutex mu_;
  mutable CK_OBJECT_HANDLE handle_;
  mutable uint64_t handle_generation_;
};

std::string TokenKeyOf(const Pkcs11Uri& uri) {
  Pkcs11Uri t;
  t.token = uri.token;
  t.serial = uri.serial;
  t.manufacturer = uri.manufacturer;
  t.model = uri.model;
  return t.ToString();
}

}  // namespace

struct Pkcs11Module::Impl {
  std::shared_ptr<Library> lib;
  SecretBytes pin;
  size_t max_sessions;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<Token>> tokens;

  std::shared_ptr<Token> TokenFor(const Pkcs11Uri& uri) {
    std::lock_guard lock(mu);
    auto& t = tokens[TokenKeyOf(uri)];
    if (!t) t = std::make_shared<Token>(lib, uri, pin, max_sessions);
    return t;
  }
};

Pkcs11Module::Pkcs11Module(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Pkcs11Module::~Pkcs11Module() {
  // Sessions close before the library may be finalized.
  impl_->tokens.clear();
}

Result<std::shared_ptr<Pkcs11Module>> Pkcs11Module::Load(const Pkcs11Config& config) {
  if (config.module_path.empty()) return Error(Code::kInvalidArgument, "pkcs11: module path required");
  if (config.max_sessions == 0) return Error(Code::kInvalidArgument, "pkcs11: max_sessions must be at least 1");
  ASTIS_ASSIGN_OR_RETURN(SecretBytes pin, ReadPin(config.pin_file));
  ASTIS_ASSIGN_OR_RETURN(std::shared_ptr<Library> lib, Library::Acquire(config.module_path));
  auto impl = std::make_unique<Impl>();
  impl->lib = std::move(lib);
  impl->pin = std::move(pin);
  impl->max_sessions = config.max_sessions;
  return std::shared_ptr<Pkcs11Module>(new Pkcs11Module(std::move(impl)));
}

Result<std::shared_ptr<const P256KeyAgreement>> Pkcs11Module::OpenP256Key(std::string_view uri_text) {
  ASTIS_ASSIGN_OR_RETURN(Pkcs11Uri uri, Pkcs11Uri::Parse(uri_text));
  std::shared_ptr<Token> token = impl_->TokenFor(uri);
  std::shared_ptr<const P256KeyAgreement> key;
  {
    ASTIS_ASSIGN_OR_RETURN(Token::Lease lease, token->Acquire());
    auto found = FindKey(token->f(), lease.handle(), uri);
    if (!found.ok()) {
      if (found.status().code() == Code::kCvsUnavailable) lease.Fail();
      return found.status();
    }
    key = std::make_shared<TokenKey>(shared_from_this(), token, uri, *found, lease.generation());
  }
  // The public point came from another object than the private key: check
  // they are one key pair with an ECDH against a fresh software key, so a
  // key set member can never publish a point the token cannot open.
  // Test: Pkcs11Test.DeriveEqualsSoftwareEcdh.
  ASTIS_ASSIGN_OR_RETURN(P256PrivateKey probe, P256PrivateKey::Generate(DefaultRandom()));
  ASTIS_ASSIGN_OR_RETURN(SecretBytes in_token, key->Agree(probe.public_key()));
  ASTIS_ASSIGN_OR_RETURN(SecretBytes in_memory, probe.Agree(key->public_key()));
  if (!(in_token == in_memory)) {
    return Error(Code::kInvalidArgument, "pkcs11: the private and public key objects differ: " + uri.ToString());
  }
  return key;
}

Result<P256PublicKey> Pkcs11Module::GenerateP256Key(std::string_view uri_text) {
  ASTIS_ASSIGN_OR_RETURN(Pkcs11Uri uri, Pkcs11Uri::Parse(uri_text));
  if (uri.object.empty()) return Error(Code::kInvalidArgument, "pkcs11: generating a key needs object= (its label)");
  std::shared_ptr<Token> token = impl_->TokenFor(uri);
  CK_FUNCTION_LIST* f = token->f();
  ASTIS_ASSIGN_OR_RETURN(CK_SESSION_HANDLE s, token->Open(CKF_SERIAL_SESSION | CKF_RW_SESSION));
  struct Closer {
    CK_FUNCTION_LIST* f;
    CK_SESSION_HANDLE s;
    ~Closer() { f->C_CloseSession(s); }
  } closer{f, s};
  // Never a second object under the same label or id: the URI must keep
  // naming exactly one key. Test: Pkcs11Test.GenerateRefusesExistingLabel.
  Pkcs11Uri by_label;
  by_label.object = uri.object;
  ASTIS_ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> same_label, Find(f, s, ObjectTemplate(by_label, nullptr)));
  if (!same_label.empty()) {
    return Error(Code::kAlreadyExists, "pkcs11: an object exists with the label of " + uri.ToString());
  }
  std::vector<uint8_t> id = uri.id;
  if (id.empty()) {
    id.resize(16);
    ASTIS_RETURN_IF_ERROR(DefaultRandom().Fill(id));
  } else {
    Pkcs11Uri by_id;
    by_id.id = id;
    ASTIS_ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> same_id, Find(f, s, ObjectTemplate(by_id, nullptr)));
    if (!same_id.empty()) return Error(Code::kAlreadyExists, "pkcs11: an object exists with id of " + uri.ToString());
  }
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  auto* label = const_cast<char*>(uri.object.data());
  CK_ATTRIBUTE pub[] = {
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_EC_PARAMS, const_cast<uint8_t*>(kP256Params), sizeof kP256Params},
      {CKA_LABEL, label, uri.object.size()},
      {CKA_ID, id.data(), id.size()},
      {CKA_VERIFY, &no, sizeof no},
      {CKA_ENCRYPT, &no, sizeof no},
  };
  // The private key stays in the token: sensitive, never extractable, usable
  // only for ECDH (PKCS#11 v2.40 §4.9). Test: Pkcs11Test.GeneratedKeyIsSensitiveAndNotExtractable.
  CK_ATTRIBUTE priv[] = {
      {CKA_TOKEN, &yes, sizeof yes},          {CKA_PRIVATE, &yes, sizeof yes}, {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_EXTRACTABLE, &no, sizeof no},      {CKA_DERIVE, &yes, sizeof yes},  {CKA_SIGN, &no, sizeof no},
      {CKA_DECRYPT, &no, sizeof no},          {CKA_LABEL, label, uri.object.size()},
      {CKA_ID, id.data(), id.size()},
  };
  CK_OBJECT_HANDLE pub_h = CK_INVALID_HANDLE, priv_h = CK_INVALID_HANDLE;
  if (CK_RV rv = f->C_GenerateKeyPair(s, &mech, pub, std::size(pub), priv, std::size(priv), &pub_h, &priv_h);
      rv != CKR_OK) {
    return Unavailable("C_GenerateKeyPair", rv);
  }
  std::vector<uint8_t> point;
  ASTIS_RETURN_IF_ERROR(Attr(f, s, pub_h, CKA_EC_POINT, point));
  return ParseEcPoint(point);
}

}  // namespace astis::hsm
