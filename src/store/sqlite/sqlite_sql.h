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

#include "store/sqlite/sqlite_tiles_sql.h"
#include "store/sqlite/sqlite_walk_sql.h"

namespace nbi::sql {

// ------------------------------------------------------------------ schema
// v1 is the seed's schema as the original app created it (so its databases upgrade in
// place); v2 adds the queue columns, POIs and the indexes that keep hot queries independent
// of history size.
// One canonical grid step: a migration (see the list below). Of the moving cells that land on
// one point (several near-equal steps), the newest stays: UPDATE OR REPLACE alone would keep
// whichever it moved last.
inline constexpr const char* kCanonicalStepMigration = R"sql(
CREATE TEMP TABLE nbi_step_moves AS
SELECT id, model, computed_at, ROUND(grid_step * 10000000) / 10000000.0 AS cstep,
       ROUND(lat / grid_step) * (ROUND(grid_step * 10000000) / 10000000.0) AS clat,
       ROUND(lng / grid_step) * (ROUND(grid_step * 10000000) / 10000000.0) AS clng
FROM heat_cells WHERE grid_step <> ROUND(grid_step * 10000000) / 10000000.0;
DELETE FROM heat_cells WHERE id IN (
  SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY model, clat, clng, cstep
                                                ORDER BY computed_at DESC, id DESC) AS r
                  FROM temp.nbi_step_moves)
  WHERE r > 1);
DROP TABLE temp.nbi_step_moves;
DELETE FROM heat_cells
WHERE grid_step <> ROUND(grid_step * 10000000) / 10000000.0
  AND EXISTS (SELECT 1 FROM heat_cells t
              WHERE t.model = heat_cells.model
                AND t.grid_step = ROUND(heat_cells.grid_step * 10000000) / 10000000.0
                AND t.lat = ROUND(heat_cells.lat / heat_cells.grid_step)
                            * (ROUND(heat_cells.grid_step * 10000000) / 10000000.0)
                AND t.lng = ROUND(heat_cells.lng / heat_cells.grid_step)
                            * (ROUND(heat_cells.grid_step * 10000000) / 10000000.0)
                AND t.computed_at >= heat_cells.computed_at);
UPDATE OR REPLACE heat_cells
SET lat = ROUND(lat / grid_step) * (ROUND(grid_step * 10000000) / 10000000.0),
    lng = ROUND(lng / grid_step) * (ROUND(grid_step * 10000000) / 10000000.0),
    grid_step = ROUND(grid_step * 10000000) / 10000000.0
WHERE grid_step <> ROUND(grid_step * 10000000) / 10000000.0;
)sql";

// v14: delayed jobs (a future run_at, a retry's backoff) stay out of the claim index until
// due: a claim walked jobs_claim_idx past every delayed job ahead of the first ready one. A
// delayed job carries its due time in due_ms (NULL once due), the claim index holds only jobs
// without one, and a small index over due_ms (only delayed jobs) lets each claim clear the ones
// that have come due first (kPromoteDue). Jobs already waiting are marked by this machine's
// clock, the store's (SQLite shares one machine's clock). The column itself is added by
// kDelayColumn when missing (SQLite has no ADD COLUMN IF NOT EXISTS), so the step re-runs.
inline constexpr const char* kDelayColumn = "ALTER TABLE jobs ADD COLUMN due_ms BIGINT";
inline constexpr const char* kHasDelayColumn =
    "SELECT COUNT(*) FROM pragma_table_info('jobs') WHERE name = 'due_ms'";
inline constexpr const char* kDelayMigration = R"sql(
UPDATE jobs SET due_ms = run_at_ms WHERE ready_parts > 0 AND due_ms IS NULL
  AND run_at_ms > CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
DROP INDEX IF EXISTS jobs_claim_idx;
CREATE INDEX jobs_claim_idx ON jobs(priority DESC, id) WHERE ready_parts > 0 AND due_ms IS NULL;
CREATE INDEX IF NOT EXISTS jobs_due_idx ON jobs(due_ms) WHERE due_ms IS NOT NULL;
)sql";

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
    // v5: job parts (store/parts.h). Every existing job becomes a job of one part carrying its
    // queue state, so a job running mid-way during the upgrade is rescued and resumes from its
    // lastProcessedIndex. Claims look at jobs with ready parts.
    R"sql(
CREATE TABLE job_parts (
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
  PRIMARY KEY (job_id, part)) WITHOUT ROWID;
CREATE INDEX job_parts_running_idx ON job_parts(heartbeat_at_ms) WHERE status = 'running';
ALTER TABLE jobs ADD COLUMN part_count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN ready_parts INTEGER NOT NULL DEFAULT 0;
INSERT INTO job_parts (job_id, part, begin_index, end_index, next_index, status, attempts,
                       locked_by, heartbeat_at_ms, claimed_index)
  SELECT id, 0, 0, MAX(COALESCE(total_items, 0), 0),
         MIN((CASE WHEN json_valid(metadata) AND json_type(metadata, '$.lastProcessedIndex')
                   IN ('integer', 'real') THEN MAX(CAST(json_extract(metadata,
                   '$.lastProcessedIndex') AS INTEGER), 0) ELSE 0 END),
             MAX(COALESCE(total_items, 0), 0)),
         CASE status WHEN 'running' THEN 'running' WHEN 'completed' THEN 'completed'
                     ELSE 'pending' END,
         attempts, locked_by, heartbeat_at_ms, claimed_index
  FROM jobs;
UPDATE jobs SET ready_parts = CASE WHEN status = 'pending' THEN 1 ELSE 0 END;
DROP INDEX IF EXISTS jobs_claim_idx;
CREATE INDEX jobs_claim_idx ON jobs(priority DESC, id) WHERE ready_parts > 0;
-- A pending job inserted without parts (by the original app, which shares the jobs table)
-- becomes a job of one part, resuming at its lastProcessedIndex. Enqueue always inserts
-- ready_parts > 0, so this never fires for a job of ours.
CREATE TRIGGER jobs_without_parts AFTER INSERT ON jobs
WHEN NEW.ready_parts = 0 AND NEW.status = 'pending'
BEGIN
  INSERT OR IGNORE INTO job_parts (job_id, part, begin_index, end_index, next_index)
  VALUES (NEW.id, 0, 0, MAX(COALESCE(NEW.total_items, 0), 0),
          MIN((CASE WHEN json_valid(NEW.metadata) AND json_type(NEW.metadata,
               '$.lastProcessedIndex') IN ('integer', 'real') THEN MAX(CAST(json_extract(
               NEW.metadata, '$.lastProcessedIndex') AS INTEGER), 0) ELSE 0 END),
              MAX(COALESCE(NEW.total_items, 0), 0)));
  UPDATE jobs SET ready_parts = 1, part_count = 1 WHERE id = NEW.id;
END;
)sql",
    // v6: tile overview levels and per-area versions (sqlite_tiles_sql.h).
    kTilesMigration,
    // v7: the attempt history of jobs (JobQueue::ListAttempts): one row per failed or rescued
    // attempt of a part, deleted with its job. Self-contained (touches no other table).
    R"sql(
CREATE TABLE IF NOT EXISTS job_attempts (
  id INTEGER PRIMARY KEY,
  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  part INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  at_ms BIGINT NOT NULL,
  worker TEXT,
  error TEXT NOT NULL,
  outcome TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS job_attempts_job_idx ON job_attempts(job_id, id);
)sql",
    // v8: the walk network (sqlite_walk_sql.h). Self-contained.
    kWalkMigration,
    // v9: claims find pending parts by an index, whatever the dead rows that claims and
    // completions leave behind until a vacuum (without it the claim read every part row).
    "CREATE INDEX IF NOT EXISTS job_parts_pending_idx ON job_parts(job_id, part) "
    "WHERE status = 'pending';",
    // v10: jobs that were there before the engine's first migrate are never pruned (the
    // PostgreSQL store takes over the original app's database here, SPEC §2a; a SQLite file
    // has no such history, but keeps the same rule).
    "ALTER TABLE jobs ADD COLUMN kept INTEGER NOT NULL DEFAULT 0; "
    "UPDATE jobs SET kept = 1 WHERE dedupe_key IS NULL;",
    // v11: street tiles (the offline base layer): each walk edge's drawing class and street
    // cell, and the network's version counter (sqlite_walk_sql.h). Touches only the walk tables.
    kStreetMigration,
    // v12: one canonical grid step (SPEC §3, geo.h CanonicalGridStep). Cells written at a step
    // that differs from its 1e-7 rounding (a float32 client's 0.00100000004) move onto the
    // canonical step's grid point (lat = row * step, as the store writes it); where such a cell
    // and the canonical one coincide, the newer stays.
    kCanonicalStepMigration,
    // v13: an import that deletes walk nodes (import --replace, change
    // files) finds the edges that touch a node as b by an index, as it finds them as a by the
    // key; and OSM ways' node lists, for change files (sqlite_walk_sql.h).
    kOsmWayNodesMigration,
    // v14: delayed jobs out of the claim until due (kDelayMigration).
    kDelayMigration,
    // v15: the scoring data version (store.h ScoringDataVersion): a checkpoint whose index was
    // loaded before an import committed is refused (SqliteStore::CheckpointIn).
    "CREATE TABLE IF NOT EXISTS scoring_data_version (id INTEGER PRIMARY KEY CHECK (id = 1), "
    "version INTEGER NOT NULL); "
    "INSERT OR IGNORE INTO scoring_data_version (id, version) VALUES (1, 1);",
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
inline constexpr const char* kScoringDataVersion =
    "SELECT version FROM scoring_data_version WHERE id = 1";
inline constexpr const char* kBumpScoringDataVersion =
    "UPDATE scoring_data_version SET version = version + 1 WHERE id = 1";
// ?: source_id, category, subtype, name, lat, lng. Keyed by source_id.
inline constexpr const char* kUpsertPoi =
    "INSERT INTO pois (source_id, category, subtype, name, lat, lng) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (source_id) DO UPDATE SET category = excluded.category, subtype = "
    "excluded.subtype, name = excluded.name, lat = excluded.lat, lng = excluded.lng";
// ?: min_lat, max_lat, min_lng, max_lng, limit (-1: no limit).
// ?: source_id. changes() tells whether it was stored.
inline constexpr const char* kDeletePoi = "DELETE FROM pois WHERE source_id = ?";
inline constexpr const char* kLoadPoiById =
    "SELECT source_id, category, subtype, name, lat, lng FROM pois WHERE source_id = ?";
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
// The (grid step, model) pairs of the cells in a box. ?: min_lat, max_lat, min_lng, max_lng.
inline constexpr const char* kCellGridsIn =
    "SELECT DISTINCT grid_step, model FROM heat_cells WHERE lat BETWEEN ? AND ? AND "
    "lng BETWEEN ? AND ?";
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
  "cancel_requested, part_count"
// The part columns, in the order ReadPart reads them.
#define NBI_SQLITE_PART_COLS                                                        \
  "job_id, part, begin_index, end_index, next_index, status, attempts, locked_by, " \
  "heartbeat_at_ms, claimed_index"

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
// dedupe_key, part_count (every part is ready), type, now_ms (a run_at after it: delayed,
// v14).
inline constexpr const char* kEnqueueHeatmap =
    "INSERT INTO jobs (type, status, city_id, progress, total_items, metadata, created_at, "
    "priority, max_attempts, run_at_ms, dedupe_key, part_count, ready_parts, due_ms) VALUES "
    "(?10, 'pending', ?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, CASE WHEN ?7 > ?11 THEN ?7 END) "
    "RETURNING " NBI_SQLITE_JOB_COLS;
// ?: job_id, part, begin, end (next = begin).
inline constexpr const char* kInsertPart =
    "INSERT INTO job_parts (job_id, part, begin_index, end_index, next_index, status) "
    "VALUES (?1, ?2, ?3, ?4, ?3, 'pending')";
// Before each claim, in its transaction: the delayed jobs that have come due by ?1 become
// claimable (one range probe of jobs_due_idx, which holds only delayed jobs). v14.
inline constexpr const char* kPromoteDue = "UPDATE jobs SET due_ms = NULL WHERE due_ms <= ?1";
// The best ready parts: of jobs with ready parts whose run_at has come, by job priority, then
// oldest job, then part. ?1 now_ms, ?2 limit, ?3 the most cells a part may have left (a local
// queue's claim of small parts; else the largest integer: larger parts are passed over, and
// only within the first ?2 jobs, so such a claim finds less behind many large jobs). The jobs are
// taken by walking jobs_claim_idx (priority DESC, id; only jobs with ready parts and no pending
// delay, v14) in order and stopping at the ?2-th: each such job has a pending part, so the first ?2
// parts in claim order lie in the first ?2 jobs. Joining every pending part to its job and sorting
// them all cost a claim time in proportion to the pending parts: 20,000 queued one-cell jobs ran at
// 75/s.
inline constexpr const char* kClaimCandidates =
    "SELECT p.job_id, p.part FROM (SELECT id, priority FROM jobs INDEXED BY jobs_claim_idx "
    "WHERE ready_parts > 0 AND due_ms IS NULL AND run_at_ms <= ?1 "
    "ORDER BY priority DESC, id LIMIT ?2) j "
    "JOIN job_parts p ON p.job_id = j.id AND p.status = 'pending' "
    "AND p.end_index - p.next_index <= ?3 "
    "ORDER BY j.priority DESC, j.id, p.part LIMIT ?2";
// ?1 worker_id, ?2 now_ms, ?3 job_id, ?4 part.
inline constexpr const char* kClaimPart =
    "UPDATE job_parts SET status = 'running', locked_by = ?1, attempts = attempts + 1, "
    "heartbeat_at_ms = ?2, claimed_index = next_index "
    "WHERE job_id = ?3 AND part = ?4 AND status = 'pending' RETURNING " NBI_SQLITE_PART_COLS;
// ?1 job_id, ?2 started_at.
inline constexpr const char* kJobStarted =
    "UPDATE jobs SET started_at = COALESCE(started_at, ?2) WHERE id = ?1";
// ?1 job_id, ?2 part.
inline constexpr const char* kSelectPart =
    "SELECT " NBI_SQLITE_PART_COLS " FROM job_parts WHERE job_id = ?1 AND part = ?2";
inline constexpr const char* kListParts =
    "SELECT " NBI_SQLITE_PART_COLS " FROM job_parts WHERE job_id = ?1 ORDER BY part";
// The parts of a job by state (RollUp's tally), and the owner of its lowest running part
// (the job's locked_by: the worker that holds its earliest cells). ?1 job_id.
inline constexpr const char* kTallyParts =
    "SELECT status, COUNT(*), MAX(attempts), MAX(heartbeat_at_ms), "
    "(SELECT r.locked_by FROM job_parts r WHERE r.job_id = ?1 AND r.status = 'running' "
    "ORDER BY r.part LIMIT 1) FROM job_parts WHERE job_id = ?1 GROUP BY status";
// Writes a RollUp. ?1 status, ?2 ready_parts, ?3 locked_by, ?4 attempts, ?5 heartbeat (NULL:
// unchanged), ?6 completed_at (NULL: unchanged), ?7 job_id. A completed job shows 100% and
// no error.
inline constexpr const char* kApplyRollUp =
    "UPDATE jobs SET status = ?1, ready_parts = ?2, locked_by = ?3, attempts = ?4, "
    "heartbeat_at_ms = CASE WHEN ?5 IS NULL THEN heartbeat_at_ms "
    "ELSE MAX(COALESCE(heartbeat_at_ms, 0), ?5) END, "
    "completed_at = COALESCE(?6, completed_at), "
    "progress = CASE WHEN ?1 = 'completed' THEN 100 ELSE progress END, "
    "error = CASE WHEN ?1 = 'completed' THEN NULL ELSE error END "
    "WHERE id = ?7 RETURNING " NBI_SQLITE_JOB_COLS;
// A part leaves `running`. ?1 status, ?2 attempts, ?3 job_id, ?4 part.
inline constexpr const char* kSetPartState =
    "UPDATE job_parts SET status = ?1, attempts = ?2, locked_by = NULL, "
    "next_index = CASE WHEN ?1 = 'completed' THEN end_index ELSE next_index END "
    "WHERE job_id = ?3 AND part = ?4";
// Lease-checked: no row when worker_id runs no part of the job. A heartbeat never moves back:
// one computed before a concurrent checkpoint commits a newer one keeps the newer time.
// ?1 now_ms, ?2 job_id, ?3 worker_id.
inline constexpr const char* kHeartbeatParts =
    "UPDATE job_parts SET heartbeat_at_ms = MAX(COALESCE(heartbeat_at_ms, 0), ?1) "
    "WHERE job_id = ?2 AND status = 'running' AND locked_by = ?3";
inline constexpr const char* kHeartbeatJob =
    "UPDATE jobs SET heartbeat_at_ms = MAX(COALESCE(heartbeat_at_ms, 0), ?1) WHERE id = ?2 "
    "RETURNING cancel_requested";
// The part's checkpoint. ?1 next, ?2 now_ms, ?3 job_id, ?4 part.
inline constexpr const char* kCheckpointPart =
    "UPDATE job_parts SET next_index = ?1, heartbeat_at_ms = MAX(COALESCE(heartbeat_at_ms, 0), "
    "?2) WHERE job_id = ?3 AND part = ?4";
// The job's checkpoint: ?2 more cells are done. Only while the job runs.
// ?1 now_ms, ?2 cells added, ?3 job_id. Returns cancel_requested and the new done count.
inline constexpr const char* kCheckpointJob =
    "UPDATE jobs SET heartbeat_at_ms = MAX(COALESCE(heartbeat_at_ms, 0), ?1), "
    "progress = CASE WHEN total_items > 0 THEN MIN(100, (100 * (" NBI_SQLITE_DONE_INDEX
    " + ?2)) / total_items) ELSE 100 END, "
    "metadata = json_set(CASE WHEN json_valid(metadata) THEN metadata ELSE '{}' END, "
    "'$.lastProcessedIndex', " NBI_SQLITE_DONE_INDEX
    " + ?2) "
    "WHERE id = ?3 AND status = 'running' RETURNING cancel_requested, " NBI_SQLITE_DONE_INDEX;
// A failed attempt that will be retried: delayed until its backoff ends. ?: error, run_at_ms
// (now + backoff), job_id.
inline constexpr const char* kFailAttemptRetry =
    "UPDATE jobs SET error = ?1, run_at_ms = ?2, due_ms = ?2 WHERE id = ?3";
// A failed attempt that ends the job. ?: error, completed_at, job_id.
inline constexpr const char* kFailAttemptFinal =
    "UPDATE jobs SET status = 'failed', locked_by = NULL, error = ?, completed_at = ?, "
    "ready_parts = 0, due_ms = NULL WHERE id = ?";
// A hand-back or a rescue makes the part claimable now. ?1 run_at_ms, ?2 job_id.
inline constexpr const char* kJobRunAt =
    "UPDATE jobs SET run_at_ms = ?1, due_ms = NULL WHERE id = ?2";
// A rescue's message. ?1 error, ?2 job_id.
inline constexpr const char* kJobError = "UPDATE jobs SET error = ?1 WHERE id = ?2";
// ?1 completed_at, ?2 job_id.
inline constexpr const char* kCancelPending =
    "UPDATE jobs SET status = 'cancelled', completed_at = ?1, ready_parts = 0, due_ms = NULL "
    "WHERE id = ?2";
// Same parameters as kCancelPending (?1 is bound but unused: "?1 IS NOT NULL" is always
// true), so both share one binding sequence.
inline constexpr const char* kCancelRunning =
    "UPDATE jobs SET cancel_requested = 1, ready_parts = 0 WHERE id = ?2 AND ?1 IS NOT NULL";
// Retry: the unfinished parts run again. ?1 job_id.
inline constexpr const char* kRetryParts =
    "UPDATE job_parts SET status = 'pending', attempts = 0, locked_by = NULL "
    "WHERE job_id = ?1 AND status <> 'completed'";
// Fails with a UNIQUE violation (kConflict) when an equal job is active.
// ?: run_at_ms, job_id.
inline constexpr const char* kRetry =
    "UPDATE jobs SET status = 'pending', attempts = 0, error = NULL, cancel_requested = 0, "
    "completed_at = NULL, locked_by = NULL, run_at_ms = ?1, due_ms = NULL, "
    "ready_parts = (SELECT COUNT(*) "
    "FROM job_parts WHERE job_id = jobs.id AND status = 'pending') WHERE id = ?2";
// Running parts whose heartbeat is older than ?1 (a part that never heartbeated counts).
inline constexpr const char* kStaleParts =
    "SELECT job_id, part FROM job_parts WHERE status = 'running' "
    "AND COALESCE(heartbeat_at_ms, 0) < ?1";
// The owners of running parts (their liveness is checked by lock file).
inline constexpr const char* kRunningOwners =
    "SELECT DISTINCT locked_by FROM job_parts WHERE status = 'running' AND locked_by IS NOT NULL";
// The running parts of one owner. ?1 owner.
inline constexpr const char* kOwnerParts =
    "SELECT job_id, part FROM job_parts WHERE status = 'running' AND locked_by = ?1";
// The job with ready parts that becomes ready first.
inline constexpr const char* kNextPending =
    "SELECT " NBI_SQLITE_JOB_COLS
    " FROM jobs WHERE ready_parts > 0 ORDER BY run_at_ms, priority DESC, id LIMIT 1";
inline constexpr const char* kResetRunningParts =
    "UPDATE job_parts SET status = 'pending', locked_by = NULL WHERE status = 'running'";
inline constexpr const char* kRunningJobIds = "SELECT id FROM jobs WHERE status = 'running'";
// ?1 run_at_ms, ?2 job_id.
inline constexpr const char* kResetRunningJob =
    "UPDATE jobs SET started_at = NULL, run_at_ms = ?1, due_ms = NULL WHERE id = ?2";
// ?: cutoff timestamp. Parts go with their job (ON DELETE CASCADE).
inline constexpr const char* kPruneFinished =
    "DELETE FROM jobs WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at < ? "
    "AND NOT kept";
// Newest first. ?1 status or NULL, ?2 before_id or NULL, ?3 limit, ?4 type or NULL, ?5 city_id
// or NULL.
inline constexpr const char* kListJobs =
    "SELECT " NBI_SQLITE_JOB_COLS
    " FROM jobs WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR id < ?2) "
    "AND (?4 IS NULL OR type = ?4) AND (?5 IS NULL OR city_id = ?5) "
    "ORDER BY id DESC LIMIT ?3";
// An equal active job re-scheduled with a higher priority. ?1 priority, ?2 job_id.
inline constexpr const char* kRaisePriority =
    "UPDATE jobs SET priority = ?1 WHERE id = ?2 AND priority < ?1 RETURNING " NBI_SQLITE_JOB_COLS;
// The attempt history (v6). ?: job_id, part, attempt, at_ms, worker, error, outcome.
inline constexpr const char* kInsertAttempt =
    "INSERT INTO job_attempts (job_id, part, attempt, at_ms, worker, error, outcome) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)";
// ?1 job_id; oldest first.
inline constexpr const char* kListAttempts =
    "SELECT job_id, part, attempt, at_ms, worker, error, outcome FROM job_attempts "
    "WHERE job_id = ?1 ORDER BY id";
inline constexpr const char* kCountJobsByStatus =
    "SELECT status, COUNT(*) FROM jobs GROUP BY status";
// The cells not yet computed of the active jobs: in all, and per job of the ids in ?1 (a
// JSON array).
#define NBI_QUEUED_CELLS                                                     \
  "MAX(COALESCE(total_items, 0) - (CASE WHEN json_valid(metadata) AND "      \
  "json_type(metadata, '$.lastProcessedIndex') IN ('integer', 'real') THEN " \
  "CAST(json_extract(metadata, '$.lastProcessedIndex') AS INTEGER) ELSE 0 END), 0)"
inline constexpr const char* kQueuedCells = "SELECT COALESCE(SUM(" NBI_QUEUED_CELLS
                                            "), 0) FROM jobs WHERE status IN ('pending', "
                                            "'running')";
inline constexpr const char* kQueuedCellsOf = "SELECT id, " NBI_QUEUED_CELLS
                                              " FROM jobs WHERE status IN ('pending', 'running') "
                                              "AND id IN (SELECT value FROM json_each(?1))";
#undef NBI_QUEUED_CELLS
// The oldest active heatmap job of grid step ?3 and model ?4 whose bounds (half-open)
// contain ?1 lat, ?2 lng (a job without a model: ?5, SEED_JOB_MODEL). Metadata that is not JSON is
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
    "AND COALESCE(json_extract(metadata, '$.model'), ?5) = ?4 "
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
#undef NBI_SQLITE_PART_COLS
#undef NBI_SQLITE_DONE_INDEX
#undef NBI_SQLITE_CITY_COLS

}  // namespace nbi::sql
