// Every SQL text of the PostgreSQL store: the schema migrations and each statement, as named
// constants. No other file of the store holds SQL.
//
// Conventions:
// - Every statement carries its values as bound parameters; values never reach SQL text.
//   A PgSql with a name is prepared once per connection and reused; the plain const char*
//   texts (migrations, DDL, COPY, transaction control) carry no values at all.
// - Timestamps are Clock epoch milliseconds. The seed's TIMESTAMP columns (UTC, no zone) are
//   written with NBI_TS and read back with NBI_MS, so a FakeClock in tests controls every
//   stored time and the database's now() is never used.
// - heat_cells.lat/lng/grid_step are REAL (float4), as in the seed. A cell is written as the
//   float of its grid coordinate, and every cell predicate compares in float4 (parameters
//   cast to ::real), so a box edge on the grid matches the cell on it exactly; comparing in
//   float8 would miss cells whose float rounds below the edge (47.10f < 47.10).
//
// Internal to src/store/postgres.
#pragma once

#include <cstdint>
#include <iterator>

#include "store/postgres/pg_claim_schema.h"
#include "store/postgres/pg_data_version_schema.h"
#include "store/postgres/pg_step_schema.h"
#include "store/postgres/pg_tiles_schema.h"
#include "store/postgres/pg_walk_schema.h"

namespace nbi {

// A statement. `name` set: prepared on first use per connection and reused; null: sent
// unprepared (one-off statements such as the migrations' bookkeeping).
struct PgSql {
  const char* name;
  const char* text;
};

// Clock milliseconds -> TIMESTAMP (UTC) and back. Exact to the millisecond: to_timestamp
// rounds to whole microseconds, and extract(epoch) is numeric.
#define NBI_TS(param) "(to_timestamp(" param "::bigint / 1000.0) AT TIME ZONE 'UTC')"
#define NBI_MS(column) "(extract(epoch FROM " column ") * 1000)::bigint"

// Column order read by ReadJob.
#define NBI_JOB_COLUMNS \
  "id, type, status, city_id, progress, total_items, error, metadata::text, "             \
  NBI_MS("created_at") " AS created_ms, " NBI_MS("started_at") " AS started_ms, "         \
  NBI_MS("completed_at") " AS completed_ms, attempts, max_attempts, priority, run_at_ms, " \
  "heartbeat_at_ms, locked_by, cancel_requested, part_count"
// Column order read by ReadPart.
#define NBI_PART_COLUMNS                                                            \
  "job_id, part, begin_index, end_index, next_index, status, attempts, locked_by, " \
  "heartbeat_at_ms, claimed_index"

#define NBI_CITY_COLUMNS "id, slug, name, country, min_lat, min_lng, max_lat, max_lng"

#define NBI_FINISHED "('completed', 'failed', 'cancelled')"
#define NBI_ACTIVE "('pending', 'running')"

// The LISTEN/NOTIFY channel of the wake-up hint (kJobsChannel in pg_store.h).
#define NBI_JOBS_CHANNEL "nearbyindex_jobs"

// Both lease updates and the checkpoint check the owner in the same statement that writes.
#define NBI_OWNED "id = $1::bigint AND status = 'running' AND locked_by = $2::text"

// metadata.lastProcessedIndex, or 0 when it is missing or not a number (never an error).
#define NBI_DONE_INDEX                                                    \
  "(CASE WHEN jsonb_typeof(metadata -> 'lastProcessedIndex') = 'number' " \
  "THEN LEAST((metadata ->> 'lastProcessedIndex')::numeric, 9e18)::bigint ELSE 0 END)"

}  // namespace nbi
// The takeover of the original app's database (v10 and its statements) uses the macros above.
#include "store/postgres/pg_takeover_sql.h"  // IWYU pragma: export
namespace nbi {

// Two processes may start at once against a fresh database; migrations serialize on this
// transaction-scoped advisory lock (an arbitrary constant: "NBIM").
inline constexpr int64_t kMigrationLockKey = 0x4E42494D;

// v1 is the seed's schema exactly, so a database made by the original TypeScript app
// upgrades in place (hence IF NOT EXISTS). v2 adds the queue columns, POIs and the indexes
// that keep hot queries independent of history size.
inline constexpr const char* kMigrations[] = {
    // v1
    R"sql(
CREATE TABLE IF NOT EXISTS cities (
  id SERIAL PRIMARY KEY,
  slug VARCHAR(100) NOT NULL UNIQUE,
  name TEXT NOT NULL,
  country TEXT,
  min_lat DOUBLE PRECISION NOT NULL,
  min_lng DOUBLE PRECISION NOT NULL,
  max_lat DOUBLE PRECISION NOT NULL,
  max_lng DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id SERIAL PRIMARY KEY,
  type VARCHAR(50) NOT NULL,
  status VARCHAR(20) NOT NULL,
  city_id INTEGER REFERENCES cities,
  progress INTEGER DEFAULT 0,
  total_items INTEGER,
  error TEXT,
  metadata JSONB,
  created_at TIMESTAMP DEFAULT NOW(),
  started_at TIMESTAMP,
  completed_at TIMESTAMP);
CREATE INDEX IF NOT EXISTS jobs_status_idx ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_type_idx ON jobs(type);
CREATE TABLE IF NOT EXISTS heat_cells (
  id SERIAL PRIMARY KEY,
  lat REAL NOT NULL,
  lng REAL NOT NULL,
  score INTEGER NOT NULL,
  grid_step REAL NOT NULL,
  city_id INTEGER REFERENCES cities,
  computed_at TIMESTAMP DEFAULT NOW(),
  UNIQUE(lat, lng, grid_step));
CREATE INDEX IF NOT EXISTS heat_cells_bounds_idx ON heat_cells(lat, lng);
)sql",
    // v2
    R"sql(
ALTER TABLE jobs
  ADD COLUMN IF NOT EXISTS attempts INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS max_attempts INTEGER NOT NULL DEFAULT 3,
  ADD COLUMN IF NOT EXISTS priority INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS run_at_ms BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS heartbeat_at_ms BIGINT,
  ADD COLUMN IF NOT EXISTS locked_by TEXT,
  ADD COLUMN IF NOT EXISTS cancel_requested BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS dedupe_key TEXT;
-- Without this partial index a claim scans every finished job (~350 claims/s at 20k jobs).
CREATE INDEX IF NOT EXISTS jobs_claim_idx ON jobs(priority DESC, id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS jobs_running_idx ON jobs(heartbeat_at_ms) WHERE status = 'running';
CREATE UNIQUE INDEX IF NOT EXISTS jobs_active_dedupe_idx ON jobs(dedupe_key)
  WHERE status IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS jobs_finished_idx ON jobs(completed_at)
  WHERE status IN ('completed', 'failed', 'cancelled');
CREATE TABLE IF NOT EXISTS pois (
  id BIGSERIAL PRIMARY KEY,
  source_id TEXT NOT NULL UNIQUE,
  category TEXT NOT NULL,
  subtype TEXT,
  name TEXT,
  lat DOUBLE PRECISION NOT NULL,
  lng DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS pois_lat_lng_idx ON pois(lat, lng);
-- UNIQUE(lat, lng, grid_step) already serves (lat, lng) range scans: one index less per write.
DROP INDEX IF EXISTS heat_cells_bounds_idx;
)sql",
    // v3: the seed's foreign key on heat_cells.city_id costs an index lookup per written cell
    // (it halves checkpoint throughput for city jobs). The column stays; the check goes.
    R"sql(
ALTER TABLE heat_cells DROP CONSTRAINT IF EXISTS heat_cells_city_id_fkey;
)sql",
    // v4: a model per cell, and ids that last. The seed's UNIQUE(lat, lng, grid_step) becomes
    // a unique index on (lat, lng, grid_step, model); existing cells are grocery cells. The
    // SERIAL id (2^31 values: ~3 h of rewrites at 200k cells/s) becomes BIGINT with a BIGINT
    // sequence. The seed's columns stay, so the original app still reads the cells.
    R"sql(
ALTER TABLE heat_cells ALTER COLUMN id TYPE BIGINT;
ALTER SEQUENCE IF EXISTS heat_cells_id_seq AS BIGINT;
ALTER TABLE heat_cells ADD COLUMN IF NOT EXISTS model TEXT NOT NULL DEFAULT 'grocery';
-- The seed's unique key on (lat, lng, grid_step), whatever it was named.
DO $$
DECLARE c text;
BEGIN
  FOR c IN SELECT conname FROM pg_constraint
           WHERE conrelid = 'heat_cells'::regclass AND contype = 'u'
             AND conkey::int[] @> ARRAY(SELECT attnum::int FROM pg_attribute
                                        WHERE attrelid = 'heat_cells'::regclass
                                          AND attname IN ('lat', 'lng', 'grid_step'))
             AND array_length(conkey, 1) = 3
  LOOP
    EXECUTE format('ALTER TABLE heat_cells DROP CONSTRAINT %I', c);
  END LOOP;
END $$;
CREATE UNIQUE INDEX IF NOT EXISTS heat_cells_cell_model_key
  ON heat_cells(lat, lng, grid_step, model);
-- Where a claimed run started: a rescue tells a crash after progress from a poison job.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS claimed_index BIGINT;
)sql",
    // v5: job parts (store/parts.h). Every existing job becomes a job of one part carrying its
    // queue state, so a job running mid-way during the upgrade is rescued and resumes from its
    // lastProcessedIndex. Claims look at jobs with ready parts.
    R"sql(
CREATE TABLE IF NOT EXISTS job_parts (
  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  part INTEGER NOT NULL,
  begin_index BIGINT NOT NULL,
  end_index BIGINT NOT NULL,
  next_index BIGINT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  locked_by TEXT,
  heartbeat_at_ms BIGINT,
  claimed_index BIGINT,
  PRIMARY KEY (job_id, part));
CREATE INDEX IF NOT EXISTS job_parts_running_idx ON job_parts(heartbeat_at_ms)
  WHERE status = 'running';
ALTER TABLE jobs
  ADD COLUMN IF NOT EXISTS part_count INTEGER NOT NULL DEFAULT 1,
  ADD COLUMN IF NOT EXISTS ready_parts INTEGER NOT NULL DEFAULT 0;
INSERT INTO job_parts (job_id, part, begin_index, end_index, next_index, status, attempts,
                       locked_by, heartbeat_at_ms, claimed_index)
  SELECT id, 0, 0, GREATEST(COALESCE(total_items, 0), 0),
         LEAST()sql" NBI_DONE_INDEX R"sql(, GREATEST(COALESCE(total_items, 0), 0)),
         CASE status WHEN 'running' THEN 'running' WHEN 'completed' THEN 'completed'
                     ELSE 'pending' END,
         attempts, locked_by, heartbeat_at_ms, claimed_index
  FROM jobs ON CONFLICT DO NOTHING;
UPDATE jobs SET ready_parts = CASE WHEN status = 'pending' THEN 1 ELSE 0 END;
DROP INDEX IF EXISTS jobs_claim_idx;
CREATE INDEX jobs_claim_idx ON jobs(priority DESC, id) WHERE ready_parts > 0;
-- A pending job inserted without parts (by the original app, which shares the jobs table)
-- becomes a job of one part, resuming at its lastProcessedIndex. Enqueue always inserts
-- ready_parts > 0, so this never fires for a job of ours.
CREATE OR REPLACE FUNCTION nbi_job_without_parts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO job_parts (job_id, part, begin_index, end_index, next_index)
  VALUES (NEW.id, 0, 0, GREATEST(COALESCE(NEW.total_items, 0), 0),
          LEAST(CASE WHEN jsonb_typeof(NEW.metadata -> 'lastProcessedIndex') = 'number'
                THEN LEAST((NEW.metadata ->> 'lastProcessedIndex')::numeric, 9e18)::bigint
                ELSE 0 END, GREATEST(COALESCE(NEW.total_items, 0), 0)))
  ON CONFLICT DO NOTHING;
  UPDATE jobs SET ready_parts = 1, part_count = 1 WHERE id = NEW.id;
  RETURN NULL;
END $$;
-- A checkpoint sends its job update and COMMIT in one round trip: the update raises (and so
-- aborts the transaction, turning the COMMIT into nothing) when the job no longer runs.
CREATE OR REPLACE FUNCTION nbi_require_running(n bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF n = 0 THEN
    RAISE EXCEPTION 'the job is no longer running' USING ERRCODE = 'NB001';
  END IF;
  RETURN true;
END $$;
DROP TRIGGER IF EXISTS jobs_without_parts ON jobs;
CREATE TRIGGER jobs_without_parts AFTER INSERT ON jobs FOR EACH ROW
  WHEN (NEW.ready_parts = 0 AND NEW.status = 'pending') EXECUTE FUNCTION nbi_job_without_parts();
)sql",
    // v6: tile overview levels and per-area versions (pg_tiles_schema.h).
    kPgTilesMigration,
    // v7: the attempt history of jobs (JobQueue::ListAttempts): one row per failed or rescued
    // attempt of a part, deleted with its job. Self-contained (touches no other table).
    R"sql(
CREATE TABLE IF NOT EXISTS job_attempts (
  id BIGSERIAL PRIMARY KEY,
  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  part INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  at_ms BIGINT NOT NULL,
  worker TEXT,
  error TEXT NOT NULL,
  outcome TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS job_attempts_job_idx ON job_attempts(job_id, id);
)sql",
    // v8: the walk network (pg_walk_schema.h). Self-contained.
    kPgWalkMigration,
    // v9: claims find pending parts by an index, whatever the dead rows that claims and
    // completions leave behind until a vacuum (without it the claim read every part row).
    "CREATE INDEX IF NOT EXISTS job_parts_pending_idx ON job_parts(job_id, part) "
    "WHERE status = 'pending';",
    // v10: taking over the original app's database (pg_takeover_sql.h).
    kPgTakeoverMigration,
    // v11: street tiles (the offline base layer): each walk edge's drawing class and street
    // cell, and the network's version counter (pg_walk_schema.h). Touches only the walk tables.
    kPgStreetMigration,
    // v12: one canonical grid step (SPEC §3, geo.h CanonicalGridStep). grid_step is REAL, so
    // steps that differ below 1e-7 already share one stored step, but their float4 cell
    // coordinates may differ by an ulp: two cells at one grid point. Of each such pair the
    // newer stays, at the canonical coordinates. A cell with no such twin is left as it is
    // (the original app's cells, SPEC §2a, keep every column).
    kCanonicalStepMigration,
    // v13: the claim walks one index in claim order and stops at the first ready part
    // (kClaimSolo, kClaimParts); pg_claim_schema.h.
    kPgClaimMigration,
    // v14: checkpoints are a compare-and-set on the part's stored position (kCommitCheckpoint):
    // a chunk whose begin is not the stored next index raises NB002 and aborts its transaction.
    R"sql(
CREATE OR REPLACE FUNCTION nbi_require_position(stored bigint, expected bigint)
  RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF stored IS NOT NULL AND stored <> expected THEN
    RAISE EXCEPTION 'the database holds next index %, not % (commits lost, or written elsewhere); resuming from %',
      stored, expected, stored USING ERRCODE = 'NB002';
  END IF;
  RETURN true;
END $$;
)sql",
    // v15 (SQLite v13): an import that deletes walk nodes (import --replace, change
    // files) finds the edges that touch a node as b by an index, as it finds them as a by the
    // key.
    "CREATE INDEX IF NOT EXISTS walk_edges_b_idx ON walk_edges(b);"
    // OSM ways' node lists, for change files (store.h PoiWrite::ways): one row per
    // node of a way, lat/lng NULL where its position was not known.
    "CREATE TABLE IF NOT EXISTS osm_way_nodes (way_id BIGINT NOT NULL, seq INT NOT NULL, "
    "node_id BIGINT NOT NULL, lat DOUBLE PRECISION, lng DOUBLE PRECISION, cls INT NOT NULL, "
    "PRIMARY KEY (way_id, seq)); "
    "CREATE INDEX IF NOT EXISTS osm_way_nodes_node_idx ON osm_way_nodes(node_id);",
    // v16: delayed parts (a future run_at, a retry's backoff) stay out of the claim index
    // until due (kPromoteDue); pg_claim_schema.h.
    kPgDelayMigration,
    // v17: one canonical grid step, the rest of v12: the cells of a near-equal step with no
    // canonical twin move onto the canonical step's grid point too, as SQLite's v12 moves
    // them (pg_step_schema.h). Appended, so a database that ran v12 gets it.
    kCanonicalStepMoveMigration,
    // v18: the scoring data version (pg_data_version_schema.h): a checkpoint whose index was
    // loaded before an import committed is refused (NB003), so a refresh's cells stand.
    kPgDataVersionMigration,
};
inline constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// The scoring data version (store.h ScoringDataVersion): read, bumped by an import just
// before its COMMIT, and read under the checkpoints' shared lock (a batch's check).
inline constexpr PgSql kDataVersion{"data_version",
                                    "SELECT version FROM scoring_data_version WHERE id = 1"};
inline constexpr PgSql kBumpDataVersion{"bump_data_version", "SELECT nbi_bump_data_version()"};
inline constexpr PgSql kDataVersionLocked{"data_version_locked",
                                          "SELECT nbi_data_version_locked()"};
// A checkpoint's check, sent before its statements: $1 the version its index was loaded at;
// another stored raises NB003 and aborts the transaction. The shared lock is held to COMMIT.
inline constexpr PgSql kRequireDataVersion{"require_data_version",
                                           "SELECT nbi_require_data_version($1::bigint)"};

inline constexpr PgSql kLockMigrations{nullptr, "SELECT pg_advisory_xact_lock($1::bigint)"};
// A migration may rewrite a large table: no session statement limit, a patient lock wait
// (the API's sessions give up after seconds). Both end with the migration's transaction.
inline constexpr const char* kMigrationLimits =
    "SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = '10min'";
inline constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "applied_at TIMESTAMP NOT NULL)";
inline constexpr PgSql kSchemaVersionSql{nullptr,
                                         "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"};
inline constexpr PgSql kRecordMigration{
    nullptr,
    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1::int, " NBI_TS("$2") ")"};
inline constexpr PgSql kInsertPresetCity{
    nullptr,
    "INSERT INTO cities (slug, name, country, min_lat, min_lng, max_lat, max_lng) "
    "VALUES ($1, $2, $3, $4::float8, $5::float8, $6::float8, $7::float8) "
    "ON CONFLICT (slug) DO NOTHING"};

// ---- cities
inline constexpr PgSql kUpsertCity{
    "upsert_city",
    "INSERT INTO cities (slug, name, country, min_lat, min_lng, max_lat, max_lng) "
    "VALUES ($1, $2, $3, $4::float8, $5::float8, $6::float8, $7::float8) "
    "ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, country = EXCLUDED.country, "
    "min_lat = EXCLUDED.min_lat, min_lng = EXCLUDED.min_lng, max_lat = EXCLUDED.max_lat, "
    "max_lng = EXCLUDED.max_lng RETURNING " NBI_CITY_COLUMNS};
inline constexpr PgSql kListCities{"list_cities",
                                   "SELECT " NBI_CITY_COLUMNS " FROM cities ORDER BY slug"};
inline constexpr PgSql kGetCity{"get_city",
                                "SELECT " NBI_CITY_COLUMNS " FROM cities WHERE slug = $1"};

// ---- POIs
inline constexpr const char* kCreatePoiStage =
    "CREATE TEMP TABLE IF NOT EXISTS nbi_poi_stage (ord bigint, source_id text, category text, "
    "subtype text, name text, lat float8, lng float8) ON COMMIT DELETE ROWS";
inline constexpr const char* kClearPoiStage = "TRUNCATE nbi_poi_stage";
inline constexpr const char* kCopyPoiStage =
    "COPY nbi_poi_stage (ord, source_id, category, subtype, name, lat, lng) FROM STDIN "
    "(FORMAT binary)";
// xmax = 0 marks a row version this statement inserted; an updated row carries the
// conflict check's row lock in xmax. It tells inserts from updates in one pass.
inline constexpr PgSql kUpsertPoisFromStage{
    "upsert_pois",
    "WITH up AS (INSERT INTO pois (source_id, category, subtype, name, lat, lng) "
    "SELECT source_id, category, subtype, name, lat, lng FROM nbi_poi_stage ORDER BY ord "
    "ON CONFLICT (source_id) DO UPDATE SET category = EXCLUDED.category, "
    "subtype = EXCLUDED.subtype, name = EXCLUDED.name, lat = EXCLUDED.lat, lng = EXCLUDED.lng "
    "RETURNING (xmax = 0) AS inserted) "
    "SELECT count(*) FILTER (WHERE inserted) FROM up"};
// $1: source ids (text[]). Deleted in one statement; the row count is what was stored.
inline constexpr PgSql kDeletePois{"delete_pois",
                                   "DELETE FROM pois WHERE source_id = ANY($1::text[])"};
inline constexpr PgSql kLoadPoisById{
    "load_pois_by_id",
    "SELECT source_id, category, subtype, name, lat, lng FROM pois "
    "WHERE source_id = ANY($1::text[])"};
inline constexpr PgSql kLoadPois{
    "load_pois",
    "SELECT source_id, category, subtype, name, lat, lng FROM pois "
    "WHERE lat >= $1::float8 AND lat <= $2::float8 "
    "AND lng >= $3::float8 AND lng <= $4::float8 ORDER BY id LIMIT $5::bigint"};
inline constexpr PgSql kLoadPoiPoints{"load_poi_points",
                                      "SELECT category, subtype, lat, lng FROM pois "
                                      "WHERE lat >= $1::float8 AND lat <= $2::float8 "
                                      "AND lng >= $3::float8 AND lng <= $4::float8 ORDER BY id"};
inline constexpr PgSql kCountPois{"count_pois",
                                  "SELECT category, count(*) FROM pois GROUP BY category"};

// ---- queue: the job queue's statements (pg_queue_sql.h, which uses the macros above).
#include "store/postgres/pg_queue_sql.h"  // IWYU pragma: export

// ---- cells
inline constexpr PgSql kQueryCells{"query_cells",
                                   "SELECT lat, lng, score FROM heat_cells "
                                   "WHERE lat BETWEEN $1::real AND $2::real "
                                   "AND lng BETWEEN $3::real AND $4::real AND grid_step = $5::real "
                                   "AND score >= $6::int AND model = $8::text "
                                   "ORDER BY lat, lng LIMIT $7::bigint"};
inline constexpr PgSql kCountCells{"count_cells", "SELECT count(*) FROM heat_cells"};
inline constexpr PgSql kCountCellsOfStep{
    "count_cells_step", "SELECT count(*) FROM heat_cells WHERE grid_step = $1::real"};
// The (grid step, model) pairs of the cells in a box. $1 min_lat, $2 max_lat, $3 min_lng,
// $4 max_lng.
inline constexpr PgSql kCellGridsIn{
    "cell_grids_in",
    "SELECT DISTINCT grid_step::float8, model FROM heat_cells "
    "WHERE lat BETWEEN $1::real AND $2::real AND lng BETWEEN $3::real AND $4::real"};
inline constexpr PgSql kHasCoverage{
    "has_coverage",
    "SELECT EXISTS (SELECT 1 FROM heat_cells "
    "WHERE lat BETWEEN $1::real AND $2::real "
    "AND lng BETWEEN $3::real AND $4::real AND grid_step = $5::real AND model = $6::text)"};
// A chunk is a run of row-major cells: a partial first row, whole middle rows, a partial
// last row. Each part is one index range scan; an empty part has lo > hi.
// Not prepared (no name): planned at each run with the table's current size. A cached generic
// plan made while the table was empty scans the whole unique index per chunk once it has
// grown (measured: 25 ms per 5,000-cell chunk at 300k rows).
inline constexpr PgSql kDeleteChunkCells{
    nullptr,
    "DELETE FROM heat_cells WHERE grid_step = $1::real AND model = $14::text AND ("
    "(lat BETWEEN $2::real AND $3::real AND lng BETWEEN $4::real AND $5::real) OR "
    "(lat BETWEEN $6::real AND $7::real AND lng BETWEEN $8::real AND $9::real) OR "
    "(lat BETWEEN $10::real AND $11::real AND lng BETWEEN $12::real AND $13::real))"};
inline constexpr const char* kCopyCells =
    "COPY heat_cells (lat, lng, score, grid_step, city_id, computed_at, model) FROM STDIN "
    "(FORMAT binary)";
inline constexpr const char* kCreateCellStage =
    "CREATE TEMP TABLE IF NOT EXISTS nbi_cell_stage (lat real, lng real, score integer, "
    "grid_step real, city_id integer, computed_at timestamp, model text) "
    "ON COMMIT DELETE ROWS";
inline constexpr const char* kCopyCellStage =
    "COPY nbi_cell_stage (lat, lng, score, grid_step, city_id, computed_at, model) FROM STDIN "
    "(FORMAT binary)";
inline constexpr PgSql kUpsertCellsFromStage{
    "upsert_cells",
    "INSERT INTO heat_cells (lat, lng, score, grid_step, city_id, computed_at, model) "
    "SELECT lat, lng, score, grid_step, city_id, computed_at, model FROM nbi_cell_stage "
    "ON CONFLICT (lat, lng, grid_step, model) DO UPDATE SET score = EXCLUDED.score, "
    "city_id = EXCLUDED.city_id, computed_at = EXCLUDED.computed_at"};

// ---- transaction control and other fixed statements
inline constexpr const char* kBegin = "BEGIN";
// BEGIN as a statement of a pipeline (PgConn::Pipeline).
inline constexpr PgSql kBeginSql{nullptr, "BEGIN"};
inline constexpr const char* kCommit = "COMMIT";
inline constexpr const char* kRollback = "ROLLBACK";
// The wake-up watch's subscription (see pg_watch.h); kEnqueue notifies the same channel.
inline constexpr const char* kListenJobs = "LISTEN " NBI_JOBS_CHANNEL;

#undef NBI_TS
#undef NBI_CLAIM_CANDIDATES
#undef NBI_CLAIM_PRIORITY_OF
#undef NBI_UNCLAIMABLE_PARTS
#undef NBI_DELAY_PARTS
#undef NBI_PARTS_DUE_NOW
#undef NBI_RESCUE_SET
#undef NBI_GIVE_UP
#undef NBI_PROGRESSED
#undef NBI_DONE_INDEX
#undef NBI_COUNT_AND_NOTIFY
#undef NBI_MS
#undef NBI_JOB_COLUMNS
#undef NBI_CITY_COLUMNS
#undef NBI_FINISHED
#undef NBI_ACTIVE
#undef NBI_OWNED
#undef NBI_JOBS_CHANNEL

}  // namespace nbi
