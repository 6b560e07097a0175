// Every SQL text of the SQLite store: the schema migrations and each statement the store
// runs, as named constants. Method bodies refer to these names only, never to literals.
//
// The constants are `inline constexpr`, so each has one address program-wide: the
// per-connection statement cache (SqliteConn::Prepare) is keyed by that address.
//
// Parameters: `?` binds in order; `?N` is the N-th bound value and may appear more than
// once. Timestamps in TIMESTAMP columns are FormatTimestamp(ms, TimeStyle::kSqlUtc) text
// (UTC); *_ms columns are integer milliseconds since the epoch.
#pragma once

#include <iterator>

namespace nbi::sql {

// ------------------------------------------------------------------ schema
// v1 is the seed's schema as the original app created it (so its databases upgrade in
// place); v2 adds the queue columns, POIs and the indexes that keep hot queries independent
// of history size.
inline constexpr const char* kMigrations[] = {
    // v1
    R"sql(
CREATE TABLE IF NOT EXISTS cities (
  id INTEGER PRIMARY KEY,
  slug VARCHAR(100) NOT NULL UNIQUE,
  name TEXT NOT NULL,
  country TEXT,
  min_lat REAL NOT NULL, min_lng REAL NOT NULL, max_lat REAL NOT NULL, max_lng REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type VARCHAR(50) NOT NULL,
  status VARCHAR(20) NOT NULL,
  city_id INTEGER REFERENCES cities(id),
  progress INTEGER DEFAULT 0,
  total_items INTEGER,
  error TEXT,
  metadata JSONB,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  started_at TIMESTAMP,
  completed_at TIMESTAMP);
CREATE INDEX IF NOT EXISTS jobs_status_idx ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_type_idx ON jobs(type);
CREATE TABLE IF NOT EXISTS heat_cells (
  id INTEGER PRIMARY KEY,
  lat REAL NOT NULL,
  lng REAL NOT NULL,
  score INTEGER NOT NULL,
  grid_step REAL NOT NULL,
  city_id INTEGER REFERENCES cities(id),
  computed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  UNIQUE(lat, lng, grid_step));
CREATE INDEX IF NOT EXISTS heat_cells_bounds_idx ON heat_cells(lat, lng);
)sql",
    // v2
    R"sql(
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 3;
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN run_at_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN heartbeat_at_ms BIGINT;
ALTER TABLE jobs ADD COLUMN locked_by TEXT;
ALTER TABLE jobs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN dedupe_key TEXT;
CREATE INDEX jobs_claim_idx ON jobs(priority DESC, id) WHERE status = 'pending';
CREATE INDEX jobs_running_idx ON jobs(heartbeat_at_ms) WHERE status = 'running';
CREATE UNIQUE INDEX jobs_active_dedupe_idx ON jobs(dedupe_key) WHERE status IN ('pending', 'running');
CREATE INDEX jobs_finished_idx ON jobs(completed_at) WHERE status IN ('completed', 'failed', 'cancelled');
CREATE TABLE pois (
  id INTEGER PRIMARY KEY,
  source_id TEXT NOT NULL UNIQUE,
  category TEXT NOT NULL,
  subtype TEXT,
  name TEXT,
  lat REAL NOT NULL,
  lng REAL NOT NULL);
CREATE INDEX pois_lat_lng_idx ON pois(lat, lng);
-- UNIQUE(lat, lng, grid_step) already serves (lat, lng) range scans: one index less per write.
DROP INDEX IF EXISTS heat_cells_bounds_idx;
)sql",
    // v3: PostgreSQL drops the seed's foreign key on heat_cells.city_id here (a lookup per
    // written cell). SQLite's check is a cheap B-tree probe, so nothing changes; the version
    // is kept so that both stores count migrations alike.
    "SELECT 1;",
    // v4: a model per cell. The seed's UNIQUE(lat, lng, grid_step) becomes
    // UNIQUE(lat, lng, grid_step, model), which SQLite can only do by rebuilding the table;
    // existing cells are grocery cells (the only model the seed had). The seed's columns stay;
    // city_id loses its foreign key (as on PostgreSQL in v3), so cells the seed app left
    // pointing at a deleted city do not block the upgrade.
    R"sql(
CREATE TABLE heat_cells_v4 (
  id INTEGER PRIMARY KEY,
  lat REAL NOT NULL,
  lng REAL NOT NULL,
  score INTEGER NOT NULL,
  grid_step REAL NOT NULL,
  city_id INTEGER,
  computed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  model TEXT NOT NULL DEFAULT 'grocery',
  UNIQUE(lat, lng, grid_step, model));
INSERT INTO heat_cells_v4 (id, lat, lng, score, grid_step, city_id, computed_at)
  SELECT id, lat, lng, score, grid_step, city_id, computed_at FROM heat_cells;
DROP TABLE heat_cells;
ALTER TABLE heat_cells_v4 RENAME TO heat_cells;
-- Where a claimed run started: a rescue tells a crash after progress from a poison job.
ALTER TABLE jobs ADD COLUMN claimed_index BIGINT;
)sql",
};
inline constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// The migration in which the preset cities are seeded (once, never overwriting).
inline constexpr int kSeedCitiesVersion = 2;

inline constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "applied_at TIMESTAMP)";
inline constexpr const char* kSchemaVersionQuery =
    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
// ?: version, applied_at.
inline constexpr const char* kRecordMigration =
    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)";
// A preset city; an existing slug (maybe edited by the user) is left alone.
inline constexpr const char* kSeedCity =
    "INSERT INTO cities (slug, name, country, min_lat, min_lng, max_lat, max_lng) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug) DO NOTHING";

// ------------------------------------------------------------------ connection
// Run on every new connection. WAL: readers never block the writer; synchronous=NORMAL is
// durable across application crashes in WAL mode. 64 MiB page cache, temp tables in memory.
inline constexpr const char* kConnectionPragmas =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
    "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;";
// The reader pool's connections refuse writes.
inline constexpr const char* kQueryOnly = "PRAGMA query_only=1";
// IMMEDIATE takes the write lock up front, so a transaction never fails half-way with
// SQLITE_BUSY on its first write (busy_timeout waits for the lock instead).
inline constexpr const char* kBeginImmediate = "BEGIN IMMEDIATE";
inline constexpr const char* kCommit = "COMMIT";
inline constexpr const char* kRollback = "ROLLBACK";
// Changes whenever another connection commits to the file (the cross-process watch).
inline constexpr const char* kDataVersion = "PRAGMA data_version";

// ------------------------------------------------------------------ cities
#define NBI_SQLITE_CITY_COLS "id, slug, name, country, min_lat, min_lng, max_lat, max_lng"

// ?: slug, name, country, min_lat, min_lng, max_lat, max_lng. Returns the city columns.
inline constexpr const char* kUpsertCity =
    "INSERT INTO cities (slug, name, country, min_lat, min_lng, max_lat, max_lng) VALUES "
    "(?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug) DO UPDATE SET name = excluded.name, country = "
    "excluded.country, min_lat = excluded.min_lat, min_lng = excluded.min_lng, max_lat = "
    "excluded.max_lat, max_lng = excluded.max_lng RETURNING " NBI_SQLITE_CITY_COLS;
inline constexpr const char* kListCities =
    "SELECT " NBI_SQLITE_CITY_COLS " FROM cities ORDER BY slug";
inline constexpr const char* kGetCity =
    "SELECT " NBI_SQLITE_CITY_COLS " FROM cities WHERE slug = ?";

// ------------------------------------------------------------------ POIs
// Counted before and after an upsert batch: the difference is the number inserted.
inline constexpr const char* kCountPois = "SELECT COUNT(*) FROM pois";
// ?: source_id, category, subtype, name, lat, lng. Keyed by source_id.
inline constexpr const char* kUpsertPoi =
    "INSERT INTO pois (source_id, category, subtype, name, lat, lng) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (source_id) DO UPDATE SET category = excluded.category, subtype = "
    "excluded.subtype, name = excluded.name, lat = excluded.lat, lng = excluded.lng";
// ?: min_lat, max_lat, min_lng, max_lng, limit (-1: no limit).
inline constexpr const char* kLoadPois =
    "SELECT source_id, category, subtype, name, lat, lng FROM pois "
    "WHERE lat >= ? AND lat <= ? AND lng >= ? AND lng <= ? ORDER BY id LIMIT ?";
inline constexpr const char* kLoadPoiPoints =
    "SELECT category, subtype, lat, lng FROM pois "
    "WHERE lat >= ? AND lat <= ? AND lng >= ? AND lng <= ? ORDER BY id";
inline constexpr const char* kCountPoisByCategory =
    "SELECT category, COUNT(*) FROM pois GROUP BY category";

// ------------------------------------------------------------------ cells
// ?: min_lat, max_lat, min_lng, max_lng, grid_step, model, min_score, limit.
inline constexpr const char* kQueryCells =
    "SELECT lat, lng, score FROM heat_cells WHERE lat >= ? AND lat <= ? AND lng >= ? AND lng "
    "<= ? AND grid_step = ? AND model = ? AND score >= ? ORDER BY lat, lng LIMIT ?";
// ?1: grid_step, or NULL for all steps.
inline constexpr const char* kCountCells =
    "SELECT COUNT(*) FROM heat_cells WHERE ?1 IS NULL OR grid_step = ?1";
// ?1 lat, ?2 lng, ?3 search radius in degrees (one step plus a hair), ?4 grid_step, ?5 model.
inline constexpr const char* kHasCoverage =
    "SELECT EXISTS (SELECT 1 FROM heat_cells WHERE lat BETWEEN ?1 - ?3 AND ?1 + ?3 AND "
    "lng BETWEEN ?2 - ?3 AND ?2 + ?3 AND grid_step = ?4 AND model = ?5)";
// Benchmark path: plain insert into an empty table. ?: lat, lng, score, grid_step, ts.
inline constexpr const char* kRawInsertCell =
    "INSERT INTO heat_cells (lat, lng, score, grid_step, computed_at) VALUES (?, ?, ?, ?, ?)";
inline constexpr const char* kTruncateCells = "DELETE FROM heat_cells";
// A checkpoint's cell, replacing an earlier result for the same cell.
// ?: lat, lng, score, grid_step, city_id, computed_at, model.
inline constexpr const char* kUpsertCell =
    "INSERT INTO heat_cells (lat, lng, score, grid_step, city_id, computed_at, model) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (lat, lng, grid_step, model) DO UPDATE SET "
    "score = excluded.score, city_id = excluded.city_id, computed_at = excluded.computed_at";

// ------------------------------------------------------------------ jobs
// The job columns, in the order ReadJob (sqlite_queue.cc) reads them.
#define NBI_SQLITE_JOB_COLS                                                                     \
  "id, type, status, city_id, progress, total_items, error, metadata, created_at, started_at, " \
  "completed_at, attempts, max_attempts, priority, run_at_ms, heartbeat_at_ms, locked_by, "     \
  "cancel_requested"

// metadata.lastProcessedIndex, or 0 (also for metadata that is not JSON: no error here).
#define NBI_SQLITE_DONE_INDEX                                                            \
  "(CASE WHEN json_valid(metadata) AND json_type(metadata, '$.lastProcessedIndex') IN "  \
  "('integer', 'real') THEN MAX(CAST(json_extract(metadata, '$.lastProcessedIndex') AS " \
  "INTEGER), 0) ELSE 0 END)"

inline constexpr const char* kSelectJob = "SELECT " NBI_SQLITE_JOB_COLS " FROM jobs WHERE id = ?";
// The active job with this dedupe key (at most one: jobs_active_dedupe_idx).
inline constexpr const char* kActiveJobByKey =
    "SELECT " NBI_SQLITE_JOB_COLS
    " FROM jobs WHERE dedupe_key = ? AND status IN ('pending', 'running')";
// ?: city_id, total_items, metadata, created_at, priority, max_attempts, run_at_ms,
// dedupe_key.
inline constexpr const char* kEnqueueHeatmap =
    "INSERT INTO jobs (type, status, city_id, progress, total_items, metadata, created_at, "
    "priority, max_attempts, run_at_ms, dedupe_key) VALUES ('heatmap_compute', 'pending', ?, 0, "
    "?, ?, ?, ?, ?, ?, ?) RETURNING " NBI_SQLITE_JOB_COLS;
// Takes the best ready pending job in one statement (the write lock of BEGIN IMMEDIATE makes
// it exclusive). ?1 worker_id, ?2 now_ms, ?3 now as timestamp.
inline constexpr const char* kClaim =
    "UPDATE jobs SET status = 'running', locked_by = ?1, attempts = attempts + 1, "
    "heartbeat_at_ms = ?2, started_at = COALESCE(started_at, ?3), "
    "claimed_index = " NBI_SQLITE_DONE_INDEX
    " "
    "WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_at_ms <= ?2 "
    "ORDER BY priority DESC, id LIMIT 1) RETURNING " NBI_SQLITE_JOB_COLS;
// kClaim for up to ?4 jobs. RETURNING gives no order: the caller sorts.
inline constexpr const char* kClaimBatch =
    "UPDATE jobs SET status = 'running', locked_by = ?1, attempts = attempts + 1, "
    "heartbeat_at_ms = ?2, started_at = COALESCE(started_at, ?3), "
    "claimed_index = " NBI_SQLITE_DONE_INDEX
    " "
    "WHERE id IN (SELECT id FROM jobs WHERE status = 'pending' AND run_at_ms <= ?2 "
    "ORDER BY priority DESC, id LIMIT ?4) RETURNING " NBI_SQLITE_JOB_COLS;
// Lease-checked: no row when worker_id does not own the running job.
// ?: now_ms, job_id, worker_id.
// A heartbeat never moves back: one computed before a concurrent checkpoint commits a newer
// one (it waited for the write lock) keeps the newer time.
inline constexpr const char* kHeartbeat =
    "UPDATE jobs SET heartbeat_at_ms = MAX(COALESCE(heartbeat_at_ms, 0), ?1) "
    "WHERE id = ?2 AND status = 'running' AND locked_by = ?3 "
    "RETURNING cancel_requested";
// Lease-checked progress + lastProcessedIndex (?2 = begin + count) + heartbeat.
// ?1 now_ms, ?2 cells done, ?3 job_id, ?4 worker_id.
inline constexpr const char* kCheckpointJob =
    "UPDATE jobs SET heartbeat_at_ms = MAX(COALESCE(heartbeat_at_ms, 0), ?1), "
    "progress = CASE WHEN total_items > 0 THEN (100 * ?2) / total_items ELSE 100 END, "
    "metadata = json_set(COALESCE(metadata, '{}'), '$.lastProcessedIndex', ?2) "
    "WHERE id = ?3 AND status = 'running' AND locked_by = ?4 RETURNING cancel_requested";
// Lease-checked. ?: completed_at, heartbeat_at_ms, job_id, worker_id.
inline constexpr const char* kComplete =
    "UPDATE jobs SET status = 'completed', progress = 100, completed_at = ?, locked_by = NULL, "
    "heartbeat_at_ms = ?, error = NULL WHERE id = ? AND status = 'running' AND locked_by = ? "
    "RETURNING id";
// kComplete for the ids of the JSON array ?3 that ?4 owns.
inline constexpr const char* kCompleteBatch =
    "UPDATE jobs SET status = 'completed', progress = 100, completed_at = ?1, locked_by = NULL, "
    "heartbeat_at_ms = ?2, error = NULL WHERE id IN (SELECT value FROM json_each(?3)) "
    "AND status = 'running' AND locked_by = ?4";
// A failed attempt that will be retried. ?: error, run_at_ms (now + backoff), job_id.
inline constexpr const char* kFailAttemptRetry =
    "UPDATE jobs SET status = 'pending', locked_by = NULL, error = ?, run_at_ms = ? "
    "WHERE id = ?";
// A failed attempt that ends the job. ?: error, completed_at, job_id.
inline constexpr const char* kFailAttemptFinal =
    "UPDATE jobs SET status = 'failed', locked_by = NULL, error = ?, completed_at = ? "
    "WHERE id = ?";
// Lease-checked hand-back: cancelled when a cancel was requested, else pending with the
// attempt given back. ?1 completed_at, ?2 run_at_ms, ?3 job_id, ?4 worker_id.
inline constexpr const char* kRelease =
    "UPDATE jobs SET "
    "status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'pending' END, "
    "completed_at = CASE WHEN cancel_requested THEN ?1 ELSE completed_at END, "
    "attempts = CASE WHEN cancel_requested THEN attempts ELSE MAX(attempts - 1, 0) END, "
    "locked_by = NULL, run_at_ms = ?2 "
    "WHERE id = ?3 AND status = 'running' AND locked_by = ?4 RETURNING id";
// ?1 completed_at, ?2 job_id.
inline constexpr const char* kCancelPending =
    "UPDATE jobs SET status = 'cancelled', completed_at = ?1 WHERE id = ?2";
// Same parameters as kCancelPending (?1 is bound but unused: "?1 IS NOT NULL" is always
// true), so both share one binding sequence.
inline constexpr const char* kCancelRunning =
    "UPDATE jobs SET cancel_requested = 1 WHERE id = ?2 AND ?1 IS NOT NULL";
// Fails with a UNIQUE violation (kConflict) when an equal job is active.
// ?: run_at_ms, job_id.
inline constexpr const char* kRetry =
    "UPDATE jobs SET status = 'pending', attempts = 0, error = NULL, cancel_requested = 0, "
    "completed_at = NULL, locked_by = NULL, run_at_ms = ? WHERE id = ?";
// What a rescue sets. A job whose cancel was requested ends cancelled. A run that committed
// progress since its claim gives its attempt back (a crash in the middle of a long job is not
// the job's fault); a run that made none keeps it, and once attempts reach max_attempts the
// job ends failed (its worker died while running it that many times: no crash loop). Any
// other goes back to pending and resumes from its checkpoint. ?1 now_ms, ?3 now as timestamp.
#define NBI_SQLITE_PROGRESSED "(" NBI_SQLITE_DONE_INDEX " > COALESCE(claimed_index, 0))"
#define NBI_SQLITE_GIVE_UP "(NOT " NBI_SQLITE_PROGRESSED " AND attempts >= max_attempts)"
#define NBI_SQLITE_RESCUE_SET                                                           \
  "status = CASE WHEN cancel_requested THEN 'cancelled' "                               \
  "WHEN " NBI_SQLITE_GIVE_UP                                                            \
  " THEN 'failed' ELSE 'pending' END, "                                                 \
  "completed_at = CASE WHEN cancel_requested OR " NBI_SQLITE_GIVE_UP                    \
  " THEN ?3 "                                                                           \
  "ELSE completed_at END, "                                                             \
  "error = CASE WHEN cancel_requested THEN error "                                      \
  "WHEN " NBI_SQLITE_GIVE_UP                                                            \
  " THEN 'the worker died (or hung) while running it ' || "                             \
  "attempts || ' times without progress; giving up after ' || attempts || ' of ' || "   \
  "max_attempts || ' attempts' "                                                        \
  "ELSE 'worker ' || COALESCE(locked_by, '?') || ' died (or hung) during attempt ' || " \
  "attempts || ' of ' || max_attempts || '; resumed from its checkpoint' END, "         \
  "attempts = CASE WHEN " NBI_SQLITE_PROGRESSED                                         \
  " THEN MAX(attempts - 1, 0) "                                                         \
  "ELSE attempts END, "                                                                 \
  "locked_by = NULL, run_at_ms = ?1 "
// Running jobs whose heartbeat is older than ?1 - ?2. ?1 now_ms, ?2 timeout_ms, ?3 now as
// timestamp.
inline constexpr const char* kRescueStale =
    "UPDATE jobs SET " NBI_SQLITE_RESCUE_SET
    "WHERE status = 'running' AND COALESCE(heartbeat_at_ms, 0) < ?1 - ?2";
// The owners of running jobs (their liveness is checked by lock file).
inline constexpr const char* kRunningOwners =
    "SELECT DISTINCT locked_by FROM jobs WHERE status = 'running' AND locked_by IS NOT NULL";
// The running jobs of one dead owner. ?1 now_ms, ?2 owner, ?3 now as timestamp.
inline constexpr const char* kRescueOwner =
    "UPDATE jobs SET " NBI_SQLITE_RESCUE_SET "WHERE status = 'running' AND locked_by = ?2";
// The pending job that becomes ready first.
inline constexpr const char* kNextPending =
    "SELECT " NBI_SQLITE_JOB_COLS
    " FROM jobs WHERE status = 'pending' ORDER BY run_at_ms, priority DESC, id LIMIT 1";
// ?: run_at_ms.
inline constexpr const char* kResetRunning =
    "UPDATE jobs SET status = 'pending', started_at = NULL, locked_by = NULL, run_at_ms = ? "
    "WHERE status = 'running'";
// ?: cutoff timestamp.
inline constexpr const char* kPruneFinished =
    "DELETE FROM jobs WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at < ?";
// Newest first. ?1 status or NULL, ?2 before_id or NULL, ?3 limit.
inline constexpr const char* kListJobs =
    "SELECT " NBI_SQLITE_JOB_COLS
    " FROM jobs WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR id < ?2) "
    "ORDER BY id DESC LIMIT ?3";
inline constexpr const char* kCountJobsByStatus =
    "SELECT status, COUNT(*) FROM jobs GROUP BY status";
// The oldest active heatmap job of grid step ?3 and model ?4 whose bounds (half-open)
// contain ?1 lat, ?2 lng (a job without a model is grocery). Metadata that is not JSON is
// skipped, not an error.
inline constexpr const char* kFindActiveJobCovering =
    "SELECT " NBI_SQLITE_JOB_COLS
    " FROM jobs WHERE status IN ('pending', 'running') AND type = 'heatmap_compute' "
    "AND json_valid(metadata) "
    "AND json_extract(metadata, '$.bounds.minLat') <= ?1 "
    "AND json_extract(metadata, '$.bounds.maxLat') > ?1 "
    "AND json_extract(metadata, '$.bounds.minLng') <= ?2 "
    "AND json_extract(metadata, '$.bounds.maxLng') > ?2 "
    "AND json_extract(metadata, '$.gridStep') = ?3 "
    "AND COALESCE(json_extract(metadata, '$.model'), 'grocery') = ?4 "
    "ORDER BY id LIMIT 1";
// The region's cells: exactly its grid points, first to last row and column (the stored
// coordinates are computed from the same indices, so equality is exact).
// ?: first row lat, last row lat, first column lng, last column lng, grid_step, model.
inline constexpr const char* kResetAreaCells =
    "DELETE FROM heat_cells WHERE lat >= ? AND lat <= ? AND lng >= ? AND lng <= ? AND "
    "grid_step = ? AND model = ?";
// Finished jobs of exactly this area, step and model (their dedupe key). ?: dedupe_key.
inline constexpr const char* kResetAreaJobs =
    "DELETE FROM jobs WHERE status IN ('completed', 'failed', 'cancelled') AND dedupe_key = ?";

#undef NBI_SQLITE_JOB_COLS
#undef NBI_SQLITE_RESCUE_SET
#undef NBI_SQLITE_GIVE_UP
#undef NBI_SQLITE_PROGRESSED
#undef NBI_SQLITE_DONE_INDEX
#undef NBI_SQLITE_CITY_COLS

}  // namespace nbi::sql
