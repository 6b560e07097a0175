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
    // v5: job parts (jobs/parts.h). Every existing job becomes a job of one part carrying its
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
    // v10: an import that deletes walk nodes (import --replace, change files) finds the edges
    // that touch a node as b by an index, as it finds them as a by the key.
    "CREATE INDEX IF NOT EXISTS walk_edges_b_idx ON walk_edges(b);",
};
inline constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

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

// ---- queue
inline constexpr PgSql kSelectJob{"select_job",
                                  "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE id = $1::bigint"};
inline constexpr PgSql kJobStatusSql{"job_status", "SELECT status FROM jobs WHERE id = $1::bigint"};
// Lock order, everywhere: a job's part rows first, then the job's row (a checkpoint locks its
// part, writes its cells and updates the job last; a claim locks parts with SKIP LOCKED, then
// their jobs). Every change of a part's state then takes the job's row before Settle reads
// the tally, so changes of one job's parts follow one another and each sees the others'.
inline constexpr PgSql kLockJob{
    "lock_job", "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE id = $1::bigint FOR UPDATE"};
// A rescue waits for its locks at most this long: long enough for the brief holds of live
// parts' checkpoints (a job's row is locked by each of them for an update and its COMMIT),
// never for a stopped process, which keeps its locks until it wakes or its session ends
// (then 55P03: that part is skipped until the next round).
inline constexpr const char* kRescueLockTimeout = "SET LOCAL lock_timeout = '250ms'";
// The NOTIFY rides in the same statement (and so the same transaction) as the insert: it is
// delivered exactly when the new job becomes visible, and only for a new job. $8: parts,
// $9: run_at, $10: type.
inline constexpr PgSql kEnqueue{
    "enqueue",
    "WITH ins AS (INSERT INTO jobs (type, status, city_id, progress, total_items, metadata, "
    "created_at, attempts, max_attempts, priority, run_at_ms, dedupe_key, part_count, "
    "ready_parts) "
    "VALUES ($10::text, 'pending', $1::int, 0, $2::int, $3::jsonb, " NBI_TS("$4")
    ", 0, $5::int, $6::int, $9::bigint, $7::text, $8::int, $8::int) "
    "ON CONFLICT (dedupe_key) WHERE status IN " NBI_ACTIVE " DO NOTHING "
    "RETURNING " NBI_JOB_COLUMNS ") "
    "SELECT ins.*, pg_notify('" NBI_JOBS_CHANNEL "', '') FROM ins"};
// The parts of a new job: $3 parts of $2 cells split as SplitParts does (total * k / n).
inline constexpr PgSql kInsertParts{
    "insert_parts",
    "INSERT INTO job_parts (job_id, part, begin_index, end_index, next_index) "
    "SELECT $1::int, k, ($2::bigint * k) / $3::int, ($2::bigint * (k + 1)) / $3::int, "
    "($2::bigint * k) / $3::int FROM generate_series(0, $3::int - 1) AS k"};
inline constexpr PgSql kActiveByKey{
    "active_by_key",
    "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE dedupe_key = $1::text AND status IN " NBI_ACTIVE};
// SKIP LOCKED: concurrent claimers pass over each other's candidate parts instead of queueing
// on them; the row lock (re-checked against the newest row version) makes the claim
// exclusive. Ready parts: of jobs with ready parts whose run_at has come, by job priority,
// then oldest job, then part. $1 worker, $2 now, $3 limit.
inline constexpr PgSql kClaimParts{
    "claim_parts",
    "WITH c AS (SELECT p.job_id, p.part FROM jobs j JOIN job_parts p ON p.job_id = j.id "
    "WHERE j.ready_parts > 0 AND j.run_at_ms <= $2::bigint AND p.status = 'pending' "
    "ORDER BY j.priority DESC, j.id, p.part LIMIT $3::int FOR UPDATE OF p SKIP LOCKED) "
    "UPDATE job_parts p SET status = 'running', locked_by = $1::text, "
    "attempts = p.attempts + 1, heartbeat_at_ms = $2::bigint, claimed_index = p.next_index "
    "FROM c WHERE p.job_id = c.job_id AND p.part = c.part "
    "RETURNING p.job_id, p.part, p.begin_index, p.end_index, p.next_index, p.status, "
    "p.attempts, p.locked_by, p.heartbeat_at_ms, p.claimed_index"};
// Locks the job of claimed parts and notes when it started. Returns its status before the
// claim's RollUp. $1 job, $2 now.
inline constexpr PgSql kJobStarted{
    "job_started",
    "UPDATE jobs SET started_at = COALESCE(started_at, " NBI_TS("$2") ") "
    "WHERE id = $1::bigint RETURNING status"};
// A claim whose job stopped meanwhile (cancelled or failed) gives the part back.
inline constexpr PgSql kUnclaimPart{
    "unclaim_part",
    "UPDATE job_parts SET status = 'pending', locked_by = NULL, "
    "attempts = GREATEST(attempts - 1, 0) WHERE job_id = $1::bigint AND part = $2::int"};
inline constexpr PgSql kSelectOwnedPart{
    "select_owned_part", "SELECT " NBI_PART_COLUMNS
                         " FROM job_parts WHERE job_id = $1::bigint AND part = $2::int "
                         "AND status = 'running' AND locked_by = $3::text FOR UPDATE"};
inline constexpr PgSql kSelectPartForUpdate{
    "select_part_for_update", "SELECT " NBI_PART_COLUMNS
                              " FROM job_parts WHERE job_id = $1::bigint AND part = $2::int "
                              "FOR UPDATE"};
inline constexpr PgSql kListParts{"list_parts",
                                  "SELECT " NBI_PART_COLUMNS
                                  " FROM job_parts WHERE job_id = $1::bigint ORDER BY part"};
inline constexpr PgSql kOwnedPartsOf{
    "owned_parts_of", "SELECT " NBI_PART_COLUMNS
                      " FROM job_parts WHERE job_id = $1::bigint "
                      "AND status = 'running' AND locked_by = $2::text ORDER BY part FOR UPDATE"};
// The parts of a job by state (RollUp's tally), and the owner of its lowest running part
// (the job's locked_by: the worker that holds its earliest cells).
inline constexpr PgSql kTallyParts{
    "tally_parts",
    "SELECT status, count(*), max(attempts), max(heartbeat_at_ms), "
    "(array_agg(locked_by ORDER BY part) FILTER (WHERE status = 'running'))[1] "
    "FROM job_parts WHERE job_id = $1::bigint GROUP BY status"};
// Writes a RollUp. $1 job, $2 status, $3 ready_parts, $4 locked_by, $5 attempts, $6 heartbeat
// (NULL: unchanged), $7 completed_at ms (NULL: unchanged).
inline constexpr PgSql kApplyRollUp{
    "apply_rollup",
    "UPDATE jobs SET status = $2::text, ready_parts = $3::int, locked_by = $4::text, "
    "attempts = $5::int, heartbeat_at_ms = GREATEST(heartbeat_at_ms, $6::bigint), "
    "completed_at = CASE WHEN $7::bigint IS NULL THEN completed_at ELSE " NBI_TS("$7") " END, "
    "progress = CASE WHEN $2::text = 'completed' THEN 100 ELSE progress END, "
    "error = CASE WHEN $2::text = 'completed' THEN NULL ELSE error END "
    "WHERE id = $1::bigint RETURNING " NBI_JOB_COLUMNS};
// A part leaves `running`. $1 job, $2 part, $3 status, $4 attempts.
inline constexpr PgSql kSetPartState{
    "set_part_state",
    "UPDATE job_parts SET status = $3::text, attempts = $4::int, locked_by = NULL, "
    "next_index = CASE WHEN $3::text = 'completed' THEN end_index ELSE next_index END "
    "WHERE job_id = $1::bigint AND part = $2::int"};
// Every part the worker runs of the job, then the job. A heartbeat never moves back.
inline constexpr PgSql kHeartbeat{
    "heartbeat",
    "WITH p AS (UPDATE job_parts SET heartbeat_at_ms = GREATEST(heartbeat_at_ms, $3::bigint) "
    "WHERE job_id = $1::bigint AND status = 'running' AND locked_by = $2::text RETURNING 1) "
    "UPDATE jobs SET heartbeat_at_ms = GREATEST(heartbeat_at_ms, $3::bigint) "
    "WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM p) RETURNING cancel_requested"};
// A chunk's part before its cells are sent (StageCheckpoint): its range, if the worker runs
// it. Not locked: the commit checks the owner again under the row's lock. $1 job, $2 part,
// $3 worker.
inline constexpr PgSql kStagePart{
    "stage_part",
    "SELECT begin_index, end_index FROM job_parts WHERE job_id = $1::bigint AND part = "
    "$2::int AND status = 'running' AND locked_by = $3::text"};
// The checkpoint of a chunk of cells ending at $4: the part's next index ($4) and heartbeat,
// then the job's progress, lastProcessedIndex (+ the cells past the part's old next index)
// and heartbeat. Only while the worker runs the part and the job runs; otherwise it raises
// NB001 (kConflict), which aborts the transaction. The part's row is locked before the
// job's, the order of every other path; the job's row is held only until the COMMIT that
// follows in the same round trip, so parts of one job write their cells at the same time.
// (The runner commits the chunks of a part in order: runner.cc, CommitOrder.) $5 now.
inline constexpr PgSql kCommitCheckpoint{
    "commit_checkpoint",
    "WITH o AS (SELECT next_index FROM job_parts WHERE job_id = $1::bigint AND part = $2::int "
    "AND status = 'running' AND locked_by = $3::text FOR UPDATE), "
    "p AS (UPDATE job_parts jp SET next_index = $4::bigint, "
    "heartbeat_at_ms = GREATEST(jp.heartbeat_at_ms, $5::bigint) FROM o "
    "WHERE jp.job_id = $1::bigint AND jp.part = $2::int "
    "RETURNING $4::bigint - o.next_index AS added), "
    "u AS (UPDATE jobs SET heartbeat_at_ms = GREATEST(heartbeat_at_ms, $5::bigint), "
    "progress = CASE WHEN total_items > 0 THEN LEAST(100, (100 * (" NBI_DONE_INDEX
    " + p.added)) / total_items) ELSE 100 END, "
    "metadata = jsonb_set(CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata "
    "ELSE '{}'::jsonb END, '{lastProcessedIndex}', to_jsonb(" NBI_DONE_INDEX
    " + p.added)) "
    "FROM p WHERE id = $1::bigint AND status = 'running' "
    "RETURNING cancel_requested, " NBI_DONE_INDEX
    " AS done, p.added) "
    "SELECT (SELECT cancel_requested FROM u), (SELECT done FROM u), (SELECT added FROM u), "
    "nbi_require_running((SELECT count(*) FROM u))"};
// A staged chunk's transaction waits, idle, for the chunk before it to commit. A worker
// frozen there (SIGSTOP, a VM pause) would hold its uncommitted cells, and the worker that
// takes the part over would wait on them at its COPY: the server ends such a transaction
// after 5 s idle (the staged chunk is then simply staged again).
inline constexpr PgSql kStageIdleTimeout{nullptr,
                                         "SET LOCAL idle_in_transaction_session_timeout = 5000"};
inline constexpr PgSql kCommitSql{nullptr, "COMMIT"};
// A failed attempt: $2 retry (error kept, run_at $4) or fail for good (completed at $5).
// Every transition that makes a part ready notifies the channel (fail with backoff,
// hand-back, retry, rescue, reset-running), so other machines' workers look again at once.
inline constexpr PgSql kFailJob{
    "fail_job",
    "UPDATE jobs SET error = $3::text, "
    "status = CASE WHEN $2::boolean THEN status ELSE 'failed' END, "
    "run_at_ms = CASE WHEN $2::boolean THEN $4::bigint ELSE run_at_ms END, "
    "completed_at = CASE WHEN $2::boolean THEN completed_at ELSE " NBI_TS("$5") " END "
    "WHERE id = $1::bigint"};
inline constexpr PgSql kNotify{"notify", "SELECT pg_notify('" NBI_JOBS_CHANNEL "', '')"};
// $1 job, $2 run_at.
inline constexpr PgSql kJobRunAt{"job_run_at",
                                 "UPDATE jobs SET run_at_ms = $2::bigint WHERE id = $1::bigint"};
inline constexpr PgSql kJobError{"job_error",
                                 "UPDATE jobs SET error = $2::text WHERE id = $1::bigint"};
inline constexpr PgSql kCancel{
    "cancel",
    "UPDATE jobs SET status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END, "
    "completed_at = CASE WHEN status = 'pending' THEN " NBI_TS("$2") " ELSE completed_at END, "
    "cancel_requested = cancel_requested OR status = 'running', ready_parts = 0 "
    "WHERE id = $1::bigint AND status IN " NBI_ACTIVE " RETURNING " NBI_JOB_COLUMNS};
// Retry: the unfinished parts of a failed or cancelled job run again.
inline constexpr PgSql kRetryParts{
    "retry_parts",
    "UPDATE job_parts SET status = 'pending', attempts = 0, locked_by = NULL "
    "WHERE job_id = $1::bigint AND status <> 'completed' AND EXISTS (SELECT 1 FROM jobs "
    "WHERE id = $1::bigint AND status IN ('failed', 'cancelled'))"};
inline constexpr PgSql kRetry{
    "retry",
    "WITH u AS (UPDATE jobs SET status = 'pending', attempts = 0, error = NULL, "
    "cancel_requested = false, completed_at = NULL, locked_by = NULL, run_at_ms = $2::bigint, "
    "ready_parts = (SELECT count(*) FROM job_parts WHERE job_id = $1::bigint "
    "AND status = 'pending') "
    "WHERE id = $1::bigint AND status IN ('failed', 'cancelled') RETURNING " NBI_JOB_COLUMNS
    ") SELECT u.*, pg_notify('" NBI_JOBS_CHANNEL "', '') FROM u"};
// Running parts whose heartbeat is older than $1 (a part that never heartbeated counts).
inline constexpr PgSql kStaleParts{
    "stale_parts",
    "SELECT job_id, part FROM job_parts WHERE status = 'running' "
    "AND (heartbeat_at_ms IS NULL OR heartbeat_at_ms < $1::bigint) ORDER BY job_id, part"};
// An owner is alive while some session of this database holds the advisory lock on its id
// (kOwnerLock); pg_advisory_lock(bigint) shows in pg_locks as classid = high 32 bits, objid =
// low 32 bits, objsubid = 1.
inline constexpr PgSql kDeadOwnerParts{
    "dead_owner_parts",
    "SELECT p.job_id, p.part FROM job_parts p WHERE p.status = 'running' AND NOT EXISTS ("
    "SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND ((l.classid::bigint << 32) | l.objid::bigint) = "
    "hashtextextended(COALESCE(p.locked_by, ''), 0)) ORDER BY p.job_id, p.part"};
inline constexpr PgSql kOwnerLock{"owner_lock",
                                  "SELECT pg_try_advisory_lock(hashtextextended($1::text, 0))"};
inline constexpr PgSql kOwnerCheck{"owner_check", "SELECT 1"};
// A clean release: the lock is gone when this returns (closing the session would free it
// only once the server has processed the disconnect).
inline constexpr PgSql kOwnerUnlock{"owner_unlock", "SELECT pg_advisory_unlock_all()"};
inline constexpr PgSql kResetRunningParts{
    "reset_running_parts",
    "UPDATE job_parts SET status = 'pending', locked_by = NULL WHERE status = 'running'"};
inline constexpr PgSql kRunningJobIds{
    "running_job_ids", "SELECT id FROM jobs WHERE status = 'running' ORDER BY id FOR UPDATE"};
inline constexpr PgSql kResetRunningJob{
    "reset_running_job",
    "UPDATE jobs SET started_at = NULL, run_at_ms = $2::bigint WHERE id = $1::bigint"};
inline constexpr PgSql kNextPending{
    "next_pending",
    "SELECT " NBI_JOB_COLUMNS
    " FROM jobs WHERE ready_parts > 0 ORDER BY run_at_ms, priority DESC, id LIMIT 1"};
inline constexpr PgSql kPruneFinished{"prune_finished",
                                      "DELETE FROM jobs WHERE status IN " NBI_FINISHED
                                      " AND completed_at < " NBI_TS("$1")};
inline constexpr PgSql kListJobs{"list_jobs", "SELECT " NBI_JOB_COLUMNS
                                              " FROM jobs WHERE id < $1::bigint "
                                              "ORDER BY id DESC LIMIT $2::bigint"};
inline constexpr PgSql kListJobsByStatus{"list_jobs_by_status",
                                         "SELECT " NBI_JOB_COLUMNS
                                         " FROM jobs WHERE id < $1::bigint "
                                         "AND status = $3::text ORDER BY id DESC LIMIT $2::bigint"};
// Any filter: $3 status, $4 type, $5 city id (each NULL: any).
inline constexpr PgSql kListJobsFiltered{
    "list_jobs_filtered",
    "SELECT " NBI_JOB_COLUMNS
    " FROM jobs WHERE id < $1::bigint "
    "AND ($3::text IS NULL OR status = $3::text) AND ($4::text IS NULL OR type = $4::text) "
    "AND ($5::bigint IS NULL OR city_id = $5::bigint) ORDER BY id DESC LIMIT $2::bigint"};
// An equal active job re-scheduled with a higher priority. $1 job, $2 priority.
inline constexpr PgSql kRaisePriority{"raise_priority",
                                      "UPDATE jobs SET priority = $2::int WHERE id = $1::bigint "
                                      "AND priority < $2::int RETURNING " NBI_JOB_COLUMNS};
// The attempt history (v6). $1 job, $2 part, $3 attempt, $4 at_ms, $5 worker, $6 error,
// $7 outcome.
inline constexpr PgSql kInsertAttempt{
    "insert_attempt",
    "INSERT INTO job_attempts (job_id, part, attempt, at_ms, worker, error, outcome) "
    "VALUES ($1::int, $2::int, $3::int, $4::bigint, $5::text, $6::text, $7::text)"};
inline constexpr PgSql kListAttempts{
    "list_attempts",
    "SELECT job_id, part, attempt, at_ms, worker, error, outcome FROM job_attempts "
    "WHERE job_id = $1::bigint ORDER BY id"};
inline constexpr PgSql kCountJobs{"count_jobs",
                                  "SELECT status, count(*) FROM jobs GROUP BY status"};
// jsonb comparisons rather than casts: a job whose metadata lacks bounds, or holds something
// odd there, simply does not match instead of failing the query.
inline constexpr PgSql kFindCovering{
    "find_covering",
    "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE status IN " NBI_ACTIVE
    " AND type = 'heatmap_compute' "
    "AND metadata #> '{bounds,minLat}' <= to_jsonb($1::float8) "
    "AND metadata #> '{bounds,maxLat}' > to_jsonb($1::float8) "
    "AND metadata #> '{bounds,minLng}' <= to_jsonb($2::float8) "
    "AND metadata #> '{bounds,maxLng}' > to_jsonb($2::float8) "
    "AND metadata -> 'gridStep' = to_jsonb($3::float8) "
    "AND COALESCE(metadata ->> 'model', 'grocery') = $4::text ORDER BY id LIMIT 1"};
inline constexpr PgSql kResetAreaCells{"reset_area_cells",
                                       "DELETE FROM heat_cells WHERE grid_step = $1::real "
                                       "AND lat BETWEEN $2::real AND $3::real "
                                       "AND lng BETWEEN $4::real AND $5::real "
                                       "AND model = $6::text"};
// Finished jobs of exactly this area, step and model (their dedupe key).
inline constexpr PgSql kResetAreaJobs{"reset_area_jobs",
                                      "DELETE FROM jobs WHERE status IN " NBI_FINISHED
                                      " AND dedupe_key = $1::text"};

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
inline constexpr const char* kTruncateCells = "TRUNCATE heat_cells";
// The wake-up watch's subscription (see pg_watch.h); kEnqueue notifies the same channel.
inline constexpr const char* kListenJobs = "LISTEN " NBI_JOBS_CHANNEL;

#undef NBI_TS
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
