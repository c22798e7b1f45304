// The schemas of the SQL store backends, as ordered migration steps compiled
// into the binary (docs/store.md "Migrations"). Nothing outside src/store
// includes this header.
#pragma once

#include <span>

namespace astis::store::internal {

// Migration is one versioned schema step. Steps are applied in order, each
// exactly once, recorded in schema_migrations. Never edit a released step:
// append a new one and bump the backend's schema version
// (kSqliteSchemaVersion, kPostgresSchemaVersion; a static_assert beside each
// list checks that they agree).
struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// SqliteMigrations is the SQLite schema, steps 1..kSqliteSchemaVersion in
// order (sqlite_schema.cc).
std::span<const Migration> SqliteMigrations();

// PostgresMigrations is the PostgreSQL schema, steps 1..kPostgresSchemaVersion
// in order (pg_schema.cc).
std::span<const Migration> PostgresMigrations();

}  // namespace astis::store::internal
