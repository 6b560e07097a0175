// The PostgreSQL store's tile tables (a migration of pg_sql.h's kMigrations; the statements
// over them are in pg_tiles_sql.h). Internal to src/store/postgres.
#pragma once

namespace nbi {

// Migration: overview segments (64 level cells of one row, one byte each, 255 = no cell) and
// version counters per block of base cells. Keys hold the grid step as integer 1e-7 degrees
// (tiles::StepKey), never a float.
inline constexpr const char* kPgTilesMigration = R"sql(
CREATE TABLE IF NOT EXISTS heat_overviews (
  model TEXT NOT NULL,
  step_e7 INTEGER NOT NULL,
  level INTEGER NOT NULL,
  i INTEGER NOT NULL,
  jb INTEGER NOT NULL,
  cells BYTEA NOT NULL,
  PRIMARY KEY (model, step_e7, level, i, jb));
CREATE TABLE IF NOT EXISTS heat_area_versions (
  model TEXT NOT NULL,
  step_e7 INTEGER NOT NULL,
  bi INTEGER NOT NULL,
  bj INTEGER NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (model, step_e7, bi, bj));
)sql";

}  // namespace nbi
