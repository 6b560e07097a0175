// PostgreSQL store over libpq. See store/store.h for the contract and pg_store.h for the
// outline.
//
// Conventions in this file:
// - Every statement is a named constant with bound parameters; values never reach SQL text.
//   Statements with a name are prepared once per connection; the rest (migrations, COPY)
//   carry no values at all.
// - Timestamps come from the Clock as epoch milliseconds. The seed's TIMESTAMP columns
//   (UTC, no zone) are written with NBI_TS and read back with NBI_MS, so a FakeClock in
//   tests controls every stored time and the database's now() is never used.
// - heat_cells.lat/lng/grid_step are REAL (float4), as in the seed. A cell is written as the
//   float of its grid coordinate, and every cell predicate compares in float4 (parameters
//   cast to ::real), so a box edge on the grid matches the cell on it exactly; comparing in
//   float8 would miss cells whose float rounds below the edge (47.10f < 47.10).
#include "store/postgres/pg_store.h"

#include <endian.h>
#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace nbi {

namespace {

// ------------------------------------------------------------------ SQL

// A statement. `name` set: prepared on first use per connection and reused; null: sent
// unprepared (one-off statements such as the migrations' bookkeeping).
struct Sql {
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

// Both lease updates and the checkpoint check the owner in the same statement that writes.
#define NBI_OWNED "id = $1::bigint AND status = 'running' AND locked_by = $2::text"

// Two processes may start at once against a fresh database; migrations serialize on this
// transaction-scoped advisory lock (an arbitrary constant: "NBIM").
constexpr int64_t kMigrationLockKey = 0x4E42494D;

// v1 is the seed's schema exactly, so a database made by the original TypeScript app
// upgrades in place (hence IF NOT EXISTS). v2 adds the queue columns, POIs and the indexes
// that keep hot queries independent of history size.
constexpr const char* kMigrations[] = {
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
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

constexpr Sql kLockMigrations{nullptr, "SELECT pg_advisory_xact_lock($1::bigint)"};
constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "applied_at TIMESTAMP NOT NULL)";
constexpr Sql kSchemaVersionSql{nullptr, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"};
constexpr Sql kRecordMigration{
    nullptr,
    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1::int, " NBI_TS("$2") ")"};
constexpr Sql kInsertPresetCity{
    nullptr,
    "INSERT INTO cities (slug, name, country, min_lat, min_lng, max_lat, max_lng) "
    "VALUES ($1, $2, $3, $4::float8, $5::float8, $6::float8, $7::float8) "
    "ON CONFLICT (slug) DO NOTHING"};

// ---- cities
constexpr Sql kUpsertCity{
    "upsert_city",
    "INSERT INTO cities (slug, name, country, min_lat, min_lng, max_lat, max_lng) "
    "VALUES ($1, $2, $3, $4::float8, $5::float8, $6::float8, $7::float8) "
    "ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, country = EXCLUDED.country, "
    "min_lat = EXCLUDED.min_lat, min_lng = EXCLUDED.min_lng, max_lat = EXCLUDED.max_lat, "
    "max_lng = EXCLUDED.max_lng RETURNING " NBI_CITY_COLUMNS};
constexpr Sql kListCities{"list_cities", "SELECT " NBI_CITY_COLUMNS " FROM cities ORDER BY slug"};
constexpr Sql kGetCity{"get_city", "SELECT " NBI_CITY_COLUMNS " FROM cities WHERE slug = $1"};

// ---- POIs
constexpr const char* kCreatePoiStage =
    "CREATE TEMP TABLE IF NOT EXISTS nbi_poi_stage (ord bigint, source_id text, category text, "
    "subtype text, name text, lat float8, lng float8) ON COMMIT DELETE ROWS";
constexpr const char* kCopyPoiStage =
    "COPY nbi_poi_stage (ord, source_id, category, subtype, name, lat, lng) FROM STDIN "
    "(FORMAT binary)";
// xmax = 0 marks a row version this statement inserted; an updated row carries the
// conflict check's row lock in xmax. It tells inserts from updates in one pass.
constexpr Sql kUpsertPoisFromStage{
    "upsert_pois",
    "WITH up AS (INSERT INTO pois (source_id, category, subtype, name, lat, lng) "
    "SELECT source_id, category, subtype, name, lat, lng FROM nbi_poi_stage ORDER BY ord "
    "ON CONFLICT (source_id) DO UPDATE SET category = EXCLUDED.category, "
    "subtype = EXCLUDED.subtype, name = EXCLUDED.name, lat = EXCLUDED.lat, lng = EXCLUDED.lng "
    "RETURNING (xmax = 0) AS inserted) "
    "SELECT count(*) FILTER (WHERE inserted) FROM up"};
constexpr Sql kLoadPois{"load_pois",
                        "SELECT source_id, category, subtype, name, lat, lng FROM pois "
                        "WHERE lat >= $1::float8 AND lat <= $2::float8 "
                        "AND lng >= $3::float8 AND lng <= $4::float8 ORDER BY id LIMIT $5::bigint"};
constexpr Sql kCountPois{"count_pois", "SELECT category, count(*) FROM pois GROUP BY category"};

// ---- queue
constexpr Sql kSelectJob{"select_job",
                         "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE id = $1::bigint"};
constexpr Sql kJobStatusSql{"job_status", "SELECT status FROM jobs WHERE id = $1::bigint"};
// The NOTIFY rides in the same statement (and so the same transaction) as the insert: it is
// delivered exactly when the new job becomes visible, and only for a new job.
constexpr Sql kEnqueue{
    "enqueue",
    "WITH ins AS (INSERT INTO jobs (type, status, city_id, progress, total_items, metadata, "
    "created_at, attempts, max_attempts, priority, run_at_ms, dedupe_key) "
    "VALUES ('heatmap_compute', 'pending', $1::int, 0, $2::int, $3::jsonb, " NBI_TS("$4")
    ", 0, $5::int, $6::int, $4::bigint, $7::text) "
    "ON CONFLICT (dedupe_key) WHERE status IN " NBI_ACTIVE " DO NOTHING "
    "RETURNING " NBI_JOB_COLUMNS ") "
    "SELECT ins.*, pg_notify('nearbyindex_jobs', '') FROM ins"};
constexpr Sql kActiveByKey{"active_by_key",
                           "SELECT " NBI_JOB_COLUMNS
                           " FROM jobs WHERE dedupe_key = $1::text AND status IN " NBI_ACTIVE};
// SKIP LOCKED: concurrent claimers pass over each other's candidate instead of queueing on
// it. The subquery's row lock (re-checked against the newest row version) is what makes the
// claim exclusive; the outer WHERE is a bare primary-key lookup on purpose, since adding
// "status = 'pending'" there lets the planner scan the whole partial claim index for the id.
constexpr Sql kClaim{
    "claim",
    "UPDATE jobs SET status = 'running', locked_by = $1::text, attempts = attempts + 1, "
    "heartbeat_at_ms = $2::bigint, started_at = COALESCE(started_at, " NBI_TS("$2") ") "
    "WHERE id = (SELECT id FROM jobs WHERE status = 'pending' "
    "AND run_at_ms <= $2::bigint ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
    "RETURNING " NBI_JOB_COLUMNS};
// The batched form of kClaim: up to $3 jobs in one statement.
constexpr Sql kClaimBatch{
    "claim_batch",
    "UPDATE jobs SET status = 'running', locked_by = $1::text, attempts = attempts + 1, "
    "heartbeat_at_ms = $2::bigint, started_at = COALESCE(started_at, " NBI_TS("$2") ") "
    "WHERE id = ANY(ARRAY(SELECT id FROM jobs WHERE status = 'pending' "
    "AND run_at_ms <= $2::bigint ORDER BY priority DESC, id LIMIT $3::int FOR UPDATE SKIP LOCKED)) "
    "RETURNING " NBI_JOB_COLUMNS};
// $1 = '{1,2,3}' (a bigint[] literal).
constexpr Sql kCompleteBatch{
    "complete_batch",
    "UPDATE jobs SET status = 'completed', progress = 100, locked_by = NULL, error = NULL, "
    "heartbeat_at_ms = $3::bigint, completed_at = " NBI_TS("$3") " WHERE id = ANY($1::bigint[]) "
    "AND status = 'running' AND locked_by = $2::text"};
constexpr Sql kHeartbeat{"heartbeat",
                         "UPDATE jobs SET heartbeat_at_ms = $3::bigint WHERE " NBI_OWNED
                         " RETURNING cancel_requested"};
// $3 = begin + count, the new lastProcessedIndex.
constexpr Sql kCheckpointJob{
    "checkpoint_job",
    "UPDATE jobs SET heartbeat_at_ms = $4::bigint, "
    "progress = CASE WHEN total_items > 0 THEN LEAST(100, (100 * $3::bigint) / total_items) "
    "ELSE 100 END, "
    "metadata = jsonb_set(CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata "
    "ELSE '{}'::jsonb END, '{lastProcessedIndex}', to_jsonb($3::bigint)) "
    "WHERE " NBI_OWNED " RETURNING cancel_requested"};
constexpr Sql kComplete{"complete",
                        "UPDATE jobs SET status = 'completed', progress = 100, locked_by = NULL, "
                        "error = NULL, heartbeat_at_ms = $3::bigint, "
                        "completed_at = " NBI_TS("$3") " WHERE " NBI_OWNED " RETURNING id"};
constexpr Sql kLockOwnedJob{
    "lock_owned_job", "SELECT attempts, max_attempts FROM jobs WHERE " NBI_OWNED " FOR UPDATE"};
// $3: retry later (pending at $5) or fail for good (failed at $6).
constexpr Sql kFail{
    "fail",
    "UPDATE jobs SET status = CASE WHEN $3::boolean THEN 'pending' ELSE 'failed' END, "
    "locked_by = NULL, error = $4::text, "
    "run_at_ms = CASE WHEN $3::boolean THEN $5::bigint ELSE run_at_ms END, "
    "completed_at = CASE WHEN $3::boolean THEN completed_at ELSE " NBI_TS("$6") " END "
    "WHERE " NBI_OWNED " RETURNING " NBI_JOB_COLUMNS};
// A hand-back is not a failed attempt: the claim's attempts + 1 is undone.
constexpr Sql kRelease{
    "release",
    "UPDATE jobs SET status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'pending' END, "
    "completed_at = CASE WHEN cancel_requested THEN " NBI_TS("$3") " ELSE completed_at END, "
    "attempts = CASE WHEN cancel_requested THEN attempts ELSE GREATEST(attempts - 1, 0) END, "
    "locked_by = NULL, run_at_ms = $3::bigint WHERE " NBI_OWNED " RETURNING " NBI_JOB_COLUMNS};
constexpr Sql kCancel{
    "cancel",
    "UPDATE jobs SET status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END, "
    "completed_at = CASE WHEN status = 'pending' THEN " NBI_TS("$2") " ELSE completed_at END, "
    "cancel_requested = cancel_requested OR status = 'running' "
    "WHERE id = $1::bigint AND status IN " NBI_ACTIVE " RETURNING " NBI_JOB_COLUMNS};
constexpr Sql kRetry{
    "retry",
    "UPDATE jobs SET status = 'pending', attempts = 0, error = NULL, cancel_requested = false, "
    "completed_at = NULL, locked_by = NULL, run_at_ms = $2::bigint "
    "WHERE id = $1::bigint AND status IN ('failed', 'cancelled') RETURNING " NBI_JOB_COLUMNS};
// A running job that never heartbeated (e.g. one the seed app left behind) counts as stale.
// A rescued job whose cancel was requested ends cancelled; any other goes back to pending
// and resumes from its checkpoint, however often its worker died (kill -9 must not fail it).
constexpr Sql kRescueStale{
    "rescue_stale",
    "UPDATE jobs SET status = CASE WHEN cancel_requested THEN 'cancelled' "
    "ELSE 'pending' END, "
    "completed_at = CASE WHEN cancel_requested THEN " NBI_TS("$1")
    " ELSE completed_at END, locked_by = NULL, "
    "run_at_ms = $1::bigint WHERE status = 'running' "
    "AND (heartbeat_at_ms IS NULL OR heartbeat_at_ms < $2::bigint)"};
constexpr Sql kResetRunning{"reset_running",
                            "UPDATE jobs SET status = 'pending', started_at = NULL, "
                            "locked_by = NULL, run_at_ms = $1::bigint WHERE status = 'running'"};
constexpr Sql kPruneFinished{"prune_finished", "DELETE FROM jobs WHERE status IN " NBI_FINISHED
                                               " AND completed_at < " NBI_TS("$1")};
constexpr Sql kListJobs{"list_jobs", "SELECT " NBI_JOB_COLUMNS
                                     " FROM jobs WHERE id < $1::bigint "
                                     "ORDER BY id DESC LIMIT $2::bigint"};
constexpr Sql kListJobsByStatus{"list_jobs_by_status",
                                "SELECT " NBI_JOB_COLUMNS
                                " FROM jobs WHERE id < $1::bigint "
                                "AND status = $3::text ORDER BY id DESC LIMIT $2::bigint"};
constexpr Sql kCountJobs{"count_jobs", "SELECT status, count(*) FROM jobs GROUP BY status"};
// jsonb comparisons rather than casts: a job whose metadata lacks bounds, or holds something
// odd there, simply does not match instead of failing the query.
constexpr Sql kFindCovering{
    "find_covering",
    "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE status IN " NBI_ACTIVE
    " AND type = 'heatmap_compute' "
    "AND metadata #> '{bounds,minLat}' <= to_jsonb($1::float8) "
    "AND metadata #> '{bounds,maxLat}' > to_jsonb($1::float8) "
    "AND metadata #> '{bounds,minLng}' <= to_jsonb($2::float8) "
    "AND metadata #> '{bounds,maxLng}' > to_jsonb($2::float8) ORDER BY id LIMIT 1"};
constexpr Sql kResetAreaCells{"reset_area_cells",
                              "DELETE FROM heat_cells WHERE grid_step = $1::real "
                              "AND lat BETWEEN $2::real AND $3::real "
                              "AND lng BETWEEN $4::real AND $5::real"};
constexpr Sql kResetAreaJobs{"reset_area_jobs",
                             "DELETE FROM jobs WHERE status IN " NBI_FINISHED
                             " AND metadata #> '{bounds,minLat}' = to_jsonb($1::float8) "
                             "AND metadata #> '{bounds,minLng}' = to_jsonb($2::float8) "
                             "AND metadata #> '{bounds,maxLat}' = to_jsonb($3::float8) "
                             "AND metadata #> '{bounds,maxLng}' = to_jsonb($4::float8)"};

// ---- cells
constexpr Sql kQueryCells{"query_cells",
                          "SELECT lat, lng, score FROM heat_cells "
                          "WHERE lat BETWEEN $1::real AND $2::real "
                          "AND lng BETWEEN $3::real AND $4::real AND grid_step = $5::real "
                          "AND score >= $6::int ORDER BY lat, lng LIMIT $7::bigint"};
constexpr Sql kCountCells{"count_cells", "SELECT count(*) FROM heat_cells"};
constexpr Sql kCountCellsOfStep{"count_cells_step",
                                "SELECT count(*) FROM heat_cells WHERE grid_step = $1::real"};
constexpr Sql kHasCoverage{"has_coverage",
                           "SELECT EXISTS (SELECT 1 FROM heat_cells "
                           "WHERE lat BETWEEN $1::real AND $2::real "
                           "AND lng BETWEEN $3::real AND $4::real AND grid_step = $5::real)"};
// A chunk is a run of row-major cells: a partial first row, whole middle rows, a partial
// last row. Each part is one index range scan; an empty part has lo > hi.
constexpr Sql kDeleteChunkCells{
    "delete_chunk_cells",
    "DELETE FROM heat_cells WHERE grid_step = $1::real AND ("
    "(lat BETWEEN $2::real AND $3::real AND lng BETWEEN $4::real AND $5::real) OR "
    "(lat BETWEEN $6::real AND $7::real AND lng BETWEEN $8::real AND $9::real) OR "
    "(lat BETWEEN $10::real AND $11::real AND lng BETWEEN $12::real AND $13::real))"};
constexpr const char* kCopyCells =
    "COPY heat_cells (lat, lng, score, grid_step, city_id, computed_at) FROM STDIN "
    "(FORMAT binary)";
constexpr const char* kCreateCellStage =
    "CREATE TEMP TABLE IF NOT EXISTS nbi_cell_stage (lat real, lng real, score integer, "
    "grid_step real, city_id integer, computed_at timestamp) ON COMMIT DELETE ROWS";
constexpr const char* kCopyCellStage =
    "COPY nbi_cell_stage (lat, lng, score, grid_step, city_id, computed_at) FROM STDIN "
    "(FORMAT binary)";
constexpr Sql kUpsertCellsFromStage{
    "upsert_cells",
    "INSERT INTO heat_cells (lat, lng, score, grid_step, city_id, computed_at) "
    "SELECT lat, lng, score, grid_step, city_id, computed_at FROM nbi_cell_stage "
    "ON CONFLICT (lat, lng, grid_step) DO UPDATE SET score = EXCLUDED.score, "
    "city_id = EXCLUDED.city_id, computed_at = EXCLUDED.computed_at"};

// ------------------------------------------------------------------ libpq helpers

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// Parameters of one statement, in text format.
class Params {
 public:
  Params& Int(int64_t v) { return Add(std::to_string(v)); }
  Params& OptInt(std::optional<int64_t> v) { return v ? Int(*v) : Null(); }
  Params& Double(double v) { return Shortest(v); }
  // A float4 value sent as its own shortest text, so the server's ::real is exactly `v`.
  Params& Float(float v) { return Shortest(v); }
  Params& Bool(bool v) { return Add(v ? "t" : "f"); }
  Params& Text(std::string_view v) { return Add(std::string(v)); }
  Params& Null() {
    values_.emplace_back();
    return *this;
  }

  int size() const { return static_cast<int>(values_.size()); }
  const char* const* pointers() const {
    ptrs_.clear();
    for (const auto& v : values_) ptrs_.push_back(v ? v->c_str() : nullptr);
    return ptrs_.data();
  }

 private:
  Params& Add(std::string v) {
    values_.emplace_back(std::move(v));
    return *this;
  }
  template <typename T>
  Params& Shortest(T v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return Add(std::string(buf, r.ptr));
  }

  std::vector<std::optional<std::string>> values_;
  mutable std::vector<const char*> ptrs_;
};

// A successful result, read in text format.
class Rows {
 public:
  explicit Rows(PgResultPtr r) : r_(std::move(r)) {}

  int size() const { return PQntuples(r_.get()); }
  // Rows an INSERT/UPDATE/DELETE touched.
  int64_t affected() const { return ParseInt(PQcmdTuples(r_.get())); }
  std::string_view command_tag() const { return PQcmdStatus(r_.get()); }

  bool null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string_view text(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col), static_cast<size_t>(PQgetlength(r_.get(), row, col))};
  }
  std::string str(int row, int col) const { return std::string(text(row, col)); }
  int64_t i64(int row, int col) const { return ParseInt(text(row, col)); }
  double f64(int row, int col) const {
    std::string_view t = text(row, col);
    double v = 0;
    std::from_chars(t.data(), t.data() + t.size(), v);
    return v;
  }
  float f32(int row, int col) const {
    std::string_view t = text(row, col);
    float v = 0;
    std::from_chars(t.data(), t.data() + t.size(), v);
    return v;
  }
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  std::optional<int64_t> opt_i64(int row, int col) const {
    return null(row, col) ? std::nullopt : std::optional<int64_t>(i64(row, col));
  }
  std::optional<std::string> opt_str(int row, int col) const {
    return null(row, col) ? std::nullopt : std::optional<std::string>(str(row, col));
  }

 private:
  static int64_t ParseInt(std::string_view t) {
    int64_t v = 0;
    std::from_chars(t.data(), t.data() + t.size(), v);
    return v;
  }

  PgResultPtr r_;
};

// PostgreSQL's binary COPY format: a fixed header; per row a 16-bit field count, then per
// field a 32-bit byte length (-1 for NULL) and the value in network byte order; -1 ends it.
class BinaryCopy {
 public:
  void Header() {
    static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with its NUL
    buf_.append(kSignature, sizeof kSignature);
    Put32(0);  // flags
    Put32(0);  // header extension length
  }
  void Trailer() { Put16(0xFFFF); }
  void Row(uint16_t fields) { Put16(fields); }
  void Int4(int32_t v) {
    Put32(4);
    Put32(static_cast<uint32_t>(v));
  }
  void Int8(int64_t v) {
    Put32(8);
    Put64(static_cast<uint64_t>(v));
  }
  void Float4(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    Put32(4);
    Put32(bits);
  }
  void Float8(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    Put32(8);
    Put64(bits);
  }
  void Text(std::string_view s) {
    Put32(static_cast<uint32_t>(s.size()));
    buf_.append(s);
  }
  void Null() { Put32(0xFFFFFFFF); }

  std::string& data() { return buf_; }
  void Reserve(size_t n) { buf_.reserve(n); }

 private:
  void Put16(uint16_t v) {
    v = htobe16(v);
    buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void Put32(uint32_t v) {
    v = htobe32(v);
    buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void Put64(uint64_t v) {
    v = htobe64(v);
    buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }

  std::string buf_;
};

// Binary timestamps count microseconds from 2000-01-01 00:00:00.
constexpr int64_t kPgEpochUnixMs = 946'684'800'000;

// Appends cells [begin, begin+count) of `region` in heat_cells' COPY column order. Stored
// coordinates are the floats of the grid coordinates, computed from integer indices exactly
// as GridRegion::CellAt does.
void EncodeCells(const GridRegion& region, int64_t begin, const uint8_t* scores, int64_t count,
                 std::optional<int32_t> city_id, int64_t now_ms, BinaryCopy* out) {
  const float step = static_cast<float>(region.step());
  const int64_t computed_at_us = (now_ms - kPgEpochUnixMs) * 1000;
  const int64_t cols = region.cols();
  int64_t row = begin / cols, col = begin % cols;
  float lat = static_cast<float>(region.LatOfRow(region.first_row() + row));
  for (int64_t k = 0; k < count; ++k) {
    out->Row(6);
    out->Float4(lat);
    out->Float4(static_cast<float>(region.LngOfCol(region.first_col() + col)));
    out->Int4(scores[k]);
    out->Float4(step);
    if (city_id) {
      out->Int4(*city_id);
    } else {
      out->Null();
    }
    out->Int8(computed_at_us);
    if (++col == cols) {
      col = 0;
      ++row;
      lat = static_cast<float>(region.LatOfRow(region.first_row() + row));
    }
  }
}

// Maps a libpq failure onto the store's error categories (store.h). Sets *broken when the
// connection itself is gone: no SQLSTATE at all (libpq's own "server closed the connection
// unexpectedly"), class 08, or the server shutting the session down (57P01..57P03).
Status PgFailure(PGconn* pg, const PGresult* r, std::string_view what, bool* broken) {
  const char* state_c = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string_view state = state_c ? state_c : "";
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : nullptr;
  std::string msg = primary ? primary : PQerrorMessage(pg);
  if (detail) msg += fmt::format(" ({})", detail);
  // libpq's own messages span lines (with tabs); keep log lines single.
  std::string flat;
  for (char ch : msg) {
    if (std::isspace(static_cast<unsigned char>(ch))) {
      if (!flat.empty() && flat.back() != ' ') flat += ' ';
    } else {
      flat += ch;
    }
  }
  msg = flat;
  while (!msg.empty() && msg.back() == ' ') msg.pop_back();
  std::string text = fmt::format("postgres {}: {}", what, msg);
  if (state.empty() || PQstatus(pg) == CONNECTION_BAD || state.substr(0, 2) == "08" ||
      state == "57P01" || state == "57P02" || state == "57P03") {
    *broken = true;
    return Status::Transient(text);
  }
  if (state == "40001" || state == "40P01") return Status::Transient(text);
  if (state == "23505") return Status::Conflict(text);
  // Data exceptions (bad encoding, out-of-range numbers) and rejected references are input
  // errors, not bugs.
  if (state.substr(0, 2) == "22" || state == "23502" || state == "23503" || state == "23514") {
    return Status::Invalid(text);
  }
  return Status::Internal(text);
}

void IgnoreNotice(void*, const char*) {}

Job ReadJob(const Rows& r, int row) {
  Job j;
  j.id = r.i64(row, 0);
  j.type = r.str(row, 1);
  // The seed app's databases hold only the statuses we know; anything else is not runnable.
  j.status = ParseJobStatus(r.text(row, 2)).value_or(JobStatus::kFailed);
  j.city_id = r.opt_i64(row, 3);
  j.progress = r.null(row, 4) ? 0 : static_cast<int>(r.i64(row, 4));
  j.total_items = r.null(row, 5) ? 0 : r.i64(row, 5);
  j.error = r.opt_str(row, 6);
  if (!r.null(row, 7)) {
    j.metadata = nlohmann::json::parse(r.text(row, 7), nullptr, /*allow_exceptions=*/false);
  }
  if (j.metadata.is_discarded() || !j.metadata.is_object()) {
    j.metadata = nlohmann::json::object();
  }
  j.created_at_ms = r.opt_i64(row, 8).value_or(0);
  j.started_at_ms = r.opt_i64(row, 9);
  j.completed_at_ms = r.opt_i64(row, 10);
  j.attempts = static_cast<int>(r.i64(row, 11));
  j.max_attempts = static_cast<int>(r.i64(row, 12));
  j.priority = static_cast<int>(r.i64(row, 13));
  j.run_at_ms = r.i64(row, 14);
  j.heartbeat_at_ms = r.opt_i64(row, 15);
  j.locked_by = r.opt_str(row, 16);
  j.cancel_requested = r.boolean(row, 17);
  return j;
}

City ReadCity(const Rows& r, int row) {
  return City{r.i64(row, 0), r.str(row, 1), r.str(row, 2), r.str(row, 3),
              BBox{r.f64(row, 4), r.f64(row, 5), r.f64(row, 6), r.f64(row, 7)}};
}

Status NotOwner(int64_t job_id, const std::string& worker_id) {
  return Status::Conflict(fmt::format("job {} is not running under {}", job_id, worker_id));
}

// Inclusive float ranges of one rectangle of cells; empty when lat_lo > lat_hi.
struct CellRect {
  float lat_lo = 1, lat_hi = 0, lng_lo = 1, lng_hi = 0;
};

// Cells [begin, end) of `g` as at most three rectangles (see kDeleteChunkCells).
std::array<CellRect, 3> ChunkRects(const GridRegion& g, int64_t begin, int64_t end) {
  auto lat = [&](int64_t r) { return static_cast<float>(g.LatOfRow(g.first_row() + r)); };
  auto lng = [&](int64_t c) { return static_cast<float>(g.LngOfCol(g.first_col() + c)); };
  const int64_t cols = g.cols();
  const int64_t r0 = begin / cols, c0 = begin % cols;
  const int64_t r1 = (end - 1) / cols, c1 = (end - 1) % cols;
  std::array<CellRect, 3> rects;
  if (r0 == r1) {
    rects[0] = {lat(r0), lat(r0), lng(c0), lng(c1)};
    return rects;
  }
  rects[0] = {lat(r0), lat(r0), lng(c0), lng(cols - 1)};
  if (r1 - r0 > 1) rects[1] = {lat(r0 + 1), lat(r1 - 1), lng(0), lng(cols - 1)};
  rects[2] = {lat(r1), lat(r1), lng(0), lng(c1)};
  return rects;
}

}  // namespace

// ------------------------------------------------------------------ connection

// One libpq connection and the statements prepared on it. Used by one thread at a time (the
// pool hands it out); `broken` marks a connection that must not go back to the pool.
class PgStore::Conn {
 public:
  explicit Conn(PGconn* pg) : pg_(pg) {}
  ~Conn() { PQfinish(pg_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  static Result<std::unique_ptr<Conn>> Connect(const std::string& conninfo) {
    // Earlier keywords are defaults the URL may override; the application name is only a
    // fallback so that PGAPPNAME or the URL still win.
    const char* const keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
    const char* const values[] = {"10", "nearbyindex", conninfo.c_str(), nullptr};
    PGconn* pg = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (PQstatus(pg) != CONNECTION_OK) {
      std::string msg = pg ? PQerrorMessage(pg) : "out of memory";
      while (!msg.empty() && msg.back() == '\n') msg.pop_back();
      PQfinish(pg);
      return Status::Transient("cannot connect to PostgreSQL: " + msg);
    }
    // CREATE ... IF NOT EXISTS reports "already exists" as a NOTICE; libpq would print it.
    PQsetNoticeProcessor(pg, IgnoreNotice, nullptr);
    return std::make_unique<Conn>(pg);
  }

  // Runs `sql` with `params`; prepares it first on this connection if it is named.
  Result<Rows> Exec(const Sql& sql, const Params& params = Params()) {
    PgResultPtr r;
    if (sql.name) {
      if (!prepared_.contains(sql.name)) {
        PgResultPtr p(PQprepare(pg_, sql.name, sql.text, 0, nullptr));
        if (PQresultStatus(p.get()) != PGRES_COMMAND_OK) return Fail(p.get(), sql.name);
        prepared_.insert(sql.name);
      }
      r.reset(PQexecPrepared(pg_, sql.name, params.size(), params.pointers(), nullptr, nullptr, 0));
    } else {
      r.reset(PQexecParams(pg_, sql.text, params.size(), nullptr, params.pointers(), nullptr,
                           nullptr, 0));
    }
    return Check(std::move(r), sql.name ? sql.name : "statement");
  }

  // Runs constant SQL without parameters (may hold several statements).
  Result<Rows> Exec(const char* sql, std::string_view what = "exec") {
    return Check(PgResultPtr(PQexec(pg_, sql)), what);
  }

  // COPY ... FROM STDIN with `data`, a complete binary COPY stream (or a part of one, when
  // fed through CopyStart / CopyPut / CopyFinish).
  Status CopyIn(const char* copy_sql, std::string_view data) {
    NBI_RETURN_IF_ERROR(CopyStart(copy_sql));
    NBI_RETURN_IF_ERROR(CopyPut(data));
    return CopyFinish();
  }
  Status CopyStart(const char* copy_sql) {
    PgResultPtr r(PQexec(pg_, copy_sql));
    if (PQresultStatus(r.get()) != PGRES_COPY_IN) return Fail(r.get(), "copy");
    return Status::Ok();
  }
  Status CopyPut(std::string_view data) {
    // libpq takes an int length; feed large streams in slices.
    constexpr size_t kSlice = size_t{1} << 20;
    for (size_t off = 0; off < data.size(); off += kSlice) {
      size_t n = std::min(kSlice, data.size() - off);
      if (PQputCopyData(pg_, data.data() + off, static_cast<int>(n)) != 1) {
        return Fail(nullptr, "copy");
      }
    }
    return Status::Ok();
  }
  Status CopyFinish() {
    if (PQputCopyEnd(pg_, nullptr) != 1) return Fail(nullptr, "copy");
    PgResultPtr r(PQgetResult(pg_));
    Status st = PQresultStatus(r.get()) == PGRES_COMMAND_OK ? Status::Ok() : Fail(r.get(), "copy");
    // Drain to the end of the command so the connection is usable again.
    while (PGresult* more = PQgetResult(pg_)) PQclear(more);
    return st;
  }

  // The session's staging tables: created once per connection, outside any transaction
  // (a temp table created in a transaction that rolls back would vanish behind our back).
  Status EnsureTempTable(bool* ready, const char* create_sql) {
    if (*ready) return Status::Ok();
    auto r = Exec(create_sql);
    if (!r.ok()) return r.status();
    *ready = true;
    return Status::Ok();
  }

  bool idle() const { return PQtransactionStatus(pg_) == PQTRANS_IDLE; }

  bool broken = false;
  bool cell_stage_ready = false;
  bool poi_stage_ready = false;

 private:
  Result<Rows> Check(PgResultPtr r, std::string_view what) {
    ExecStatusType st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Fail(r.get(), what);
    return Rows(std::move(r));
  }
  Status Fail(const PGresult* r, std::string_view what) { return PgFailure(pg_, r, what, &broken); }

  PGconn* const pg_;
  std::unordered_set<const char*> prepared_;  // statement names (Sql::name pointers)
};

// A pooled connection, handed back when the lease dies.
class PgStore::Lease {
 public:
  Lease(PgStore* store, std::unique_ptr<Conn> c) : store_(store), c_(std::move(c)) {}
  Lease(Lease&&) = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (c_) store_->Return(std::move(c_));
  }
  Conn& operator*() { return *c_; }
  Conn* operator->() { return c_.get(); }

 private:
  PgStore* store_;
  std::unique_ptr<Conn> c_;
};

// BEGIN ... COMMIT; rolls back on destruction unless committed.
class PgStore::Txn {
 public:
  explicit Txn(Conn& c) : c_(c) {}
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() {
    if (open_) {
      // A failed ROLLBACK means the connection is gone; Exec has marked it broken.
      (void)c_.Exec("ROLLBACK", "rollback");
    }
  }
  Status Begin() {
    auto r = c_.Exec("BEGIN", "begin");
    if (!r.ok()) return r.status();
    open_ = true;
    return Status::Ok();
  }
  Status Commit() {
    open_ = false;
    auto r = c_.Exec("COMMIT", "commit");
    if (!r.ok()) return r.status();
    // The server answers COMMIT of an aborted transaction with a successful "ROLLBACK".
    if (r->command_tag() != "COMMIT") return Status::Internal("postgres commit: rolled back");
    return Status::Ok();
  }

 private:
  Conn& c_;
  bool open_ = false;
};

// ------------------------------------------------------------------ pool

namespace {
// Idle connections kept; more may be open while many threads are inside the store at once.
constexpr size_t kMaxIdleConnections = 8;
}  // namespace

PgStore::PgStore(std::string conninfo, Clock* clock)
    : conninfo_(std::move(conninfo)), clock_(clock) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo_.c_str(), &err);
  if (!opts) {
    std::string msg = err ? err : "cannot parse";
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    conninfo_error_ = fmt::format("DATABASE_URL is not a valid PostgreSQL URL: {}", msg);
  }
  PQconninfoFree(opts);
  PQfreemem(err);
}

PgStore::~PgStore() = default;

std::string PgStore::Describe() const {
  PQconninfoOption* opts = PQconninfoParse(conninfo_.c_str(), nullptr);
  if (!opts) return "postgresql://(invalid)";
  std::unordered_map<std::string_view, std::string> v;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (o->val) v[o->keyword] = o->val;
  }
  PQconninfoFree(opts);
  std::string out = "postgresql://";
  if (!v["user"].empty()) out += v["user"] + "@";
  out += v["host"].empty() ? v["hostaddr"] : v["host"];
  if (!v["port"].empty()) out += ":" + v["port"];
  return out + "/" + v["dbname"];
}

Result<PgStore::Lease> PgStore::Acquire() {
  if (!conninfo_error_.empty()) return Status::Invalid(conninfo_error_);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Conn> c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
  }
  auto c = Conn::Connect(conninfo_);
  if (!c.ok()) return c.status();
  return Lease(this, std::move(c).value());
}

void PgStore::Return(std::unique_ptr<Conn> c) {
  std::lock_guard<std::mutex> l(mu_);
  if (c->broken) {
    // A lost connection usually means a restarted server: the idle ones are dead too, and
    // the caller's retry should get a fresh connection rather than the next corpse.
    idle_.clear();
    return;
  }
  if (c->idle() && idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(c));
}

template <typename T, typename F>
Result<T> PgStore::WithConn(F&& fn) {
  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  return fn(**lease);
}

template <typename T, typename F>
Result<T> PgStore::InTransaction(F&& fn) {
  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  Conn& c = **lease;
  Txn txn(c);
  NBI_RETURN_IF_ERROR(txn.Begin());
  Result<T> r = fn(c);
  if (!r.ok()) return r;
  NBI_RETURN_IF_ERROR(Commit(txn));
  return r;
}

Status PgStore::Commit(Txn& txn) {
  if (InjectCommitFault()) return Status::Transient("injected commit fault");
  return txn.Commit();
}

Status PgStore::SingleStatementFault() const {
  // A single-statement write commits by itself; failing it before it runs leaves exactly
  // what a failed COMMIT would: nothing.
  if (InjectCommitFault()) return Status::Transient("injected commit fault");
  return Status::Ok();
}

// ------------------------------------------------------------------ schema

Status PgStore::Migrate() {
  for (;;) {
    // One transaction per migration: a crash leaves the database at a whole version.
    auto applied = InTransaction<bool>([&](Conn& c) -> Result<bool> {
      auto lock = c.Exec(kLockMigrations, Params().Int(kMigrationLockKey));
      if (!lock.ok()) return lock.status();
      auto t = c.Exec(kCreateMigrationsTable);
      if (!t.ok()) return t.status();
      auto have = c.Exec(kSchemaVersionSql);
      if (!have.ok()) return have.status();
      const int v = static_cast<int>(have->i64(0, 0));
      if (v > kSchemaVersion) {
        return Status::Invalid(fmt::format(
            "database schema version {} is newer than this program's {}: upgrade nearbyindex", v,
            kSchemaVersion));
      }
      if (v == kSchemaVersion) return false;
      const int next = v + 1;
      auto m = c.Exec(kMigrations[next - 1]);
      if (!m.ok()) return m.status().WithPrefix(fmt::format("migration {}: ", next));
      if (next == 2) {
        for (const City& city : PresetCities()) {
          auto p = c.Exec(kInsertPresetCity, Params()
                                                 .Text(city.slug)
                                                 .Text(city.name)
                                                 .Text(city.country)
                                                 .Double(city.bounds.min_lat)
                                                 .Double(city.bounds.min_lng)
                                                 .Double(city.bounds.max_lat)
                                                 .Double(city.bounds.max_lng));
          if (!p.ok()) return p.status();
        }
      }
      auto rec = c.Exec(kRecordMigration, Params().Int(next).Int(clock_->NowMs()));
      if (!rec.ok()) return rec.status();
      return true;
    });
    if (!applied.ok()) return applied.status();
    if (!*applied) return Status::Ok();
  }
}

Result<int> PgStore::SchemaVersion() {
  return WithConn<int>([&](Conn& c) -> Result<int> {
    auto r = c.Exec(kSchemaVersionSql);
    if (!r.ok()) return r.status();
    return static_cast<int>(r->i64(0, 0));
  });
}

Status PgStore::Ping() {
  auto v = SchemaVersion();
  if (!v.ok()) return v.status();
  if (*v != kSchemaVersion) {
    return Status::Internal(fmt::format("schema version {} != {}", *v, kSchemaVersion));
  }
  return Status::Ok();
}

// ------------------------------------------------------------------ cities

Result<City> PgStore::UpsertCity(const City& city) {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  return WithConn<City>([&](Conn& c) -> Result<City> {
    auto r = c.Exec(kUpsertCity, Params()
                                     .Text(city.slug)
                                     .Text(city.name)
                                     .Text(city.country)
                                     .Double(city.bounds.min_lat)
                                     .Double(city.bounds.min_lng)
                                     .Double(city.bounds.max_lat)
                                     .Double(city.bounds.max_lng));
    if (!r.ok()) return r.status();
    return ReadCity(*r, 0);
  });
}

Result<std::vector<City>> PgStore::ListCities() {
  return WithConn<std::vector<City>>([&](Conn& c) -> Result<std::vector<City>> {
    auto r = c.Exec(kListCities);
    if (!r.ok()) return r.status();
    std::vector<City> out;
    for (int i = 0; i < r->size(); ++i) out.push_back(ReadCity(*r, i));
    return out;
  });
}

Result<City> PgStore::GetCity(const std::string& slug) {
  return WithConn<City>([&](Conn& c) -> Result<City> {
    auto r = c.Exec(kGetCity, Params().Text(slug));
    if (!r.ok()) return r.status();
    if (r->size() == 0) return Status::NotFound(fmt::format("unknown city '{}'", slug));
    return ReadCity(*r, 0);
  });
}

// ------------------------------------------------------------------ POIs

Result<PoiImportSummary> PgStore::UpsertPois(const std::vector<Poi>& pois) {
  // One upsert statement may not touch a row twice, so a source_id repeated in the input
  // is folded here: it keeps its first position and its last values, which is what
  // upserting the rows one by one would leave behind.
  std::unordered_map<std::string_view, size_t> slot_of;
  std::vector<const Poi*> rows;
  rows.reserve(pois.size());
  for (const Poi& p : pois) {
    if (!std::isfinite(p.lat) || !std::isfinite(p.lng)) {
      return Status::Invalid(fmt::format("POI {} has a non-finite position", p.source_id));
    }
    auto [it, fresh] = slot_of.try_emplace(p.source_id, rows.size());
    if (fresh) {
      rows.push_back(&p);
    } else {
      rows[it->second] = &p;
    }
  }
  if (rows.empty()) return PoiImportSummary{};

  BinaryCopy copy;
  copy.Reserve(rows.size() * 96);
  copy.Header();
  for (size_t i = 0; i < rows.size(); ++i) {
    const Poi& p = *rows[i];
    copy.Row(7);
    copy.Int8(static_cast<int64_t>(i));
    copy.Text(p.source_id);
    copy.Text(CategoryId(p.category));
    if (p.sub == HealthSub::kNone) {
      copy.Null();
    } else {
      copy.Text(HealthSubId(p.sub));
    }
    copy.Text(p.name);
    copy.Float8(p.lat);
    copy.Float8(p.lng);
  }
  copy.Trailer();

  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  Conn& c = **lease;
  NBI_RETURN_IF_ERROR(c.EnsureTempTable(&c.poi_stage_ready, kCreatePoiStage));
  Txn txn(c);
  NBI_RETURN_IF_ERROR(txn.Begin());
  NBI_RETURN_IF_ERROR(c.CopyIn(kCopyPoiStage, copy.data()));
  auto up = c.Exec(kUpsertPoisFromStage);
  if (!up.ok()) return up.status();
  NBI_RETURN_IF_ERROR(Commit(txn));
  PoiImportSummary sum;
  sum.inserted = up->i64(0, 0);
  sum.updated = static_cast<int64_t>(pois.size()) - sum.inserted;
  return sum;
}

Result<std::vector<Poi>> PgStore::LoadPois(const BBox& box, int64_t limit) {
  return WithConn<std::vector<Poi>>([&](Conn& c) -> Result<std::vector<Poi>> {
    auto r =
        c.Exec(kLoadPois, Params()
                              .Double(box.min_lat)
                              .Double(box.max_lat)
                              .Double(box.min_lng)
                              .Double(box.max_lng)
                              .OptInt(limit >= 0 ? std::optional<int64_t>(limit) : std::nullopt));
    if (!r.ok()) return r.status();
    std::vector<Poi> out;
    out.reserve(r->size());
    for (int i = 0; i < r->size(); ++i) {
      auto category = ParseCategory(r->text(i, 1));
      if (!category) continue;  // written by a newer version; not ours to score
      Poi p;
      p.source_id = r->str(i, 0);
      p.category = *category;
      p.sub = ParseHealthSub(r->text(i, 2)).value_or(HealthSub::kNone);
      p.name = r->str(i, 3);
      p.lat = r->f64(i, 4);
      p.lng = r->f64(i, 5);
      out.push_back(std::move(p));
    }
    return out;
  });
}

Result<std::vector<std::pair<Category, int64_t>>> PgStore::CountPoisByCategory() {
  using Out = std::vector<std::pair<Category, int64_t>>;
  return WithConn<Out>([&](Conn& c) -> Result<Out> {
    auto r = c.Exec(kCountPois);
    if (!r.ok()) return r.status();
    Out out;
    for (int i = 0; i < r->size(); ++i) {
      if (auto category = ParseCategory(r->text(i, 0))) out.emplace_back(*category, r->i64(i, 1));
    }
    std::sort(out.begin(), out.end());
    return out;
  });
}

// ------------------------------------------------------------------ queue

Result<EnqueueResult> PgStore::EnqueueHeatmap(const HeatmapJobSpec& spec) {
  auto grid = GridRegion::Make(spec.bounds, spec.grid_step);
  if (!grid.ok()) return grid.status();
  if (spec.city_id && (*spec.city_id < 1 || *spec.city_id > std::numeric_limits<int32_t>::max())) {
    return Status::Invalid(fmt::format("unknown city id {}", *spec.city_id));
  }
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  const std::string key = DedupeKey(spec);
  const std::string metadata = HeatmapMetadata(spec).dump();
  return WithConn<EnqueueResult>([&](Conn& c) -> Result<EnqueueResult> {
    // Insert unless an equal job is active, else return that one. The twin may finish
    // between the two statements; then the insert goes through on the next round.
    for (int round = 0; round < 8; ++round) {
      auto ins = c.Exec(kEnqueue, Params()
                                      .OptInt(spec.city_id)
                                      .Int(grid->cell_count())
                                      .Text(metadata)
                                      .Int(now)
                                      .Int(spec.max_attempts)
                                      .Int(spec.priority)
                                      .Text(key));
      if (!ins.ok()) return ins.status();
      if (ins->size() > 0) return EnqueueResult{ReadJob(*ins, 0), true};
      auto twin = c.Exec(kActiveByKey, Params().Text(key));
      if (!twin.ok()) return twin.status();
      if (twin->size() > 0) return EnqueueResult{ReadJob(*twin, 0), false};
    }
    return Status::Transient("enqueue: the equal active job kept changing; try again");
  });
}

Result<std::optional<Job>> PgStore::Claim(const std::string& worker_id) {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  return WithConn<std::optional<Job>>([&](Conn& c) -> Result<std::optional<Job>> {
    auto r = c.Exec(kClaim, Params().Text(worker_id).Int(now));
    if (!r.ok()) return r.status();
    if (r->size() == 0) return std::optional<Job>();
    return std::optional<Job>(ReadJob(*r, 0));
  });
}

Result<std::vector<Job>> PgStore::ClaimBatch(const std::string& worker_id, int max) {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  return WithConn<std::vector<Job>>([&](Conn& c) -> Result<std::vector<Job>> {
    auto r = c.Exec(kClaimBatch, Params().Text(worker_id).Int(now).Int(std::max(1, max)));
    if (!r.ok()) return r.status();
    std::vector<Job> out;
    for (int i = 0; i < r->size(); ++i) out.push_back(ReadJob(*r, i));
    SortInClaimOrder(&out);  // RETURNING gives no order guarantee
    return out;
  });
}

Result<int> PgStore::CompleteBatch(const std::vector<int64_t>& job_ids,
                                   const std::string& worker_id) {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  std::string arr = "{";
  for (size_t i = 0; i < job_ids.size(); ++i) arr += (i ? "," : "") + std::to_string(job_ids[i]);
  arr += "}";
  return WithConn<int>([&](Conn& c) -> Result<int> {
    auto r = c.Exec(kCompleteBatch, Params().Text(arr).Text(worker_id).Int(now));
    if (!r.ok()) return r.status();
    return static_cast<int>(r->affected());
  });
}

Result<bool> PgStore::Heartbeat(int64_t job_id, const std::string& worker_id) {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  return WithConn<bool>([&](Conn& c) -> Result<bool> {
    auto r = c.Exec(kHeartbeat, Params().Int(job_id).Text(worker_id).Int(now));
    if (!r.ok()) return r.status();
    if (r->size() == 0) return NotOwner(job_id, worker_id);
    return r->boolean(0, 0);
  });
}

Result<bool> PgStore::WriteCheckpoint(const Checkpoint& cp) {
  if (!cp.region || cp.begin < 0 || cp.count < 0 || cp.begin + cp.count > cp.region->cell_count() ||
      (cp.count > 0 && !cp.scores)) {
    return Status::Invalid(fmt::format("checkpoint of job {}: cells [{}, {}) outside its region",
                                       cp.job_id, cp.begin, cp.begin + cp.count));
  }
  if (cp.city_id && (*cp.city_id < 1 || *cp.city_id > std::numeric_limits<int32_t>::max())) {
    return Status::Invalid(fmt::format("unknown city id {}", *cp.city_id));
  }
  const int64_t now = clock_->NowMs();
  const int64_t end = cp.begin + cp.count;

  // One COPY stream serves both write paths below (same column layout).
  BinaryCopy copy;
  if (cp.count > 0) {
    copy.Reserve(static_cast<size_t>(cp.count) * 54 + 32);
    copy.Header();
    std::optional<int32_t> city;
    if (cp.city_id) city = static_cast<int32_t>(*cp.city_id);
    EncodeCells(*cp.region, cp.begin, cp.scores, cp.count, city, now, &copy);
    copy.Trailer();
  }

  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  Conn& c = **lease;

  // Fast path: delete whatever this chunk's cells held and COPY straight into heat_cells
  // (a fresh area deletes nothing). Measured at 1.5-2.5x the speed of COPY into a staging
  // table plus INSERT ... ON CONFLICT DO UPDATE, and close to a bare COPY. Only a concurrent
  // writer of the same cells (an overlapping job committing between our DELETE and COPY)
  // makes the COPY hit the unique index; then the whole chunk is redone as that upsert,
  // which tolerates anything.
  for (bool upsert : {false, true}) {
    if (upsert && cp.count > 0) {
      NBI_RETURN_IF_ERROR(c.EnsureTempTable(&c.cell_stage_ready, kCreateCellStage));
    }
    Txn txn(c);
    NBI_RETURN_IF_ERROR(txn.Begin());
    auto job = c.Exec(kCheckpointJob, Params().Int(cp.job_id).Text(cp.worker_id).Int(end).Int(now));
    if (!job.ok()) return job.status();
    if (job->size() == 0) return NotOwner(cp.job_id, cp.worker_id);
    const bool cancel_requested = job->boolean(0, 0);
    if (cp.count > 0 && !upsert) {
      Params del;
      del.Float(static_cast<float>(cp.region->step()));
      for (const CellRect& r : ChunkRects(*cp.region, cp.begin, end)) {
        del.Float(r.lat_lo).Float(r.lat_hi).Float(r.lng_lo).Float(r.lng_hi);
      }
      auto d = c.Exec(kDeleteChunkCells, del);
      if (!d.ok()) return d.status();
      Status st = c.CopyIn(kCopyCells, copy.data());
      if (st.code() == StatusCode::kConflict) continue;  // rolled back; redo as an upsert
      NBI_RETURN_IF_ERROR(st);
    } else if (cp.count > 0) {
      NBI_RETURN_IF_ERROR(c.CopyIn(kCopyCellStage, copy.data()));
      auto up = c.Exec(kUpsertCellsFromStage);
      if (!up.ok()) return up.status();
    }
    NBI_RETURN_IF_ERROR(Commit(txn));
    return cancel_requested;
  }
  return Status::Internal("unreachable");
}

Status PgStore::Complete(int64_t job_id, const std::string& worker_id) {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  auto done = WithConn<bool>([&](Conn& c) -> Result<bool> {
    auto r = c.Exec(kComplete, Params().Int(job_id).Text(worker_id).Int(now));
    if (!r.ok()) return r.status();
    if (r->size() == 0) return NotOwner(job_id, worker_id);
    return true;
  });
  return done.ok() ? Status::Ok() : done.status();
}

Result<Job> PgStore::FailAttempt(int64_t job_id, const std::string& worker_id,
                                 const std::string& error, bool permanent) {
  const int64_t now = clock_->NowMs();
  // The backoff depends on the attempt count, which only the row knows: lock the row, decide
  // here with RetryBackoffMs (shared with the SQLite store), then write.
  return InTransaction<Job>([&](Conn& c) -> Result<Job> {
    auto cur = c.Exec(kLockOwnedJob, Params().Int(job_id).Text(worker_id));
    if (!cur.ok()) return cur.status();
    if (cur->size() == 0) return NotOwner(job_id, worker_id);
    const int attempts = static_cast<int>(cur->i64(0, 0));
    const int max_attempts = static_cast<int>(cur->i64(0, 1));
    const bool retry = !permanent && attempts < max_attempts;
    auto r = c.Exec(kFail, Params()
                               .Int(job_id)
                               .Text(worker_id)
                               .Bool(retry)
                               .Text(error)
                               .Int(now + RetryBackoffMs(attempts))
                               .Int(now));
    if (!r.ok()) return r.status();
    if (r->size() == 0) return NotOwner(job_id, worker_id);
    return ReadJob(*r, 0);
  });
}

Result<Job> PgStore::Release(int64_t job_id, const std::string& worker_id) {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  return WithConn<Job>([&](Conn& c) -> Result<Job> {
    auto r = c.Exec(kRelease, Params().Int(job_id).Text(worker_id).Int(now));
    if (!r.ok()) return r.status();
    if (r->size() == 0) return NotOwner(job_id, worker_id);
    return ReadJob(*r, 0);
  });
}

// Why a job-changing statement touched no row: the job is unknown, or in a state the
// operation does not apply to.
Result<Job> PgStore::ExplainNoRow(Conn& c, int64_t job_id, std::string_view verb,
                                  std::string_view allowed) {
  auto s = c.Exec(kJobStatusSql, Params().Int(job_id));
  if (!s.ok()) return s.status();
  if (s->size() == 0) return Status::NotFound(fmt::format("job {} not found", job_id));
  return Status::Invalid(
      fmt::format("job {} is {}: only {} jobs can be {}", job_id, s->text(0, 0), allowed, verb));
}

Result<Job> PgStore::Cancel(int64_t job_id) {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  return WithConn<Job>([&](Conn& c) -> Result<Job> {
    auto r = c.Exec(kCancel, Params().Int(job_id).Int(now));
    if (!r.ok()) return r.status();
    if (r->size() == 0) return ExplainNoRow(c, job_id, "cancelled", "pending or running");
    return ReadJob(*r, 0);
  });
}

Result<Job> PgStore::Retry(int64_t job_id) {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  return WithConn<Job>([&](Conn& c) -> Result<Job> {
    auto r = c.Exec(kRetry, Params().Int(job_id).Int(now));
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kConflict) {
        return Status::Conflict(
            fmt::format("job {}: an equal job is already pending or running", job_id));
      }
      return r.status();
    }
    if (r->size() == 0) return ExplainNoRow(c, job_id, "retried", "failed or cancelled");
    return ReadJob(*r, 0);
  });
}

Result<int> PgStore::RescueStale(int64_t timeout_ms) {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  return WithConn<int>([&](Conn& c) -> Result<int> {
    auto r = c.Exec(kRescueStale, Params().Int(now).Int(now - timeout_ms));
    if (!r.ok()) return r.status();
    return static_cast<int>(r->affected());
  });
}

Result<int> PgStore::ResetRunning() {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  return WithConn<int>([&](Conn& c) -> Result<int> {
    auto r = c.Exec(kResetRunning, Params().Int(now));
    if (!r.ok()) return r.status();
    return static_cast<int>(r->affected());
  });
}

Result<int> PgStore::PruneFinished(int64_t age_ms) {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  return WithConn<int>([&](Conn& c) -> Result<int> {
    auto r = c.Exec(kPruneFinished, Params().Int(now - age_ms));
    if (!r.ok()) return r.status();
    return static_cast<int>(r->affected());
  });
}

Result<Job> PgStore::GetJob(int64_t job_id) {
  return WithConn<Job>([&](Conn& c) -> Result<Job> {
    auto r = c.Exec(kSelectJob, Params().Int(job_id));
    if (!r.ok()) return r.status();
    if (r->size() == 0) return Status::NotFound(fmt::format("job {} not found", job_id));
    return ReadJob(*r, 0);
  });
}

Result<std::vector<Job>> PgStore::ListJobs(const JobFilter& f) {
  return WithConn<std::vector<Job>>([&](Conn& c) -> Result<std::vector<Job>> {
    Params p;
    p.Int(f.before_id.value_or(std::numeric_limits<int64_t>::max()));
    // A negative limit means no limit (LIMIT NULL), as in SQLite.
    if (f.limit >= 0) {
      p.Int(f.limit);
    } else {
      p.Null();
    }
    if (f.status) p.Text(JobStatusId(*f.status));
    auto r = c.Exec(f.status ? kListJobsByStatus : kListJobs, p);
    if (!r.ok()) return r.status();
    std::vector<Job> out;
    out.reserve(r->size());
    for (int i = 0; i < r->size(); ++i) out.push_back(ReadJob(*r, i));
    return out;
  });
}

Result<std::vector<std::pair<JobStatus, int64_t>>> PgStore::CountJobsByStatus() {
  using Out = std::vector<std::pair<JobStatus, int64_t>>;
  return WithConn<Out>([&](Conn& c) -> Result<Out> {
    auto r = c.Exec(kCountJobs);
    if (!r.ok()) return r.status();
    Out out;
    for (int i = 0; i < r->size(); ++i) {
      if (auto s = ParseJobStatus(r->text(i, 0))) out.emplace_back(*s, r->i64(i, 1));
    }
    std::sort(out.begin(), out.end());
    return out;
  });
}

Result<std::optional<Job>> PgStore::FindActiveJobCovering(double lat, double lng) {
  return WithConn<std::optional<Job>>([&](Conn& c) -> Result<std::optional<Job>> {
    auto r = c.Exec(kFindCovering, Params().Double(lat).Double(lng));
    if (!r.ok()) return r.status();
    if (r->size() == 0) return std::optional<Job>();
    return std::optional<Job>(ReadJob(*r, 0));
  });
}

Result<int64_t> PgStore::ResetArea(const BBox& box, double grid_step) {
  NBI_RETURN_IF_ERROR(ValidateGridStep(grid_step));
  // The area's cells are exactly those its job would write: the region's grid points.
  // Selecting them by index range (not by comparing floats with the box) keeps an edge row
  // whose float rounds just below the box.
  auto region = GridRegion::Make(box, grid_step, std::numeric_limits<int64_t>::max());
  return InTransaction<int64_t>([&](Conn& c) -> Result<int64_t> {
    int64_t cells = 0;
    if (region.ok()) {
      const GridRegion& g = *region;
      auto r = c.Exec(kResetAreaCells,
                      Params()
                          .Float(static_cast<float>(g.step()))
                          .Float(static_cast<float>(g.LatOfRow(g.first_row())))
                          .Float(static_cast<float>(g.LatOfRow(g.first_row() + g.rows() - 1)))
                          .Float(static_cast<float>(g.LngOfCol(g.first_col())))
                          .Float(static_cast<float>(g.LngOfCol(g.first_col() + g.cols() - 1))));
      if (!r.ok()) return r.status();
      cells = r->affected();
    }
    auto j = c.Exec(
        kResetAreaJobs,
        Params().Double(box.min_lat).Double(box.min_lng).Double(box.max_lat).Double(box.max_lng));
    if (!j.ok()) return j.status();
    return cells;
  });
}

// ------------------------------------------------------------------ cells

Result<std::vector<HeatCell>> PgStore::QueryCells(const BBox& box, double grid_step, int min_score,
                                                  int64_t limit) {
  return WithConn<std::vector<HeatCell>>([&](Conn& c) -> Result<std::vector<HeatCell>> {
    auto r = c.Exec(kQueryCells, Params()
                                     .Float(static_cast<float>(box.min_lat))
                                     .Float(static_cast<float>(box.max_lat))
                                     .Float(static_cast<float>(box.min_lng))
                                     .Float(static_cast<float>(box.max_lng))
                                     .Float(static_cast<float>(grid_step))
                                     .Int(min_score)
                                     .Int(std::max<int64_t>(limit, 0) + 1));
    if (!r.ok()) return r.status();
    std::vector<HeatCell> out;
    out.reserve(r->size());
    for (int i = 0; i < r->size(); ++i) {
      out.push_back({r->f32(i, 0), r->f32(i, 1), static_cast<int>(r->i64(i, 2)), grid_step});
    }
    return out;
  });
}

Result<int64_t> PgStore::CountCells(std::optional<double> grid_step) {
  return WithConn<int64_t>([&](Conn& c) -> Result<int64_t> {
    auto r = grid_step ? c.Exec(kCountCellsOfStep, Params().Float(static_cast<float>(*grid_step)))
                       : c.Exec(kCountCells);
    if (!r.ok()) return r.status();
    return r->i64(0, 0);
  });
}

Result<bool> PgStore::HasCoverage(double lat, double lng, double grid_step) {
  // "Within one step" measured on the stored floats: widen each bound by one float ulp so
  // that rounding the cell's coordinate cannot push a cell exactly one step away outside.
  const double reach = grid_step * (1 + 1e-9);
  auto lo = [](double v) {
    return std::nextafter(static_cast<float>(v), -std::numeric_limits<float>::infinity());
  };
  auto hi = [](double v) {
    return std::nextafter(static_cast<float>(v), std::numeric_limits<float>::infinity());
  };
  return WithConn<bool>([&](Conn& c) -> Result<bool> {
    auto r = c.Exec(kHasCoverage, Params()
                                      .Float(lo(lat - reach))
                                      .Float(hi(lat + reach))
                                      .Float(lo(lng - reach))
                                      .Float(hi(lng + reach))
                                      .Float(static_cast<float>(grid_step)));
    if (!r.ok()) return r.status();
    return r->boolean(0, 0);
  });
}

Status PgStore::RawInsertCells(const GridRegion& region, int64_t begin, const uint8_t* scores,
                               int64_t count) {
  if (begin < 0 || count < 0 || begin + count > region.cell_count()) {
    return Status::Invalid("RawInsertCells: cells outside the region");
  }
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  const int64_t now = clock_->NowMs();
  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  Conn& c = **lease;
  // One COPY (its own transaction), streamed in slices so memory stays flat.
  constexpr int64_t kSliceCells = 1 << 16;
  NBI_RETURN_IF_ERROR(c.CopyStart(kCopyCells));
  BinaryCopy copy;
  copy.Reserve(kSliceCells * 54 + 32);
  copy.Header();
  for (int64_t k = 0; k < count; k += kSliceCells) {
    const int64_t n = std::min(kSliceCells, count - k);
    EncodeCells(region, begin + k, scores + k, n, std::nullopt, now, &copy);
    if (k + n == count) copy.Trailer();
    Status st = c.CopyPut(copy.data());
    if (!st.ok()) return st;
    copy.data().clear();
  }
  if (count == 0) {
    copy.Trailer();
    NBI_RETURN_IF_ERROR(c.CopyPut(copy.data()));
  }
  return c.CopyFinish();
}

Status PgStore::TruncateCells() {
  NBI_RETURN_IF_ERROR(SingleStatementFault());
  auto r = WithConn<bool>([&](Conn& c) -> Result<bool> {
    auto t = c.Exec("TRUNCATE heat_cells", "truncate");
    if (!t.ok()) return t.status();
    return true;
  });
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace nbi
