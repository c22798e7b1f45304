// OpenStore: choose and open the edge's state store from configuration.
//
// The edge and the CLI call this one function; "sqlite" opens the embedded
// backend (sqlite_store.h), "postgres" the shared one (postgres_store.h).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "store/store.h"

namespace astis::store {

// StoreOptions selects and configures a backend.
struct StoreOptions {
  std::string backend;  // "sqlite" | "postgres"
  std::string sqlite_path;
  // postgres_dsn_file names a file holding a libpq conninfo string (keyword/
  // value or postgresql:// URI). It may contain a password, so it must be a
  // regular file not accessible by group or others (0600), and its contents
  // are held only in SecretBytes and never logged.
  std::string postgres_dsn_file;
  int pool_size = 8;
  // must_exist: open an existing store only, never create one (commands that
  // only read; SqliteOptions::must_exist). PostgreSQL is unaffected: a
  // connection string never creates a database.
  bool must_exist = false;
};

// OpenStore opens the configured backend; the caller owns the returned
// Store. kInvalidArgument for an unknown backend or a missing field (tests
// UnknownBackendRefused, MissingFieldsRefused); kPermissionDenied when the
// DSN file is accessible by group or others (test DsnFileWithBadPermissionsRefused);
// kIo when it cannot be read; kStoreUnavailable when the database cannot be
// reached; kFailedPrecondition when its schema is newer than this binary.
Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options);

// ReadDsnFile reads a conninfo from path (see StoreOptions) and trims
// surrounding whitespace. Errors as OpenStore's DSN file errors, plus
// kInvalidArgument for an empty or over-long (> 4 KiB) file. Never names
// the file's contents in an error.
Result<SecretBytes> ReadDsnFile(const std::string& path);

}  // namespace astis::store
