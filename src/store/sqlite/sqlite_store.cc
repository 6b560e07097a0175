#include "store/sqlite/sqlite_store.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <unordered_map>

namespace nbi {

namespace {

// ------------------------------------------------------------------ schema
// v1 is the seed's schema as the original app created it (so its databases upgrade in
// place); v2 adds the queue columns, POIs and the indexes that keep hot queries independent
// of history size.
constexpr const char* kMigrations[] = {
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
};
constexpr int kSchemaVersion = std::size(kMigrations);

constexpr const char* kJobCols =
    "id, type, status, city_id, progress, total_items, error, metadata, created_at, started_at, "
    "completed_at, attempts, max_attempts, priority, run_at_ms, heartbeat_at_ms, locked_by, "
    "cancel_requested";

std::string FormatTs(int64_t ms) {
  std::time_t s = ms / 1000;
  std::tm tm{};
  gmtime_r(&s, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}.{:03d}", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, int(ms % 1000));
}

std::optional<int64_t> ParseTs(const char* text) {
  if (!text) return std::nullopt;
  std::tm tm{};
  int ms = 0;
  int n = std::sscanf(text, "%d-%d-%d%*c%d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms);
  if (n < 6) return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + (n == 7 ? ms : 0);
}

Status SqlError(sqlite3* db, int rc, const char* what) {
  std::string msg =
      fmt::format("sqlite {}: {}", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Status::Transient(msg);
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
    return Status::Conflict(msg);
  return Status::Internal(msg);
}

// A lease check failed: the job is not running under this worker (any more).
Status NotOwner(int64_t job_id, const std::string& worker_id) {
  return Status::Conflict(fmt::format("job {} is not running under {}", job_id, worker_id));
}

}  // namespace

// ------------------------------------------------------------------ connection
class SqliteStore::Conn {
 public:
  sqlite3* db = nullptr;
  ~Conn() {
    for (auto& [_, s] : cache_) sqlite3_finalize(s);
    if (db) sqlite3_close_v2(db);
  }
  // Cached prepared statement for a SQL constant; reset and unbound.
  Result<sqlite3_stmt*> Prepare(const char* sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) {
      sqlite3_reset(it->second);
      sqlite3_clear_bindings(it->second);
      return it->second;
    }
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
    if (rc != SQLITE_OK) return SqlError(db, rc, "prepare");
    cache_[sql] = s;
    return s;
  }
  Status Exec(const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      Status s = SqlError(db, rc, err ? err : "exec");
      sqlite3_free(err);
      return s;
    }
    return Status::Ok();
  }

 private:
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

namespace {

// Binding and reading helpers over a statement.
struct Q {
  sqlite3* db;
  sqlite3_stmt* s;
  int next = 1;
  Q& Int(int64_t v) {
    sqlite3_bind_int64(s, next++, v);
    return *this;
  }
  Q& Dbl(double v) {
    sqlite3_bind_double(s, next++, v);
    return *this;
  }
  Q& Str(const std::string& v) {
    sqlite3_bind_text(s, next++, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Q& OptStr(const std::optional<std::string>& v) {
    if (v) return Str(*v);
    sqlite3_bind_null(s, next++);
    return *this;
  }
  Q& OptInt(const std::optional<int64_t>& v) {
    if (v) return Int(*v);
    sqlite3_bind_null(s, next++);
    return *this;
  }
  // SQLITE_ROW -> true, SQLITE_DONE -> false.
  Result<bool> Step() {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqlError(db, rc, "step");
  }
  // Calls f() on each remaining row.
  template <typename F>
  Status Rows(F&& f) {
    for (;;) {
      auto row = Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::Ok();
      f();
    }
  }
  Status Run() {
    auto r = Step();
    if (!r.ok()) return r.status();
    return Status::Ok();
  }
  int64_t I(int c) const { return sqlite3_column_int64(s, c); }
  double D(int c) const { return sqlite3_column_double(s, c); }
  bool Null(int c) const { return sqlite3_column_type(s, c) == SQLITE_NULL; }
  std::string S(int c) const {
    auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
    return t ? std::string(t, sqlite3_column_bytes(s, c)) : std::string();
  }
  const char* C(int c) const { return reinterpret_cast<const char*>(sqlite3_column_text(s, c)); }
};

Job ReadJob(const Q& q) {
  Job j;
  j.id = q.I(0);
  j.type = q.S(1);
  j.status = ParseJobStatus(q.S(2)).value_or(JobStatus::kFailed);
  if (!q.Null(3)) j.city_id = q.I(3);
  j.progress = int(q.I(4));
  j.total_items = q.I(5);
  if (!q.Null(6)) j.error = q.S(6);
  j.metadata = nlohmann::json::parse(q.Null(7) ? std::string("{}") : q.S(7), nullptr, false);
  if (j.metadata.is_discarded() || !j.metadata.is_object()) j.metadata = nlohmann::json::object();
  j.created_at_ms = ParseTs(q.C(8)).value_or(0);
  j.started_at_ms = ParseTs(q.C(9));
  j.completed_at_ms = ParseTs(q.C(10));
  j.attempts = int(q.I(11));
  j.max_attempts = int(q.I(12));
  j.priority = int(q.I(13));
  j.run_at_ms = q.I(14);
  if (!q.Null(15)) j.heartbeat_at_ms = q.I(15);
  if (!q.Null(16)) j.locked_by = q.S(16);
  j.cancel_requested = q.I(17) != 0;
  return j;
}

const std::string kSelectJob = fmt::format("SELECT {} FROM jobs WHERE id = ?", kJobCols);
const std::string kClaim = fmt::format(
    "UPDATE jobs SET status = 'running', locked_by = ?1, attempts = attempts + 1, "
    "heartbeat_at_ms = ?2, started_at = COALESCE(started_at, ?3) "
    "WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_at_ms <= ?2 "
    "ORDER BY priority DESC, id LIMIT 1) RETURNING {}",
    kJobCols);
const std::string kClaimBatch = fmt::format(
    "UPDATE jobs SET status = 'running', locked_by = ?1, attempts = attempts + 1, "
    "heartbeat_at_ms = ?2, started_at = COALESCE(started_at, ?3) "
    "WHERE id IN (SELECT id FROM jobs WHERE status = 'pending' AND run_at_ms <= ?2 "
    "ORDER BY priority DESC, id LIMIT ?4) RETURNING {}",
    kJobCols);
const std::string kEnqueue = fmt::format(
    "INSERT INTO jobs (type, status, city_id, progress, total_items, metadata, created_at, "
    "priority, max_attempts, run_at_ms, dedupe_key) VALUES ('heatmap_compute', 'pending', ?, 0, "
    "?, ?, ?, ?, ?, ?, ?) RETURNING {}",
    kJobCols);
const std::string kActiveByKey = fmt::format(
    "SELECT {} FROM jobs WHERE dedupe_key = ? AND status IN ('pending', 'running')", kJobCols);
const std::string kOwnerUpdateReturning = fmt::format("RETURNING {}", kJobCols);

}  // namespace

// A pooled connection handed back on scope exit.
class SqliteStore::Lease {
 public:
  Lease(SqliteStore* store, std::unique_ptr<Conn> c) : store_(store), c_(std::move(c)) {}
  ~Lease() {
    if (c_) store_->Give(std::move(c_));
  }
  Conn* operator->() { return c_.get(); }
  Conn& operator*() { return *c_; }

 private:
  SqliteStore* store_;
  std::unique_ptr<Conn> c_;
};

SqliteStore::SqliteStore(std::string path, Clock* clock) : path_(std::move(path)), clock_(clock) {}
SqliteStore::~SqliteStore() = default;

std::string SqliteStore::Describe() const { return "sqlite:" + path_; }

Result<std::unique_ptr<SqliteStore::Conn>> SqliteStore::Take() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<Conn>();
  int rc =
      sqlite3_open_v2(path_.c_str(), &c->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    return Status::Invalid(fmt::format("cannot open SQLite database {}: {}", path_,
                                       c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(c->db, 1);
  sqlite3_busy_timeout(c->db, 30000);
  NBI_RETURN_IF_ERROR(
      c->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
              "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;"));
  return c;
}

void SqliteStore::Give(std::unique_ptr<Conn> c) {
  // A statement left mid-result keeps a read transaction (an old WAL snapshot) open on this
  // connection; its next BEGIN IMMEDIATE would then fail at once with SQLITE_BUSY_SNAPSHOT,
  // which no busy timeout resolves. Reset every such statement before pooling.
  for (sqlite3_stmt* st = sqlite3_next_stmt(c->db, nullptr); st;
       st = sqlite3_next_stmt(c->db, st)) {
    if (sqlite3_stmt_busy(st)) sqlite3_reset(st);
  }
  std::lock_guard<std::mutex> l(mu_);
  if (idle_.size() < 16) idle_.push_back(std::move(c));
}

template <typename T, typename F>
Result<T> SqliteStore::Read(F&& fn) {
  auto c = Take();
  if (!c.ok()) return c.status();
  Lease lease(this, std::move(c).value());
  return fn(*lease);
}

template <typename T, typename F>
Result<T> SqliteStore::WriteTxn(F&& fn) {
  auto c = Take();
  if (!c.ok()) return c.status();
  Lease lease(this, std::move(c).value());
  NBI_RETURN_IF_ERROR(lease->Exec("BEGIN IMMEDIATE"));
  Result<T> r = fn(*lease);
  if (!r.ok()) {
    (void)lease->Exec("ROLLBACK");
    return r;
  }
  if (InjectCommitFault()) {
    (void)lease->Exec("ROLLBACK");
    return Status::Transient("injected commit fault");
  }
  Status st = lease->Exec("COMMIT");
  if (!st.ok()) {
    (void)lease->Exec("ROLLBACK");
    return st;
  }
  return r;
}

// ------------------------------------------------------------------ schema
Status SqliteStore::Migrate() {
  auto r = WriteTxn<int>([&](Conn& c) -> Result<int> {
    NBI_RETURN_IF_ERROR(
        c.Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
               "applied_at TIMESTAMP)"));
    auto st = c.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    auto row = q.Step();
    if (!row.ok()) return row.status();
    int have = int(q.I(0));
    sqlite3_reset(*st);
    if (have > kSchemaVersion) {
      return Status::Invalid(fmt::format(
          "database schema version {} is newer than this program's {}: upgrade nearbyindex", have,
          kSchemaVersion));
    }
    for (int v = have + 1; v <= kSchemaVersion; ++v) {
      NBI_RETURN_IF_ERROR(c.Exec(kMigrations[v - 1]).WithPrefix(fmt::format("migration {}: ", v)));
      auto ins = c.Prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)");
      if (!ins.ok()) return ins.status();
      NBI_RETURN_IF_ERROR((Q{c.db, *ins}.Int(v).Str(FormatTs(clock_->NowMs())).Run()));
      if (v == 2) {
        for (const City& city : PresetCities()) {
          auto p = c.Prepare(
              "INSERT INTO cities (slug, name, country, min_lat, min_lng, max_lat, max_lng) "
              "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug) DO NOTHING");
          if (!p.ok()) return p.status();
          NBI_RETURN_IF_ERROR((Q{c.db, *p}
                                   .Str(city.slug)
                                   .Str(city.name)
                                   .Str(city.country)
                                   .Dbl(city.bounds.min_lat)
                                   .Dbl(city.bounds.min_lng)
                                   .Dbl(city.bounds.max_lat)
                                   .Dbl(city.bounds.max_lng)
                                   .Run()));
        }
      }
    }
    return kSchemaVersion;
  });
  return r.ok() ? Status::Ok() : r.status();
}

Result<int> SqliteStore::SchemaVersion() {
  return Read<int>([&](Conn& c) -> Result<int> {
    auto st = c.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    auto row = q.Step();
    if (!row.ok()) return row.status();
    return int(q.I(0));
  });
}

Status SqliteStore::Ping() {
  auto v = SchemaVersion();
  if (!v.ok()) return v.status();
  if (*v != kSchemaVersion)
    return Status::Internal(fmt::format("schema version {} != {}", *v, kSchemaVersion));
  return Status::Ok();
}

// ------------------------------------------------------------------ cities
namespace {
constexpr const char* kCityCols = "id, slug, name, country, min_lat, min_lng, max_lat, max_lng";
City ReadCity(const Q& q) {
  return City{q.I(0), q.S(1), q.S(2), q.S(3), BBox{q.D(4), q.D(5), q.D(6), q.D(7)}};
}
const std::string kUpsertCity = fmt::format(
    "INSERT INTO cities (slug, name, country, min_lat, min_lng, max_lat, max_lng) VALUES "
    "(?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug) DO UPDATE SET name = excluded.name, country = "
    "excluded.country, min_lat = excluded.min_lat, min_lng = excluded.min_lng, max_lat = "
    "excluded.max_lat, max_lng = excluded.max_lng RETURNING {}",
    kCityCols);
const std::string kListCities = fmt::format("SELECT {} FROM cities ORDER BY slug", kCityCols);
const std::string kGetCity = fmt::format("SELECT {} FROM cities WHERE slug = ?", kCityCols);
}  // namespace

Result<City> SqliteStore::UpsertCity(const City& city) {
  return WriteTxn<City>([&](Conn& c) -> Result<City> {
    auto st = c.Prepare(kUpsertCity.c_str());
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Str(city.slug)
        .Str(city.name)
        .Str(city.country)
        .Dbl(city.bounds.min_lat)
        .Dbl(city.bounds.min_lng)
        .Dbl(city.bounds.max_lat)
        .Dbl(city.bounds.max_lng);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    City out = ReadCity(q);
    sqlite3_reset(*st);
    return out;
  });
}

Result<std::vector<City>> SqliteStore::ListCities() {
  return Read<std::vector<City>>([&](Conn& c) -> Result<std::vector<City>> {
    auto st = c.Prepare(kListCities.c_str());
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    std::vector<City> out;
    NBI_RETURN_IF_ERROR(q.Rows([&] { out.push_back(ReadCity(q)); }));
    return out;
  });
}

Result<City> SqliteStore::GetCity(const std::string& slug) {
  return Read<City>([&](Conn& c) -> Result<City> {
    auto st = c.Prepare(kGetCity.c_str());
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Str(slug);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound(fmt::format("unknown city '{}'", slug));
    City out = ReadCity(q);
    sqlite3_reset(*st);
    return out;
  });
}

// ------------------------------------------------------------------ POIs
Result<PoiImportSummary> SqliteStore::UpsertPois(const std::vector<Poi>& pois) {
  return WriteTxn<PoiImportSummary>([&](Conn& c) -> Result<PoiImportSummary> {
    PoiImportSummary sum;
    auto before = c.Prepare("SELECT COUNT(*) FROM pois");
    if (!before.ok()) return before.status();
    Q qb{c.db, *before};
    auto r0 = qb.Step();
    if (!r0.ok()) return r0.status();
    int64_t n0 = qb.I(0);
    sqlite3_reset(*before);
    for (const Poi& p : pois) {
      auto st = c.Prepare(
          "INSERT INTO pois (source_id, category, subtype, name, lat, lng) VALUES (?, ?, ?, ?, ?, "
          "?) "
          "ON CONFLICT (source_id) DO UPDATE SET category = excluded.category, subtype = "
          "excluded.subtype, name = excluded.name, lat = excluded.lat, lng = excluded.lng");
      if (!st.ok()) return st.status();
      Q q{c.db, *st};
      q.Str(p.source_id)
          .Str(std::string(CategoryId(p.category)))
          .OptStr(p.sub == HealthSub::kNone ? std::nullopt
                                            : std::optional<std::string>(HealthSubId(p.sub)))
          .Str(p.name)
          .Dbl(p.lat)
          .Dbl(p.lng);
      NBI_RETURN_IF_ERROR(q.Run());
    }
    Q qa{c.db, *before};
    auto r1 = qa.Step();
    if (!r1.ok()) return r1.status();
    sum.inserted = qa.I(0) - n0;
    sum.updated = int64_t(pois.size()) - sum.inserted;
    sqlite3_reset(*before);
    return sum;
  });
}

Result<std::vector<Poi>> SqliteStore::LoadPois(const BBox& box, int64_t limit) {
  return Read<std::vector<Poi>>([&](Conn& c) -> Result<std::vector<Poi>> {
    auto st = c.Prepare(
        "SELECT source_id, category, subtype, name, lat, lng FROM pois "
        "WHERE lat >= ? AND lat <= ? AND lng >= ? AND lng <= ? ORDER BY id LIMIT ?");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Dbl(box.min_lat).Dbl(box.max_lat).Dbl(box.min_lng).Dbl(box.max_lng).Int(limit);
    std::vector<Poi> out;
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      auto cat = ParseCategory(q.S(1));
      if (!cat) return;
      Poi p;
      p.source_id = q.S(0);
      p.category = *cat;
      p.sub = ParseHealthSub(q.S(2)).value_or(HealthSub::kNone);
      p.name = q.S(3);
      p.lat = q.D(4);
      p.lng = q.D(5);
      out.push_back(std::move(p));
    }));
    return out;
  });
}

Result<std::vector<std::pair<Category, int64_t>>> SqliteStore::CountPoisByCategory() {
  using Out = std::vector<std::pair<Category, int64_t>>;
  return Read<Out>([&](Conn& c) -> Result<Out> {
    auto st = c.Prepare("SELECT category, COUNT(*) FROM pois GROUP BY category");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      if (auto cat = ParseCategory(q.S(0))) out.emplace_back(*cat, q.I(1));
    }));
    std::sort(out.begin(), out.end());
    return out;
  });
}

// ------------------------------------------------------------------ queue
namespace {
// Runs a statement that RETURNs job columns; nullopt when no row.
Result<std::optional<Job>> OneJob(Q& q) {
  auto row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<Job>();
  Job j = ReadJob(q);
  // Finish the statement so its write completes before COMMIT.
  while (true) {
    auto more = q.Step();
    if (!more.ok()) return more.status();
    if (!*more) break;
  }
  return std::optional<Job>(std::move(j));
}

Result<Job> GetJobIn(SqliteStore::Conn& c, int64_t id) {
  auto st = c.Prepare(kSelectJob.c_str());
  if (!st.ok()) return st.status();
  Q q{c.db, *st};
  q.Int(id);
  auto j = OneJob(q);
  if (!j.ok()) return j.status();
  if (!*j) return Status::NotFound(fmt::format("job {} not found", id));
  return std::move(**j);
}
}  // namespace

Result<EnqueueResult> SqliteStore::EnqueueHeatmap(const HeatmapJobSpec& spec) {
  auto grid = GridRegion::Make(spec.bounds, spec.grid_step);
  if (!grid.ok()) return grid.status();
  const int64_t now = clock_->NowMs();
  const std::string key = DedupeKey(spec);
  return WriteTxn<EnqueueResult>([&](Conn& c) -> Result<EnqueueResult> {
    auto st = c.Prepare(kActiveByKey.c_str());
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Str(key);
    auto existing = OneJob(q);
    if (!existing.ok()) return existing.status();
    if (*existing) return EnqueueResult{std::move(**existing), false};
    auto ins = c.Prepare(kEnqueue.c_str());
    if (!ins.ok()) return ins.status();
    Q qi{c.db, *ins};
    qi.OptInt(spec.city_id)
        .Int(grid->cell_count())
        .Str(HeatmapMetadata(spec).dump())
        .Str(FormatTs(now))
        .Int(spec.priority)
        .Int(spec.max_attempts)
        .Int(now)
        .Str(key);
    auto j = OneJob(qi);
    if (!j.ok()) return j.status();
    if (!*j) return Status::Internal("enqueue returned no row");
    return EnqueueResult{std::move(**j), true};
  });
}

Result<std::optional<Job>> SqliteStore::Claim(const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return WriteTxn<std::optional<Job>>([&](Conn& c) -> Result<std::optional<Job>> {
    auto st = c.Prepare(kClaim.c_str());
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Str(worker_id).Int(now).Str(FormatTs(now));
    return OneJob(q);
  });
}

Result<std::vector<Job>> SqliteStore::ClaimBatch(const std::string& worker_id, int max) {
  const int64_t now = clock_->NowMs();
  return WriteTxn<std::vector<Job>>([&](Conn& c) -> Result<std::vector<Job>> {
    auto st = c.Prepare(kClaimBatch.c_str());
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Str(worker_id).Int(now).Str(FormatTs(now)).Int(std::max(1, max));
    std::vector<Job> out;
    NBI_RETURN_IF_ERROR(q.Rows([&] { out.push_back(ReadJob(q)); }));
    SortInClaimOrder(&out);  // RETURNING gives no order guarantee
    return out;
  });
}

Result<int> SqliteStore::CompleteBatch(const std::vector<int64_t>& job_ids,
                                       const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  nlohmann::json ids = job_ids;
  return WriteTxn<int>([&](Conn& c) -> Result<int> {
    auto st = c.Prepare(
        "UPDATE jobs SET status = 'completed', progress = 100, completed_at = ?1, locked_by = "
        "NULL, "
        "heartbeat_at_ms = ?2, error = NULL WHERE id IN (SELECT value FROM json_each(?3)) "
        "AND status = 'running' AND locked_by = ?4");
    if (!st.ok()) return st.status();
    NBI_RETURN_IF_ERROR(
        (Q{c.db, *st}.Str(FormatTs(now)).Int(now).Str(ids.dump()).Str(worker_id).Run()));
    return sqlite3_changes(c.db);
  });
}

Result<bool> SqliteStore::Heartbeat(int64_t job_id, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return WriteTxn<bool>([&](Conn& c) -> Result<bool> {
    auto st = c.Prepare(
        "UPDATE jobs SET heartbeat_at_ms = ? WHERE id = ? AND status = 'running' AND locked_by = ? "
        "RETURNING cancel_requested");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Int(now).Int(job_id).Str(worker_id);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return NotOwner(job_id, worker_id);
    bool cancel = q.I(0) != 0;
    sqlite3_reset(*st);
    return cancel;
  });
}

Result<bool> SqliteStore::WriteCheckpoint(const Checkpoint& cp) {
  const int64_t now = clock_->NowMs();
  const std::string ts = FormatTs(now);
  return WriteTxn<bool>([&](Conn& c) -> Result<bool> {
    auto st = c.Prepare(
        "UPDATE jobs SET heartbeat_at_ms = ?1, "
        "progress = CASE WHEN total_items > 0 THEN (100 * ?2) / total_items ELSE 100 END, "
        "metadata = json_set(COALESCE(metadata, '{}'), '$.lastProcessedIndex', ?2) "
        "WHERE id = ?3 AND status = 'running' AND locked_by = ?4 RETURNING cancel_requested");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Int(now).Int(cp.begin + cp.count).Int(cp.job_id).Str(cp.worker_id);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return NotOwner(cp.job_id, cp.worker_id);
    }
    bool cancel = q.I(0) != 0;
    sqlite3_reset(*st);
    auto ins = c.Prepare(
        "INSERT INTO heat_cells (lat, lng, score, grid_step, city_id, computed_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (lat, lng, grid_step) DO UPDATE SET "
        "score = excluded.score, city_id = excluded.city_id, computed_at = excluded.computed_at");
    if (!ins.ok()) return ins.status();
    sqlite3_stmt* s = *ins;
    const double step = cp.region->step();
    for (int64_t k = 0; k < cp.count; ++k) {
      LatLng at = cp.region->CellAt(cp.begin + k);
      sqlite3_bind_double(s, 1, at.lat);
      sqlite3_bind_double(s, 2, at.lng);
      sqlite3_bind_int(s, 3, cp.scores[k]);
      sqlite3_bind_double(s, 4, step);
      if (cp.city_id)
        sqlite3_bind_int64(s, 5, *cp.city_id);
      else
        sqlite3_bind_null(s, 5);
      sqlite3_bind_text(s, 6, ts.data(), int(ts.size()), SQLITE_STATIC);
      int rc = sqlite3_step(s);
      if (rc != SQLITE_DONE) return SqlError(c.db, rc, "write cell");
      sqlite3_reset(s);
    }
    return cancel;
  });
}

Status SqliteStore::Complete(int64_t job_id, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  auto r = WriteTxn<bool>([&](Conn& c) -> Result<bool> {
    auto st = c.Prepare(
        "UPDATE jobs SET status = 'completed', progress = 100, completed_at = ?, locked_by = NULL, "
        "heartbeat_at_ms = ?, error = NULL WHERE id = ? AND status = 'running' AND locked_by = ? "
        "RETURNING id");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Str(FormatTs(now)).Int(now).Int(job_id).Str(worker_id);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    sqlite3_reset(*st);
    if (!*row) return NotOwner(job_id, worker_id);
    return true;
  });
  return r.ok() ? Status::Ok() : r.status();
}

Result<Job> SqliteStore::FailAttempt(int64_t job_id, const std::string& worker_id,
                                     const std::string& error, bool permanent) {
  const int64_t now = clock_->NowMs();
  return WriteTxn<Job>([&](Conn& c) -> Result<Job> {
    auto cur = GetJobIn(c, job_id);
    if (!cur.ok()) return cur.status();
    if (cur->status != JobStatus::kRunning || cur->locked_by != worker_id) {
      return NotOwner(job_id, worker_id);
    }
    bool retry = !permanent && cur->attempts < cur->max_attempts;
    auto st = c.Prepare(
        retry ? "UPDATE jobs SET status = 'pending', locked_by = NULL, error = ?, run_at_ms = ? "
                "WHERE id = ?"
              : "UPDATE jobs SET status = 'failed', locked_by = NULL, error = ?, completed_at = ? "
                "WHERE id = ?");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Str(error);
    if (retry)
      q.Int(now + RetryBackoffMs(cur->attempts));
    else
      q.Str(FormatTs(now));
    q.Int(job_id);
    NBI_RETURN_IF_ERROR(q.Run());
    return GetJobIn(c, job_id);
  });
}

Result<Job> SqliteStore::Release(int64_t job_id, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return WriteTxn<Job>([&](Conn& c) -> Result<Job> {
    auto st = c.Prepare(
        "UPDATE jobs SET "
        "status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'pending' END, "
        "completed_at = CASE WHEN cancel_requested THEN ?1 ELSE completed_at END, "
        "attempts = CASE WHEN cancel_requested THEN attempts ELSE MAX(attempts - 1, 0) END, "
        "locked_by = NULL, run_at_ms = ?2 "
        "WHERE id = ?3 AND status = 'running' AND locked_by = ?4 RETURNING id");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Str(FormatTs(now)).Int(now).Int(job_id).Str(worker_id);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    sqlite3_reset(*st);
    if (!*row) return NotOwner(job_id, worker_id);
    return GetJobIn(c, job_id);
  });
}

Result<Job> SqliteStore::Cancel(int64_t job_id) {
  const int64_t now = clock_->NowMs();
  return WriteTxn<Job>([&](Conn& c) -> Result<Job> {
    auto cur = GetJobIn(c, job_id);
    if (!cur.ok()) return cur.status();
    const char* sql = nullptr;
    if (cur->status == JobStatus::kPending) {
      sql = "UPDATE jobs SET status = 'cancelled', completed_at = ?1 WHERE id = ?2";
    } else if (cur->status == JobStatus::kRunning) {
      sql = "UPDATE jobs SET cancel_requested = 1 WHERE id = ?2 AND ?1 IS NOT NULL";
    } else {
      return Status::Invalid(
          fmt::format("job {} is {}: only pending or running jobs can be cancelled", job_id,
                      JobStatusId(cur->status)));
    }
    auto st = c.Prepare(sql);
    if (!st.ok()) return st.status();
    NBI_RETURN_IF_ERROR((Q{c.db, *st}.Str(FormatTs(now)).Int(job_id).Run()));
    return GetJobIn(c, job_id);
  });
}

Result<Job> SqliteStore::Retry(int64_t job_id) {
  const int64_t now = clock_->NowMs();
  return WriteTxn<Job>([&](Conn& c) -> Result<Job> {
    auto cur = GetJobIn(c, job_id);
    if (!cur.ok()) return cur.status();
    if (cur->status != JobStatus::kFailed && cur->status != JobStatus::kCancelled) {
      return Status::Invalid(
          fmt::format("job {} is {}: only failed or cancelled jobs can be retried", job_id,
                      JobStatusId(cur->status)));
    }
    auto st = c.Prepare(
        "UPDATE jobs SET status = 'pending', attempts = 0, error = NULL, cancel_requested = 0, "
        "completed_at = NULL, locked_by = NULL, run_at_ms = ? WHERE id = ?");
    if (!st.ok()) return st.status();
    Status s = Q{c.db, *st}.Int(now).Int(job_id).Run();
    if (s.code() == StatusCode::kConflict) {
      return Status::Conflict(
          fmt::format("job {}: an equal job is already pending or running", job_id));
    }
    NBI_RETURN_IF_ERROR(s);
    return GetJobIn(c, job_id);
  });
}

Result<int> SqliteStore::RescueStale(int64_t timeout_ms) {
  const int64_t now = clock_->NowMs();
  return WriteTxn<int>([&](Conn& c) -> Result<int> {
    auto st = c.Prepare(
        "UPDATE jobs SET status = CASE WHEN cancel_requested THEN 'cancelled' "
        "ELSE 'pending' END, "
        "completed_at = CASE WHEN cancel_requested THEN ?3 "
        "ELSE completed_at END, locked_by = NULL, run_at_ms = ?1 "
        "WHERE status = 'running' AND COALESCE(heartbeat_at_ms, 0) < ?1 - ?2");
    if (!st.ok()) return st.status();
    NBI_RETURN_IF_ERROR((Q{c.db, *st}.Int(now).Int(timeout_ms).Str(FormatTs(now)).Run()));
    return sqlite3_changes(c.db);
  });
}

Result<int> SqliteStore::ResetRunning() {
  const int64_t now = clock_->NowMs();
  return WriteTxn<int>([&](Conn& c) -> Result<int> {
    auto st = c.Prepare(
        "UPDATE jobs SET status = 'pending', started_at = NULL, locked_by = NULL, run_at_ms = ? "
        "WHERE status = 'running'");
    if (!st.ok()) return st.status();
    NBI_RETURN_IF_ERROR((Q{c.db, *st}.Int(now).Run()));
    return sqlite3_changes(c.db);
  });
}

Result<int> SqliteStore::PruneFinished(int64_t age_ms) {
  const int64_t now = clock_->NowMs();
  return WriteTxn<int>([&](Conn& c) -> Result<int> {
    auto st = c.Prepare(
        "DELETE FROM jobs WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at < "
        "?");
    if (!st.ok()) return st.status();
    NBI_RETURN_IF_ERROR((Q{c.db, *st}.Str(FormatTs(now - age_ms)).Run()));
    return sqlite3_changes(c.db);
  });
}

Result<Job> SqliteStore::GetJob(int64_t job_id) {
  return Read<Job>([&](Conn& c) { return GetJobIn(c, job_id); });
}

Result<std::vector<Job>> SqliteStore::ListJobs(const JobFilter& f) {
  static const std::string kSql = fmt::format(
      "SELECT {} FROM jobs WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR id < ?2) "
      "ORDER BY id DESC LIMIT ?3",
      kJobCols);
  return Read<std::vector<Job>>([&](Conn& c) -> Result<std::vector<Job>> {
    auto st = c.Prepare(kSql.c_str());
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.OptStr(f.status ? std::optional<std::string>(JobStatusId(*f.status)) : std::nullopt)
        .OptInt(f.before_id)
        .Int(f.limit);
    std::vector<Job> out;
    NBI_RETURN_IF_ERROR(q.Rows([&] { out.push_back(ReadJob(q)); }));
    return out;
  });
}

Result<std::vector<std::pair<JobStatus, int64_t>>> SqliteStore::CountJobsByStatus() {
  using Out = std::vector<std::pair<JobStatus, int64_t>>;
  return Read<Out>([&](Conn& c) -> Result<Out> {
    auto st = c.Prepare("SELECT status, COUNT(*) FROM jobs GROUP BY status");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      if (auto s = ParseJobStatus(q.S(0))) out.emplace_back(*s, q.I(1));
    }));
    std::sort(out.begin(), out.end());
    return out;
  });
}

Result<std::optional<Job>> SqliteStore::FindActiveJobCovering(double lat, double lng) {
  static const std::string kSql = fmt::format(
      "SELECT {} FROM jobs WHERE status IN ('pending', 'running') AND type = 'heatmap_compute' "
      "AND json_extract(metadata, '$.bounds.minLat') <= ?1 AND json_extract(metadata, "
      "'$.bounds.maxLat') > ?1 "
      "AND json_extract(metadata, '$.bounds.minLng') <= ?2 AND json_extract(metadata, "
      "'$.bounds.maxLng') > ?2 "
      "ORDER BY id LIMIT 1",
      kJobCols);
  return Read<std::optional<Job>>([&](Conn& c) -> Result<std::optional<Job>> {
    auto st = c.Prepare(kSql.c_str());
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Dbl(lat).Dbl(lng);
    return OneJob(q);
  });
}

Result<int64_t> SqliteStore::ResetArea(const BBox& box, double grid_step) {
  return WriteTxn<int64_t>([&](Conn& c) -> Result<int64_t> {
    auto st = c.Prepare(
        "DELETE FROM heat_cells WHERE lat >= ? AND lat < ? AND lng >= ? AND lng < ? AND grid_step "
        "= ?");
    if (!st.ok()) return st.status();
    NBI_RETURN_IF_ERROR((Q{c.db, *st}
                             .Dbl(box.min_lat)
                             .Dbl(box.max_lat)
                             .Dbl(box.min_lng)
                             .Dbl(box.max_lng)
                             .Dbl(grid_step)
                             .Run()));
    int64_t cells = sqlite3_changes(c.db);
    auto dj = c.Prepare(
        "DELETE FROM jobs WHERE status IN ('completed', 'failed', 'cancelled') AND "
        "json_extract(metadata, '$.bounds.minLat') = ? AND json_extract(metadata, "
        "'$.bounds.minLng') = ? AND "
        "json_extract(metadata, '$.bounds.maxLat') = ? AND json_extract(metadata, "
        "'$.bounds.maxLng') = ?");
    if (!dj.ok()) return dj.status();
    NBI_RETURN_IF_ERROR(
        (Q{c.db, *dj}.Dbl(box.min_lat).Dbl(box.min_lng).Dbl(box.max_lat).Dbl(box.max_lng).Run()));
    return cells;
  });
}

// ------------------------------------------------------------------ cells
Result<std::vector<HeatCell>> SqliteStore::QueryCells(const BBox& box, double grid_step,
                                                      int min_score, int64_t limit) {
  return Read<std::vector<HeatCell>>([&](Conn& c) -> Result<std::vector<HeatCell>> {
    auto st = c.Prepare(
        "SELECT lat, lng, score FROM heat_cells WHERE lat >= ? AND lat <= ? AND lng >= ? AND lng "
        "<= ? "
        "AND grid_step = ? AND score >= ? ORDER BY lat, lng LIMIT ?");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Dbl(box.min_lat)
        .Dbl(box.max_lat)
        .Dbl(box.min_lng)
        .Dbl(box.max_lng)
        .Dbl(grid_step)
        .Int(min_score)
        .Int(limit + 1);
    std::vector<HeatCell> out;
    NBI_RETURN_IF_ERROR(q.Rows([&] { out.push_back({q.D(0), q.D(1), int(q.I(2)), grid_step}); }));
    return out;
  });
}

Result<int64_t> SqliteStore::CountCells(std::optional<double> grid_step) {
  return Read<int64_t>([&](Conn& c) -> Result<int64_t> {
    auto st = c.Prepare("SELECT COUNT(*) FROM heat_cells WHERE ?1 IS NULL OR grid_step = ?1");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    if (grid_step)
      q.Dbl(*grid_step);
    else
      sqlite3_bind_null(*st, q.next++);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    int64_t n = q.I(0);
    sqlite3_reset(*st);
    return n;
  });
}

Result<bool> SqliteStore::HasCoverage(double lat, double lng, double grid_step) {
  return Read<bool>([&](Conn& c) -> Result<bool> {
    auto st = c.Prepare(
        "SELECT EXISTS (SELECT 1 FROM heat_cells WHERE lat BETWEEN ?1 - ?3 AND ?1 + ?3 AND "
        "lng BETWEEN ?2 - ?3 AND ?2 + ?3 AND grid_step = ?4)");
    if (!st.ok()) return st.status();
    Q q{c.db, *st};
    q.Dbl(lat).Dbl(lng).Dbl(grid_step * (1 + 1e-9)).Dbl(grid_step);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    bool has = q.I(0) != 0;
    sqlite3_reset(*st);
    return has;
  });
}

Status SqliteStore::RawInsertCells(const GridRegion& region, int64_t begin, const uint8_t* scores,
                                   int64_t count) {
  const std::string ts = FormatTs(clock_->NowMs());
  auto r = WriteTxn<bool>([&](Conn& c) -> Result<bool> {
    auto ins = c.Prepare(
        "INSERT INTO heat_cells (lat, lng, score, grid_step, computed_at) VALUES (?, ?, ?, ?, ?)");
    if (!ins.ok()) return ins.status();
    sqlite3_stmt* s = *ins;
    for (int64_t k = 0; k < count; ++k) {
      LatLng at = region.CellAt(begin + k);
      sqlite3_bind_double(s, 1, at.lat);
      sqlite3_bind_double(s, 2, at.lng);
      sqlite3_bind_int(s, 3, scores[k]);
      sqlite3_bind_double(s, 4, region.step());
      sqlite3_bind_text(s, 5, ts.data(), int(ts.size()), SQLITE_STATIC);
      int rc = sqlite3_step(s);
      if (rc != SQLITE_DONE) return SqlError(c.db, rc, "raw insert");
      sqlite3_reset(s);
    }
    return true;
  });
  return r.ok() ? Status::Ok() : r.status();
}

Status SqliteStore::TruncateCells() {
  auto r = WriteTxn<bool>([&](Conn& c) -> Result<bool> {
    NBI_RETURN_IF_ERROR(c.Exec("DELETE FROM heat_cells"));
    return true;
  });
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace nbi
