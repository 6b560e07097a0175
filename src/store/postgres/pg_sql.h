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
  "heartbeat_at_ms, locked_by, cancel_requested"

#define NBI_CITY_COLUMNS "id, slug, name, country, min_lat, min_lng, max_lat, max_lng"

#define NBI_FINISHED "('completed', 'failed', 'cancelled')"
#define NBI_ACTIVE "('pending', 'running')"

// The LISTEN/NOTIFY channel of the wake-up hint (kJobsChannel in pg_store.h).
#define NBI_JOBS_CHANNEL "nearbyindex_jobs"

// Both lease updates and the checkpoint check the owner in the same statement that writes.
#define NBI_OWNED "id = $1::bigint AND status = 'running' AND locked_by = $2::text"

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
// metadata.lastProcessedIndex, or 0 when it is missing or not a number (never an error).
#define NBI_DONE_INDEX                                                    \
  "(CASE WHEN jsonb_typeof(metadata -> 'lastProcessedIndex') = 'number' " \
  "THEN LEAST((metadata ->> 'lastProcessedIndex')::numeric, 9e18)::bigint ELSE 0 END)"
inline constexpr PgSql kSelectJob{"select_job",
                                  "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE id = $1::bigint"};
inline constexpr PgSql kJobStatusSql{"job_status", "SELECT status FROM jobs WHERE id = $1::bigint"};
// The NOTIFY rides in the same statement (and so the same transaction) as the insert: it is
// delivered exactly when the new job becomes visible, and only for a new job.
inline constexpr PgSql kEnqueue{
    "enqueue",
    "WITH ins AS (INSERT INTO jobs (type, status, city_id, progress, total_items, metadata, "
    "created_at, attempts, max_attempts, priority, run_at_ms, dedupe_key) "
    "VALUES ('heatmap_compute', 'pending', $1::int, 0, $2::int, $3::jsonb, " NBI_TS("$4")
    ", 0, $5::int, $6::int, $4::bigint, $7::text) "
    "ON CONFLICT (dedupe_key) WHERE status IN " NBI_ACTIVE " DO NOTHING "
    "RETURNING " NBI_JOB_COLUMNS ") "
    "SELECT ins.*, pg_notify('" NBI_JOBS_CHANNEL "', '') FROM ins"};
inline constexpr PgSql kActiveByKey{
    "active_by_key",
    "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE dedupe_key = $1::text AND status IN " NBI_ACTIVE};
// SKIP LOCKED: concurrent claimers pass over each other's candidate instead of queueing on
// it. The subquery's row lock (re-checked against the newest row version) is what makes the
// claim exclusive; the outer WHERE is a bare primary-key lookup on purpose, since adding
// "status = 'pending'" there lets the planner scan the whole partial claim index for the id.
inline constexpr PgSql kClaim{
    "claim",
    "UPDATE jobs SET status = 'running', locked_by = $1::text, attempts = attempts + 1, "
    "heartbeat_at_ms = $2::bigint, started_at = COALESCE(started_at, " NBI_TS("$2") "), "
    "claimed_index = " NBI_DONE_INDEX " "
    "WHERE id = (SELECT id FROM jobs WHERE status = 'pending' "
    "AND run_at_ms <= $2::bigint ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
    "RETURNING " NBI_JOB_COLUMNS};
// The batched form of kClaim: up to $3 jobs in one statement.
inline constexpr PgSql kClaimBatch{
    "claim_batch",
    "UPDATE jobs SET status = 'running', locked_by = $1::text, attempts = attempts + 1, "
    "heartbeat_at_ms = $2::bigint, started_at = COALESCE(started_at, " NBI_TS("$2") "), "
    "claimed_index = " NBI_DONE_INDEX " "
    "WHERE id = ANY(ARRAY(SELECT id FROM jobs WHERE status = 'pending' "
    "AND run_at_ms <= $2::bigint ORDER BY priority DESC, id LIMIT $3::int FOR UPDATE SKIP LOCKED)) "
    "RETURNING " NBI_JOB_COLUMNS};
// $1 = '{1,2,3}' (a bigint[] literal).
inline constexpr PgSql kCompleteBatch{
    "complete_batch",
    "UPDATE jobs SET status = 'completed', progress = 100, locked_by = NULL, error = NULL, "
    "heartbeat_at_ms = $3::bigint, completed_at = " NBI_TS("$3") " WHERE id = ANY($1::bigint[]) "
    "AND status = 'running' AND locked_by = $2::text"};
// A heartbeat never moves back: one computed before a concurrent checkpoint commits a newer
// one (it waited for the row lock) keeps the newer time.
inline constexpr PgSql kHeartbeat{"heartbeat",
                                  "UPDATE jobs SET heartbeat_at_ms = GREATEST(heartbeat_at_ms, "
                                  "$3::bigint) WHERE " NBI_OWNED " RETURNING cancel_requested"};
// $3 = begin + count, the new lastProcessedIndex.
inline constexpr PgSql kCheckpointJob{
    "checkpoint_job",
    "UPDATE jobs SET heartbeat_at_ms = GREATEST(heartbeat_at_ms, $4::bigint), "
    "progress = CASE WHEN total_items > 0 THEN LEAST(100, (100 * $3::bigint) / total_items) "
    "ELSE 100 END, "
    "metadata = jsonb_set(CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata "
    "ELSE '{}'::jsonb END, '{lastProcessedIndex}', to_jsonb($3::bigint)) "
    "WHERE " NBI_OWNED " RETURNING cancel_requested"};
inline constexpr PgSql kComplete{
    "complete",
    "UPDATE jobs SET status = 'completed', progress = 100, locked_by = NULL, "
    "error = NULL, heartbeat_at_ms = $3::bigint, "
    "completed_at = " NBI_TS("$3") " WHERE " NBI_OWNED " RETURNING id"};
inline constexpr PgSql kLockOwnedJob{
    "lock_owned_job", "SELECT attempts, max_attempts FROM jobs WHERE " NBI_OWNED " FOR UPDATE"};
// $3: retry later (pending at $5) or fail for good (failed at $6).
// Every transition to pending notifies the channel (fail with backoff, hand-back, retry,
// rescue, reset-running), so other machines' workers look again at once (for a backoff, to
// learn the new run_at and sleep until it). The extra pg_notify column is ignored.
inline constexpr PgSql kFail{
    "fail",
    "WITH u AS (UPDATE jobs SET status = CASE WHEN $3::boolean THEN 'pending' ELSE 'failed' END, "
    "locked_by = NULL, error = $4::text, "
    "run_at_ms = CASE WHEN $3::boolean THEN $5::bigint ELSE run_at_ms END, "
    "completed_at = CASE WHEN $3::boolean THEN completed_at ELSE " NBI_TS("$6") " END "
    "WHERE " NBI_OWNED " RETURNING " NBI_JOB_COLUMNS ") "
    "SELECT u.*, pg_notify('" NBI_JOBS_CHANNEL "', '') FROM u"};
// A hand-back is not a failed attempt: the claim's attempts + 1 is undone.
inline constexpr PgSql kRelease{
    "release",
    "WITH u AS (UPDATE jobs SET status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'pending' END, "
    "completed_at = CASE WHEN cancel_requested THEN " NBI_TS("$3") " ELSE completed_at END, "
    "attempts = CASE WHEN cancel_requested THEN attempts ELSE GREATEST(attempts - 1, 0) END, "
    "locked_by = NULL, run_at_ms = $3::bigint WHERE " NBI_OWNED " RETURNING " NBI_JOB_COLUMNS
    ") SELECT u.*, pg_notify('" NBI_JOBS_CHANNEL "', '') FROM u"};
inline constexpr PgSql kCancel{
    "cancel",
    "UPDATE jobs SET status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END, "
    "completed_at = CASE WHEN status = 'pending' THEN " NBI_TS("$2") " ELSE completed_at END, "
    "cancel_requested = cancel_requested OR status = 'running' "
    "WHERE id = $1::bigint AND status IN " NBI_ACTIVE " RETURNING " NBI_JOB_COLUMNS};
inline constexpr PgSql kRetry{
    "retry",
    "WITH u AS (UPDATE jobs SET status = 'pending', attempts = 0, error = NULL, "
    "cancel_requested = false, completed_at = NULL, locked_by = NULL, run_at_ms = $2::bigint "
    "WHERE id = $1::bigint AND status IN ('failed', 'cancelled') RETURNING " NBI_JOB_COLUMNS
    ") SELECT u.*, pg_notify('" NBI_JOBS_CHANNEL "', '') FROM u"};
// What a rescue sets. A job whose cancel was requested ends cancelled. A run that committed
// progress since its claim gives its attempt back (a crash in the middle of a long job is not
// the job's fault); a run that made none keeps it, and once attempts reach max_attempts the
// job ends failed (its worker died while running it that many times: no crash loop). Any
// other goes back to pending and resumes from its checkpoint. $1 = now.
#define NBI_PROGRESSED "(" NBI_DONE_INDEX " > COALESCE(claimed_index, 0))"
#define NBI_GIVE_UP "(NOT " NBI_PROGRESSED " AND attempts >= max_attempts)"
#define NBI_RESCUE_SET \
  "status = CASE WHEN cancel_requested THEN 'cancelled' "                                      \
  "WHEN " NBI_GIVE_UP " THEN 'failed' ELSE 'pending' END, "                                    \
  "completed_at = CASE WHEN cancel_requested OR " NBI_GIVE_UP " THEN " NBI_TS("$1")            \
  " ELSE completed_at END, "                                                                   \
  "error = CASE WHEN cancel_requested THEN error "                                             \
  "WHEN " NBI_GIVE_UP " THEN format('the worker died (or hung) while running it %s times "     \
  "without progress; giving up after %s of %s attempts', attempts, attempts, max_attempts) "   \
  "ELSE format('worker %s died (or hung) during attempt %s of %s; resumed from its "           \
  "checkpoint', locked_by, attempts, max_attempts) END, "                                      \
  "attempts = CASE WHEN " NBI_PROGRESSED " THEN GREATEST(attempts - 1, 0) ELSE attempts END, " \
  "locked_by = NULL, run_at_ms = $1::bigint "
// Counts the rows of CTE `r` and notifies the channel once when there are any.
#define NBI_COUNT_AND_NOTIFY                    \
  ", n AS (SELECT pg_notify('" NBI_JOBS_CHANNEL \
  "', '') FROM r LIMIT 1) "                     \
  "SELECT (SELECT count(*) FROM r) + 0 * (SELECT count(*) FROM n)"
// A running job that never heartbeated (e.g. one the seed app left behind) counts as stale.
// SKIP LOCKED: a rescuer never waits behind a job whose owner is inside a transaction (a
// stopped process keeps its row lock until it wakes or its session ends).
inline constexpr PgSql kRescueStale{
    "rescue_stale",
    "WITH r AS (UPDATE jobs SET " NBI_RESCUE_SET
    "WHERE id IN (SELECT id FROM jobs WHERE status = 'running' "
    "AND (heartbeat_at_ms IS NULL OR heartbeat_at_ms < $2::bigint) FOR UPDATE SKIP LOCKED) "
    "RETURNING id)" NBI_COUNT_AND_NOTIFY};
// An owner is alive while some session of this database holds the advisory lock on its id
// (kOwnerLock); pg_advisory_lock(bigint) shows in pg_locks as classid = high 32 bits, objid =
// low 32 bits, objsubid = 1.
inline constexpr PgSql kRescueDeadOwners{
    "rescue_dead_owners",
    "WITH r AS (UPDATE jobs SET " NBI_RESCUE_SET
    "WHERE id IN (SELECT j.id FROM jobs j WHERE j.status = 'running' AND NOT EXISTS ("
    "SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND ((l.classid::bigint << 32) | l.objid::bigint) = "
    "hashtextextended(COALESCE(j.locked_by, ''), 0)) FOR UPDATE SKIP LOCKED) "
    "RETURNING id)" NBI_COUNT_AND_NOTIFY};
// The owner lease: a session-level lock on the worker id's 64-bit hash.
inline constexpr PgSql kOwnerLock{"owner_lock",
                                  "SELECT pg_try_advisory_lock(hashtextextended($1::text, 0))"};
inline constexpr PgSql kOwnerCheck{"owner_check", "SELECT 1"};
// A clean release: the lock is gone when this returns (closing the session would free it
// only once the server has processed the disconnect).
inline constexpr PgSql kOwnerUnlock{"owner_unlock", "SELECT pg_advisory_unlock_all()"};
inline constexpr PgSql kResetRunning{
    "reset_running",
    "WITH r AS (UPDATE jobs SET status = 'pending', started_at = NULL, "
    "locked_by = NULL, run_at_ms = $1::bigint WHERE status = 'running' RETURNING "
    "id)" NBI_COUNT_AND_NOTIFY};
inline constexpr PgSql kNextPending{
    "next_pending",
    "SELECT " NBI_JOB_COLUMNS
    " FROM jobs WHERE status = 'pending' ORDER BY run_at_ms, priority DESC, id LIMIT 1"};
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
