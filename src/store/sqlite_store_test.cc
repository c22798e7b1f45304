// SQLite backend: the conformance suite (in-memory and file-backed) plus
// the SQLite-specific failure and migration tests.
#include "store/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "store/store_conformance.h"

namespace astis::store::testing {
namespace {

// TempDir is a fresh directory removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/astis-store-XXXXXX";
    char* made = ::mkdtemp(templ.data());
    if (made != nullptr) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class SqliteMemoryEnv final : public StoreTestEnv {
 public:
  Result<std::unique_ptr<Store>> Open() override { return OpenSqliteStore(":memory:"); }
  bool SharesState() const override { return false; }
};

class SqliteFileEnv final : public StoreTestEnv {
 public:
  Result<std::unique_ptr<Store>> Open() override {
    if (dir_.path().empty()) return Error(Code::kIo, "test: mkdtemp failed");
    return OpenSqliteStore(dir_.path() + "/state.db");
  }
  bool SharesState() const override { return true; }

 private:
  TempDir dir_;
};

StoreBackend SqliteMemoryBackend() {
  return StoreBackend{"SqliteMemory", [] { return std::unique_ptr<StoreTestEnv>(new SqliteMemoryEnv()); }};
}
StoreBackend SqliteFileBackend() {
  return StoreBackend{"SqliteFile", [] { return std::unique_ptr<StoreTestEnv>(new SqliteFileEnv()); }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest, ::testing::Values(SqliteMemoryBackend(), SqliteFileBackend()),
                         StoreBackendName);

// ---------------------------------------------------------------- SQLite only

TEST(SqliteStoreTest, CorruptFileIsStoreUnavailable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(8192, 'Z');  // not an SQLite header
  }
  auto opened = OpenSqliteStore(path);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kStoreUnavailable);
}

TEST(SqliteStoreTest, CorruptedAfterUseIsStoreUnavailable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  {
    auto opened = OpenSqliteStore(path);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Cluster c;
    c.name = "prod";
    c.issuer = "https://issuer";
    c.jwks_json = "{}";
    ASSERT_TRUE((*opened)->PutCluster(c).ok());
  }
  // Overwrite the header page of a closed, checkpointed database.
  {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    ASSERT_TRUE(f.good());
    f.seekp(0);
    f << std::string(100, '\xff');
  }
  auto reopened = OpenSqliteStore(path);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Code::kStoreUnavailable);
}

TEST(SqliteStoreTest, UnopenablePathIsStoreUnavailable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // A directory where the database file should be.
  auto is_dir = OpenSqliteStore(dir.path());
  ASSERT_FALSE(is_dir.ok());
  EXPECT_EQ(is_dir.status().code(), Code::kStoreUnavailable);
  // A parent directory that does not exist.
  auto missing = OpenSqliteStore(dir.path() + "/no/such/dir/state.db");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kStoreUnavailable);
}

TEST(SqliteStoreTest, RejectsEmptyPath) {
  EXPECT_EQ(OpenSqliteStore("").status().code(), Code::kInvalidArgument);
}

TEST(SqliteStoreTest, DatabaseFileIsOwnerOnly) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  auto opened = OpenSqliteStore(path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Runs raw SQL against a database file with the C API (test setup only).
void RawExec(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

TEST(SqliteStoreTest, RefusesNewerSchema) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  ASSERT_TRUE(OpenSqliteStore(path).ok());
  RawExec(path, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)");
  auto reopened = OpenSqliteStore(path);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Code::kFailedPrecondition);
}

TEST(SqliteStoreTest, MigrationRecordedOnce) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  ASSERT_TRUE(OpenSqliteStore(path).ok());
  ASSERT_TRUE(OpenSqliteStore(path).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(version) FROM schema_migrations", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), kSqliteSchemaVersion);
  EXPECT_EQ(sqlite3_column_int(stmt, 1), kSqliteSchemaVersion);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(SqliteStoreTest, BusyBeyondTimeoutIsStoreUnavailable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  auto opened = OpenSqliteStore(path, SqliteOptions{.busy_timeout_ms = 20});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  // Another connection holds the write lock for the whole call.
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = (*opened)->InsertJti("jkt", "jti", 200, 100);
  EXPECT_EQ(r.status().code(), Code::kStoreUnavailable);
  EXPECT_EQ(sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(holder);
  // Recovery once the lock is released.
  auto again = (*opened)->InsertJti("jkt", "jti", 200, 100);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(*again);
}

}  // namespace
}  // namespace astis::store::testing
