// The PostgreSQL store's SQL for taking over the original app's database (SPEC §2a): its
// migration (v10 of pg_sql.h's kMigrations) and the statements over the original's rows.
// Included by pg_sql.h only, after its macros (NBI_JOB_COLUMNS, NBI_ACTIVE, NBI_TS,
// NBI_JOBS_CHANNEL), which it uses. Internal to src/store/postgres.
#pragma once

namespace nbi {

// Migration: taking over the original app's database. Its unique index on (lat, lng,
// grid_step), whatever its name (heat_cells_coords_step_idx), refuses a second model of a
// cell: it goes (the unique index of v4 includes the model). Before this step the store
// labels the cells under it with SEED_JOB_MODEL (MigrateOneStep). Its foreign key on
// heat_cells.city_id goes as v3's did. Cities it made have NOT NULL lat/lng/country, which
// the engine's inserts fill (the box's centre, ''). Jobs that were there before are kept
// from pruning. A job it inserts wakes the engine's workers at once.
inline constexpr const char* kPgTakeoverMigration =
    R"sql(
DO $$
DECLARE c text;
BEGIN
  FOR c IN SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
           WHERE i.indrelid = 'heat_cells'::regclass AND i.indisunique AND i.indnatts = 3
             AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                  WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey))
                 = ARRAY['grid_step', 'lat', 'lng']
  LOOP
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = c
               AND conrelid = 'heat_cells'::regclass) THEN
      EXECUTE format('ALTER TABLE heat_cells DROP CONSTRAINT %I', c);
    ELSE
      EXECUTE format('DROP INDEX %I', c);
    END IF;
  END LOOP;
  FOR c IN SELECT conname FROM pg_constraint
           WHERE conrelid = 'heat_cells'::regclass AND contype = 'f'
  LOOP
    EXECUTE format('ALTER TABLE heat_cells DROP CONSTRAINT %I', c);
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'cities'::regclass
             AND attname = 'lat' AND NOT attisdropped) THEN
    CREATE OR REPLACE FUNCTION nbi_city_seed_columns() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN
      -- From the bounds' shortest text, as the original app reads its real columns.
      NEW.lat := COALESCE(NEW.lat, (NEW.min_lat::text::numeric + NEW.max_lat::text::numeric) / 2);
      NEW.lng := COALESCE(NEW.lng, (NEW.min_lng::text::numeric + NEW.max_lng::text::numeric) / 2);
      NEW.country := COALESCE(NEW.country, '');
      RETURN NEW;
    END $f$;
    DROP TRIGGER IF EXISTS cities_seed_columns ON cities;
    CREATE TRIGGER cities_seed_columns BEFORE INSERT ON cities FOR EACH ROW
      EXECUTE FUNCTION nbi_city_seed_columns();
  END IF;
END $$;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS kept BOOLEAN NOT NULL DEFAULT false;
UPDATE jobs SET kept = true WHERE dedupe_key IS NULL;
CREATE OR REPLACE FUNCTION nbi_job_without_parts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO job_parts (job_id, part, begin_index, end_index, next_index)
  VALUES (NEW.id, 0, 0, GREATEST(COALESCE(NEW.total_items, 0), 0),
          LEAST(CASE WHEN jsonb_typeof(NEW.metadata -> 'lastProcessedIndex') = 'number'
                THEN LEAST((NEW.metadata ->> 'lastProcessedIndex')::numeric, 9e18)::bigint
                ELSE 0 END, GREATEST(COALESCE(NEW.total_items, 0), 0)))
  ON CONFLICT DO NOTHING;
  UPDATE jobs SET ready_parts = 1, part_count = 1 WHERE id = NEW.id;
  PERFORM pg_notify(')sql" NBI_JOBS_CHANNEL R"sql(', '');
  RETURN NULL;
END $$;
)sql";

// The presets into the original app's cities (v2 on its database, SPEC §2a): its NOT NULL
// lat/lng take the box's centre, country a code or ''.
inline constexpr PgSql kInsertPresetCitySeed{
    nullptr,
    "INSERT INTO cities (slug, name, country, min_lat, min_lng, max_lat, max_lng, lat, lng) "
    "VALUES ($1, $2, COALESCE($3, ''), $4::float8, $5::float8, $6::float8, $7::float8, "
    "($4::float8 + $6::float8) / 2, ($5::float8 + $7::float8) / 2) "
    "ON CONFLICT (slug) DO NOTHING"};
// Whether cities has the original app's lat column.
inline constexpr PgSql kCitiesHaveLat{
    nullptr,
    "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'cities'::regclass "
    "AND attname = 'lat' AND NOT attisdropped)"};
// Whether heat_cells has a unique index on exactly (lat, lng, grid_step): the original app's
// (v10 drops it). The cells under it are its worker's.
inline constexpr PgSql kHasSeedCellIndex{
    nullptr,
    "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'heat_cells'::regclass "
    "AND i.indisunique AND i.indnatts = 3 AND (SELECT array_agg(a.attname::text ORDER BY "
    "a.attname) FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)) "
    "= ARRAY['grid_step', 'lat', 'lng'])"};
// The original's cells take SEED_JOB_MODEL. $1 model.
inline constexpr PgSql kSeedCellsModel{nullptr, "UPDATE heat_cells SET model = $1::text"};
// The original app's POIs (SPEC §2a), read-only: its places in the mapped Overture categories
// ($5, a text[] literal), in the box.
inline constexpr PgSql kHasOverturePois{nullptr, "SELECT to_regclass('overture_pois') IS NOT NULL"};
inline constexpr PgSql kLoadOverturePoints{
    "load_overture_points",
    "SELECT category, lat, lng FROM overture_pois "
    "WHERE lat >= $1::float8 AND lat <= $2::float8 AND lng >= $3::float8 AND lng <= $4::float8 "
    "AND category = ANY ($5::text[]) ORDER BY id"};
inline constexpr PgSql kLoadOverturePois{
    "load_overture_pois",
    "SELECT id, category, name, lat, lng FROM overture_pois "
    "WHERE lat >= $1::float8 AND lat <= $2::float8 AND lng >= $3::float8 AND lng <= $4::float8 "
    "AND category = ANY ($5::text[]) ORDER BY id LIMIT $6::bigint"};
// An active job of the original app (no model: SEED_JOB_MODEL, SPEC §2a) of exactly these
// bounds and step, not yet taken over (it has no dedupe key until claimed).
// $1..$4 minLat, minLng, maxLat, maxLng, $5 gridStep.
inline constexpr PgSql kSeedTwin{
    "seed_twin", "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE status IN " NBI_ACTIVE
                 " AND type = 'heatmap_compute' AND jsonb_typeof(metadata) = 'object' "
                 "AND NOT (metadata ? 'model') "
                 "AND metadata #> '{bounds,minLat}' = to_jsonb($1::float8) "
                 "AND metadata #> '{bounds,minLng}' = to_jsonb($2::float8) "
                 "AND metadata #> '{bounds,maxLat}' = to_jsonb($3::float8) "
                 "AND metadata #> '{bounds,maxLng}' = to_jsonb($4::float8) "
                 "AND metadata -> 'gridStep' = to_jsonb($5::float8) ORDER BY id LIMIT 1"};
// A claimed job of the original app taken over (SPEC §2a): its model ($2, metadata patch
// with lastProcessedIndex 0) pinned, total_items the engine's count ($3), its dedupe key ($4)
// unless an equal job is active already. $1 job.
inline constexpr PgSql kAdoptSeedJob{
    "adopt_seed_job",
    "UPDATE jobs SET metadata = metadata || $2::jsonb, total_items = $3::int, progress = 0, "
    "dedupe_key = CASE WHEN EXISTS (SELECT 1 FROM jobs o WHERE o.dedupe_key = $4::text "
    "AND o.status IN " NBI_ACTIVE
    " AND o.id <> $1::bigint) THEN NULL ELSE $4::text END "
    "WHERE id = $1::bigint AND jsonb_typeof(metadata) = 'object' AND NOT (metadata ? 'model') "
    "RETURNING " NBI_JOB_COLUMNS};
// Its one part spans the engine's cells and starts at 0 (the original counted the box's upper
// edges too, so its lastProcessedIndex is no cell number of ours). $1 job, $2 cells.
inline constexpr PgSql kAdoptSeedPart{
    "adopt_seed_part",
    "UPDATE job_parts SET begin_index = 0, end_index = $2::bigint, next_index = 0, "
    "claimed_index = 0 WHERE job_id = $1::bigint AND part = 0"};
}  // namespace nbi
