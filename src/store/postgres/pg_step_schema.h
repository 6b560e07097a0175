// The PostgreSQL schema step that makes grid steps canonical (pg_sql.h, kMigrations).
#pragma once

namespace nbi {

// One canonical grid step (SPEC §3): see its entry in kMigrations.
inline constexpr const char* kCanonicalStepMigration = R"sql(
CREATE TEMP TABLE nbi_step_twins ON COMMIT DROP AS
SELECT o.id, o.clat, o.clng, t.id AS twin, o.computed_at > t.computed_at AS newer
FROM (SELECT id, model, grid_step, computed_at, lat, lng,
             (round(lat::float8 / s) * s)::real AS clat, (round(lng::float8 / s) * s)::real AS clng
      FROM (SELECT id, model, grid_step, computed_at, lat, lng,
                   round(grid_step::float8 * 1e7) / 1e7 AS s FROM heat_cells) x) o
JOIN heat_cells t ON t.lat = o.clat AND t.lng = o.clng AND t.grid_step = o.grid_step
                 AND t.model = o.model AND t.id <> o.id
WHERE o.lat <> o.clat OR o.lng <> o.clng;
CREATE TEMP TABLE nbi_step_keep ON COMMIT DROP AS
SELECT twin, max(id) AS id FROM nbi_step_twins WHERE newer GROUP BY twin;
DELETE FROM heat_cells
WHERE id IN (SELECT twin FROM nbi_step_keep)
   OR id IN (SELECT id FROM nbi_step_twins EXCEPT SELECT id FROM nbi_step_keep);
UPDATE heat_cells h SET lat = w.clat, lng = w.clng
FROM nbi_step_twins w JOIN nbi_step_keep k ON k.id = w.id WHERE h.id = w.id;
)sql";

// The cells of near-equal steps that kCanonicalStepMigration left where they were (it merged
// only an off-grid cell with a canonical twin): see its entry in kMigrations. A cell moves to
// its canonical point (the canonical step, row * that step) when it is not there but on the
// global grid of its own stored step (within 4e-7 of the coordinate, a few float4 ulps: a job
// of that step computed it, as row * step). The original app's cells of a box not on the
// global grid lie a fraction of a step off it and stay (SPEC §2a: they keep every column).
// Of each target point the newest row stays, a moved one or the one already there.
inline constexpr const char* kCanonicalStepMoveMigration = R"sql(
CREATE TEMP TABLE nbi_step_moves ON COMMIT DROP AS
SELECT id, model, computed_at, clat, clng, cstep
FROM (SELECT id, model, computed_at, lat, lng, grid_step, cstep,
             round(lat::float8 / grid_step::float8) * grid_step::float8 AS olat,
             round(lng::float8 / grid_step::float8) * grid_step::float8 AS olng,
             (round(lat::float8 / grid_step::float8) * s)::real AS clat,
             (round(lng::float8 / grid_step::float8) * s)::real AS clng
      FROM (SELECT id, model, computed_at, lat, lng, grid_step,
                   round(grid_step::float8 * 1e7) / 1e7 AS s,
                   (round(grid_step::float8 * 1e7) / 1e7)::real AS cstep
            FROM heat_cells
            WHERE grid_step <> 'NaN'::real AND grid_step::float8 >= 1e-7) x) o
WHERE (lat <> clat OR lng <> clng OR grid_step <> cstep)
  AND abs(lat::float8 - olat) <= abs(olat) * 4e-7
  AND abs(lng::float8 - olng) <= abs(olng) * 4e-7;
ANALYZE nbi_step_moves;
CREATE TEMP TABLE nbi_step_losers ON COMMIT DROP AS
SELECT id FROM (
  SELECT id, row_number() OVER (PARTITION BY model, clat, clng, cstep
                                ORDER BY computed_at DESC, id DESC) AS r
  FROM (SELECT id, model, computed_at, clat, clng, cstep FROM nbi_step_moves
        UNION ALL
        SELECT t.id, t.model, t.computed_at, t.lat, t.lng, t.grid_step
        FROM heat_cells t
        JOIN (SELECT DISTINCT model, clat, clng, cstep FROM nbi_step_moves) m
          ON t.lat = m.clat AND t.lng = m.clng AND t.grid_step = m.cstep
         AND t.model = m.model) a) ranked
WHERE r > 1;
DELETE FROM heat_cells WHERE id IN (SELECT id FROM nbi_step_losers);
UPDATE heat_cells h SET lat = m.clat, lng = m.clng, grid_step = m.cstep
FROM nbi_step_moves m WHERE h.id = m.id;
)sql";

}  // namespace nbi
