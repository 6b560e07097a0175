// SQL of the PostgreSQL store's tile role (pg_tiles.cc): overview levels and per-area version
// counters (store/tile_store.h, tiles/tiles.h). Same conventions as pg_sql.h.
// Internal to src/store/postgres.
#pragma once

#include "store/postgres/pg_sql.h"

namespace nbi {

// The cells of the grid rows $1 (their float lats, '{47.1,47.1005}') with lng in [$2, $3]:
// one index descent per row (tiles of level 0, and level 1 of a rebuild). Unprepared: planned with
// the table's current size (pg_sql.h, kDeleteChunkCells).
inline constexpr PgSql kPgTileCells{
    nullptr,
    "SELECT lat, lng, score FROM heat_cells WHERE lat = ANY($1::real[]) "
    "AND lng BETWEEN $2::real AND $3::real AND grid_step = $4::real AND model = $5::text"};
#define NBI_OVERVIEW_WHERE                                                                  \
  "WHERE model = $1::text AND step_e7 = $2::int AND level = $3::int AND i BETWEEN $4::int " \
  "AND $5::int AND jb BETWEEN $6::int AND $7::int"
inline constexpr PgSql kPgOverviewRead{
    "overview_read", "SELECT i, jb, cells FROM heat_overviews " NBI_OVERVIEW_WHERE};
#undef NBI_OVERVIEW_WHERE
// Several (level, rows, segment columns) ranges of one model and step in one statement (the
// overview rebuild reads every level at once). $3..$7: int arrays of level, i0, i1, jb0, jb1
// (one element per range); each row answers with its range's position k (1-based).
#define NBI_OVERVIEW_RANGES                                                        \
  "unnest($3::int[], $4::int[], $5::int[], $6::int[], $7::int[]) WITH ORDINALITY " \
  "AS q(level, i0, i1, jb0, jb1, k) "
#define NBI_OVERVIEW_IN_RANGE                                                              \
  "o.model = $1::text AND o.step_e7 = $2::int AND o.level = q.level AND o.i BETWEEN q.i0 " \
  "AND q.i1 AND o.jb BETWEEN q.jb0 AND q.jb1"
inline constexpr PgSql kPgOverviewReadRanges{
    "overview_read_ranges", "SELECT q.k::int, o.i, o.jb, o.cells FROM " NBI_OVERVIEW_RANGES
                            "JOIN heat_overviews o ON " NBI_OVERVIEW_IN_RANGE};
inline constexpr PgSql kPgOverviewDeleteRanges{
    "overview_delete_ranges",
    "DELETE FROM heat_overviews o USING " NBI_OVERVIEW_RANGES "WHERE " NBI_OVERVIEW_IN_RANGE};
#undef NBI_OVERVIEW_RANGES
#undef NBI_OVERVIEW_IN_RANGE
inline constexpr const char* kPgCopyOverviews =
    "COPY heat_overviews (model, step_e7, level, i, jb, cells) FROM STDIN (FORMAT binary)";
// Bumps blocks [$3, $4] x [$5, $6] in key order (concurrent writers lock rows in one order).
inline constexpr PgSql kPgBumpAreaVersions{
    "bump_area_versions",
    "INSERT INTO heat_area_versions (model, step_e7, bi, bj, version) "
    "SELECT $1::text, $2::int, bi, bj, 1 FROM generate_series($3::int, $4::int) bi, "
    "generate_series($5::int, $6::int) bj ORDER BY bi, bj "
    "ON CONFLICT (model, step_e7, bi, bj) DO UPDATE SET version = heat_area_versions.version + 1"};
inline constexpr PgSql kPgAreaVersion{
    "area_version",
    "SELECT COALESCE(SUM(version), 0)::bigint FROM heat_area_versions WHERE model = $1::text "
    "AND step_e7 = $2::int AND bi BETWEEN $3::int AND $4::int AND bj BETWEEN $5::int AND $6::int"};
// Rebuilds of one (model, step) take turns: a rebuild reads the levels beside its area, which
// another rebuild may be rewriting. $1: 'model/step_e7'.
inline constexpr PgSql kPgOverviewLock{
    "overview_lock", "SELECT pg_advisory_xact_lock(hashtextextended('nbi-overviews:' || $1, 0))"};

}  // namespace nbi
