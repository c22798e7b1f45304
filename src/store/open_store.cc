#include "store/open_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "common/file_mode.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace astis::store {
namespace {

constexpr size_t kMaxDsnBytes = 4096;

bool IsSpace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

Result<SecretBytes> ReadDsnFile(const std::string& path) {
  // O_NOFOLLOW + fstat on the opened descriptor: the mode checked is the
  // mode of the file read.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Error(Code::kIo, "store: cannot open postgres DSN file " + path);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Error(Code::kIo, "store: cannot stat postgres DSN file " + path);
  if (!S_ISREG(st.st_mode)) return Error(Code::kInvalidArgument, "store: postgres DSN file is not a regular file: " + path);
  ASTIS_RETURN_IF_ERROR(CheckSecretFileMode(st, "store: postgres DSN file", path));
  if (st.st_size <= 0 || static_cast<size_t>(st.st_size) > kMaxDsnBytes) {
    return Error(Code::kInvalidArgument, "store: postgres DSN file is empty or larger than 4 KiB: " + path);
  }
  SecretBytes buf(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd, buf.RevealMutable().data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error(Code::kIo, "store: cannot read postgres DSN file " + path);
    got += static_cast<size_t>(n);
  }
  std::span<const uint8_t> all = buf.Reveal();
  size_t begin = 0, end = all.size();
  while (begin < end && IsSpace(all[begin])) ++begin;
  while (end > begin && IsSpace(all[end - 1])) --end;
  if (begin == end) return Error(Code::kInvalidArgument, "store: postgres DSN file is empty: " + path);
  return SecretBytes::CopyFrom(all.subspan(begin, end - begin));
}

Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options) {
  if (options.backend == "sqlite") {
    if (options.sqlite_path.empty()) return Error(Code::kInvalidArgument, "store: sqlite backend needs sqlite_path");
    SqliteOptions sqlite;
    sqlite.must_exist = options.must_exist;
    return OpenSqliteStore(options.sqlite_path, sqlite);
  }
  if (options.backend == "postgres") {
    if (options.postgres_dsn_file.empty()) {
      return Error(Code::kInvalidArgument, "store: postgres backend needs postgres_dsn_file");
    }
    if (options.pool_size < 1 || options.pool_size > 256) {
      return Error(Code::kInvalidArgument, "store: pool_size must be 1..256");
    }
    ASTIS_ASSIGN_OR_RETURN(SecretBytes dsn, ReadDsnFile(options.postgres_dsn_file));
    PostgresOptions pg;
    pg.pool_size = options.pool_size;
    return OpenPostgresStore(dsn, pg);
  }
  // The backend name is configuration, not a secret; it is not echoed anyway
  // to keep the message shape fixed.
  return Error(Code::kInvalidArgument, "store: unknown backend (want \"sqlite\" or \"postgres\")");
}

}  // namespace astis::store
