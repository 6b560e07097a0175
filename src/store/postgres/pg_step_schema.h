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

}  // namespace nbi
