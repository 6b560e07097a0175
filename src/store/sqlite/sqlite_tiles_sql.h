// SQL of the SQLite store's tile role (sqlite_tiles.cc): the overview levels and the per-area
// version counters (store/tile_store.h, tiles/tiles.h). Same conventions as sqlite_sql.h.
#pragma once

namespace nbi::sql {

// Migration: overview segments (kSegmentCells level cells of one row, one byte each, 255 =
// no cell) and version counters per block of base cells. Keys hold the grid step as integer
// 1e-7 degrees (tiles::StepKey), never a float. WITHOUT ROWID: the key is the table.
inline constexpr const char* kTilesMigration = R"sql(
CREATE TABLE heat_overviews (
  model TEXT NOT NULL,
  step_e7 INTEGER NOT NULL,
  level INTEGER NOT NULL,
  i INTEGER NOT NULL,
  jb INTEGER NOT NULL,
  cells BLOB NOT NULL,
  PRIMARY KEY (model, step_e7, level, i, jb)) WITHOUT ROWID;
CREATE TABLE heat_area_versions (
  model TEXT NOT NULL,
  step_e7 INTEGER NOT NULL,
  bi INTEGER NOT NULL,
  bj INTEGER NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (model, step_e7, bi, bj)) WITHOUT ROWID;
)sql";

// The cells of one grid row (stored lat is exactly row * step): one index range scan.
// ?1 lat, ?2 lng from, ?3 lng to, ?4 grid_step, ?5 model.
inline constexpr const char* kTileRowCells =
    "SELECT lng, score FROM heat_cells WHERE lat = ?1 AND lng >= ?2 AND lng <= ?3 AND "
    "grid_step = ?4 AND model = ?5";
// ?1 model, ?2 step_e7, ?3 level, ?4..?5 rows, ?6..?7 segments.
inline constexpr const char* kOverviewRead =
    "SELECT i, jb, cells FROM heat_overviews WHERE model = ?1 AND step_e7 = ?2 AND level = ?3 "
    "AND i BETWEEN ?4 AND ?5 AND jb BETWEEN ?6 AND ?7";
inline constexpr const char* kOverviewDelete =
    "DELETE FROM heat_overviews WHERE model = ?1 AND step_e7 = ?2 AND level = ?3 "
    "AND i BETWEEN ?4 AND ?5 AND jb BETWEEN ?6 AND ?7";
// ?: model, step_e7, level, i, jb, cells.
inline constexpr const char* kOverviewInsert =
    "INSERT INTO heat_overviews (model, step_e7, level, i, jb, cells) VALUES (?, ?, ?, ?, ?, ?)";
// ?1 model, ?2 step_e7, ?3 bi, ?4 bj.
inline constexpr const char* kBumpAreaVersion =
    "INSERT INTO heat_area_versions (model, step_e7, bi, bj, version) VALUES (?1, ?2, ?3, ?4, 1) "
    "ON CONFLICT (model, step_e7, bi, bj) DO UPDATE SET version = version + 1";
// ?1 model, ?2 step_e7, ?3..?4 block rows, ?5..?6 block columns.
inline constexpr const char* kAreaVersion =
    "SELECT COALESCE(SUM(version), 0) FROM heat_area_versions WHERE model = ?1 AND step_e7 = ?2 "
    "AND bi BETWEEN ?3 AND ?4 AND bj BETWEEN ?5 AND ?6";
// The metadata of a job that just completed (its area, step and model).

}  // namespace nbi::sql
