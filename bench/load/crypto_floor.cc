// MeasureCryptoFloor: the primitives of docs/performance.md "The crypto
// floor", timed with the same calls the edge and CVS make (jose::VerifyJws, Ed25519Verify,
// HpkeOpenBase / HpkeSealBase with a capsule-sized aad and a 32-byte DEK).
#include "load/crypto_floor.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "common/json.h"
#include "crypto/aead.h"
#include "crypto/ed25519.h"
#include "crypto/hpke.h"
#include "crypto/public_key.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "load/proc_stats.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace astis::bench {
namespace {

// TimeUs runs op repeatedly for about `each` of this thread's CPU time and
// returns the mean CPU cost in microseconds, or op's first error. CPU time,
// not wall time, so a busy machine (other processes, the load itself)
// does not inflate the floor.
Result<double> TimeUs(std::chrono::milliseconds each, const std::function<Status()>& op) {
  for (int i = 0; i < 3; ++i) ASTIS_RETURN_IF_ERROR(op());  // warm-up
  uint64_t n = 0;
  const double start = ThreadCpuSeconds();
  const double end = start + static_cast<double>(each.count()) / 1000;
  double now = start;
  do {
    for (int i = 0; i < 8; ++i) ASTIS_RETURN_IF_ERROR(op());
    n += 8;
    now = ThreadCpuSeconds();
  } while (now < end);
  return (now - start) * 1e6 / static_cast<double>(n);
}

// TimeWall runs op again and again for about `budget` of wall time (at
// least `min_runs` times, after one warm-up) and returns its mean thread CPU
// and wall cost, or op's first error. For operations that wait on a device
// (fdatasync), where a CPU-time budget would take far too long.
Result<OpCost> TimeWall(std::chrono::milliseconds budget, uint64_t min_runs, const std::function<Status()>& op) {
  ASTIS_RETURN_IF_ERROR(op());
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const double cpu0 = ThreadCpuSeconds();
  std::vector<double> walls;
  Clock::time_point now = start;
  do {
    const Clock::time_point t0 = now;
    ASTIS_RETURN_IF_ERROR(op());
    now = Clock::now();
    walls.push_back(std::chrono::duration<double, std::micro>(now - t0).count());
  } while (walls.size() < min_runs || now - start < budget);
  const double n = static_cast<double>(walls.size());
  OpCost c;
  c.cpu_us = (ThreadCpuSeconds() - cpu0) * 1e6 / n;
  c.wall_us = std::chrono::duration<double, std::micro>(now - start).count() / n;
  std::sort(walls.begin(), walls.end());
  auto at = [&](double q) { return walls[std::min(walls.size() - 1, static_cast<size_t>(q * n))]; };
  c.wall_p50_us = at(0.5);
  c.wall_p99_us = at(0.99);
  c.wall_max_us = walls.back();
  c.samples = walls.size();
  return c;
}

// FloorFile is a fresh name in dir for one measurement's file.
Result<std::string> FloorFile(const std::string& dir, const std::string& suffix) {
  std::vector<uint8_t> id(6);
  ASTIS_RETURN_IF_ERROR(DefaultRandom().Fill(id));
  return (std::filesystem::path(dir) / ("astis-bench-floor-" + HexEncode(id) + suffix)).string();
}

// TokenVerifyUs signs a token with the real projected-token claim shape and
// times parse + verify against its pinned JWK.
Result<double> TokenVerifyUs(std::chrono::milliseconds each, const SigningKey& key, SignatureAlg alg) {
  Json members = key.PublicJwkMembers();
  members["kid"] = "k1";
  ASTIS_ASSIGN_OR_RETURN(jose::Jwk jwk, jose::Jwk::Parse(members));
  const std::string claims =
      R"({"aud":["astis"],"exp":1764118800,"iat":1764115200,"iss":"https://kubernetes.default.svc",)"
      R"("kubernetes.io":{"namespace":"bench","pod":{"name":"bench-pod-0","uid":"6f1c"},)"
      R"("serviceaccount":{"name":"loadgen"}},"nbf":1764115200,"sub":"system:serviceaccount:bench:loadgen"})";
  const std::string token = jose::SignCompactJws(Json{{"alg", std::string(SignatureAlgName(alg))}, {"kid", "k1"}},
                                                 claims, key, alg);
  return TimeUs(each, [&]() -> Status {
    ASTIS_ASSIGN_OR_RETURN(jose::UnverifiedJws jws, jose::UnverifiedJws::Parse(token));
    return jose::VerifyJws(jws, jwk).status();
  });
}

}  // namespace

Result<CryptoFloor> MeasureCryptoFloor(std::chrono::milliseconds each) {
  Random& rng = DefaultRandom();
  CryptoFloor f;
  ASTIS_ASSIGN_OR_RETURN(SigningKey rsa, SigningKey::GenerateRsa(2048));
  ASTIS_ASSIGN_OR_RETURN(f.rs256_verify_us, TokenVerifyUs(each, rsa, SignatureAlg::kRs256));
  ASTIS_ASSIGN_OR_RETURN(SigningKey ec, SigningKey::GenerateEc(PublicKeyKind::kEcP256));
  ASTIS_ASSIGN_OR_RETURN(f.es256_verify_us, TokenVerifyUs(each, ec, SignatureAlg::kEs256));

  ASTIS_ASSIGN_OR_RETURN(Ed25519PrivateKey ed, Ed25519PrivateKey::Generate(rng));
  std::vector<uint8_t> msg(300, 0x5a);  // about a DPoP signing input
  const auto sig = ed.Sign(msg);
  ASTIS_ASSIGN_OR_RETURN(f.ed25519_verify_us,
                         TimeUs(each, [&]() { return Ed25519Verify(ed.public_key(), msg, sig); }));

  ASTIS_ASSIGN_OR_RETURN(f.x25519_keygen_us,
                         TimeUs(each, [&]() { return X25519PrivateKey::Generate(rng).status(); }));
  ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey a, X25519PrivateKey::Generate(rng));
  ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey b, X25519PrivateKey::Generate(rng));
  ASTIS_ASSIGN_OR_RETURN(f.x25519_agree_us, TimeUs(each, [&]() { return a.Agree(b.public_key()).status(); }));

  // HPKE as the CVS runs it: info "astis capsule v1" / "astis rewrap v1",
  // aad the binding (~60 bytes) or CAPSULE_HASH || session id (~60 bytes).
  const std::vector<uint8_t> dek(32, 0x11), aad(60, 0x22);
  const std::string info = "astis capsule v1";
  const std::span<const uint8_t> info_bytes(reinterpret_cast<const uint8_t*>(info.data()), info.size());
  ASTIS_ASSIGN_OR_RETURN(HpkeSealed sealed,
                         HpkeSealBase(HpkeAeadId::kAes256Gcm, a.public_key(), info_bytes, aad, dek, rng));
  ASTIS_ASSIGN_OR_RETURN(f.hpke_open_us, TimeUs(each, [&]() {
                           return HpkeOpenBase(HpkeAeadId::kAes256Gcm, sealed.enc, a, info_bytes, aad, sealed.ct)
                               .status();
                         }));
  ASTIS_ASSIGN_OR_RETURN(f.hpke_seal_us, TimeUs(each, [&]() {
                           return HpkeSealBase(HpkeAeadId::kAes256Gcm, b.public_key(), info_bytes, aad, dek, rng)
                               .status();
                         }));
  return f;
}

Result<OpCost> MeasureAuditSync(const std::string& dir, size_t line_bytes, std::chrono::milliseconds budget) {
  ASTIS_ASSIGN_OR_RETURN(std::string path, FloorFile(dir, ".jsonl"));
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Error(Code::kIo, "guarantee floor: open " + path + ": " + std::strerror(errno));
  std::string line(line_bytes > 0 ? line_bytes : 1, 'a');
  line.back() = '\n';
  auto cost = TimeWall(budget, 10, [&]() -> Status {
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      return Error(Code::kIo, std::string("guarantee floor: write: ") + std::strerror(errno));
    }
    if (::fdatasync(fd) != 0) {
      return Error(Code::kIo, std::string("guarantee floor: fdatasync: ") + std::strerror(errno));
    }
    return OkStatus();
  });
  ::close(fd);
  std::error_code ec;
  std::filesystem::remove(path, ec);
  return cost;
}

Result<OpCost> MeasureStoreAdmit(const std::string& dir, std::chrono::milliseconds budget) {
  ASTIS_ASSIGN_OR_RETURN(std::string path, FloorFile(dir, ".db"));
  Result<OpCost> cost = Error(Code::kInternal, "guarantee floor: store not measured");
  {
    ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> st, store::OpenSqliteStore(path));
    // The edge's charges (Admission: one per API key, one per pod) and a
    // hashed jti (43 characters), new every time as a real request's is.
    const int64_t now = 1764115200;
    const std::vector<store::RateCharge> charges{store::RateCharge{"key:bench-floor", now, now + 60, 1000000000},
                                                 store::RateCharge{"pod:bench/6f1c", now, now + 60, 1000000000}};
    const std::string jkt(43, 'k');
    uint64_t n = 0;
    cost = TimeWall(budget, 10, [&]() -> Status {
      std::string jti = std::to_string(++n);
      jti.resize(43, 'j');
      ASTIS_ASSIGN_OR_RETURN(store::Admission a, st->AdmitRequest(charges, store::JtiUse{jkt, jti, now + 300}, now));
      if (a.outcome != store::Admission::Outcome::kAdmitted) {
        return Error(Code::kInternal, "guarantee floor: a fresh jti was not admitted");
      }
      return OkStatus();
    });
  }
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix, ec);
  return cost;
}

Result<OpCost> MeasurePodRead(const std::function<Status()>& read, std::chrono::milliseconds budget) {
  return TimeWall(budget, 10, read);
}

Result<OpCost> MeasureTlsRecords(size_t request_bytes, size_t response_bytes, std::chrono::milliseconds each) {
  // A fixed key and nonce: this only times the work, nothing here is secret.
  constexpr size_t kRecord = 16384;  // RFC 8446 §5.1: a record's plaintext is at most 2^14 bytes
  const std::vector<uint8_t> key(32, 0x42), nonce(kAeadNonceSize, 0x24), header(5, 0x17);
  // The request arrives as sealed records (the client sealed them): made
  // once here, opened in the loop; the response is sealed in the loop.
  std::vector<std::vector<uint8_t>> in;
  for (size_t left = request_bytes; left > 0;) {
    const size_t n = std::min(left, kRecord);
    std::vector<uint8_t> pt(n + 1, 0x61);  // + the inner content type
    ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> ct, AeadSeal(AeadAlg::kAes256Gcm, key, nonce, header, pt));
    in.push_back(std::move(ct));
    left -= n;
  }
  std::vector<std::vector<uint8_t>> out_pt;
  for (size_t left = response_bytes; left > 0;) {
    const size_t n = std::min(left, kRecord);
    out_pt.emplace_back(n + 1, 0x62);
    left -= n;
  }
  ASTIS_ASSIGN_OR_RETURN(double us, TimeUs(each, [&]() -> Status {
                           for (const auto& ct : in) {
                             Result<SecretBytes> pt = AeadOpen(AeadAlg::kAes256Gcm, key, nonce, header, ct);
                             if (!pt.ok()) return pt.status();
                           }
                           for (const auto& pt : out_pt) {
                             Result<std::vector<uint8_t>> ct = AeadSeal(AeadAlg::kAes256Gcm, key, nonce, header, pt);
                             if (!ct.ok()) return ct.status();
                           }
                           return OkStatus();
                         }));
  OpCost c;
  c.cpu_us = us;
  c.wall_us = us;
  return c;
}

}  // namespace astis::bench
