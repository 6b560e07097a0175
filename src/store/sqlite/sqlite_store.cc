// SqliteStore: construction, schema, cities, POIs, cells and the watch. The JobQueue methods
// are in sqlite_queue.cc.
#include "store/sqlite/sqlite_store.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>

#include "common/time_format.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_sql.h"
#include "store/sqlite/sqlite_walk.h"
#include "store/sqlite/sqlite_watch.h"
#include "store/walk_rows.h"

namespace nbi {

SqliteStore::SqliteStore(std::string path, Clock* clock, const StoreOptions& opts)
    : path_(std::move(path)),
      clock_(clock),
      pool_(std::make_unique<SqlitePool>(
          path_, SqliteOpenOptions{true, false, static_cast<int>(opts.lock_timeout_ms)})),
      readers_(std::make_unique<SqlitePool>(
          path_, SqliteOpenOptions{false, true, static_cast<int>(opts.lock_timeout_ms)})) {}

SqliteStore::~SqliteStore() = default;

std::string SqliteStore::Describe() const { return "sqlite:" + path_; }

std::unique_ptr<JobWatch> SqliteStore::Watch(std::function<void()> wake) {
  return std::make_unique<SqliteWatch>(path_, std::move(wake));
}

// ------------------------------------------------------------------ schema
namespace {

Result<int> ReadSchemaVersion(SqliteConn& c) {
  NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kSchemaVersionQuery));
  NBI_RETURN_IF_ERROR(q.Step().status());
  int have = static_cast<int>(q.I(0));
  q.Reset();
  return have;
}

Status SeedPresetCities(SqliteConn& c) {
  for (const City& city : PresetCities()) {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kSeedCity));
    NBI_RETURN_IF_ERROR(q.Str(city.slug)
                            .Str(city.name)
                            .Str(city.country)
                            .Dbl(city.bounds.min_lat)
                            .Dbl(city.bounds.min_lng)
                            .Dbl(city.bounds.max_lat)
                            .Dbl(city.bounds.max_lng)
                            .Run());
  }
  return Status::Ok();
}

// Applies migration `v` (1-based) and records it.
Status ApplyMigration(SqliteConn& c, int v, int64_t now_ms) {
  if (sql::kMigrations[v - 1] == sql::kDelayMigration) {  // found by its text: renumbering keeps it
    NBI_ASSIGN_OR_RETURN(SqliteStmt has, Query(c, sql::kHasDelayColumn));
    NBI_ASSIGN_OR_RETURN(bool row, has.Step());
    const bool present = row && has.I(0) > 0;
    NBI_RETURN_IF_ERROR(has.Drain());
    if (!present) NBI_RETURN_IF_ERROR(c.Exec(sql::kDelayColumn));
  }
  NBI_RETURN_IF_ERROR(c.Exec(sql::kMigrations[v - 1]).WithPrefix(fmt::format("migration {}: ", v)));
  NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kRecordMigration));
  NBI_RETURN_IF_ERROR(q.Int(v).Str(FormatTimestamp(now_ms, TimeStyle::kSqlUtc)).Run());
  if (v == sql::kSeedCitiesVersion) NBI_RETURN_IF_ERROR(SeedPresetCities(c));
  return Status::Ok();
}

}  // namespace

Status SqliteStore::Migrate() {
  Status s = InWriteTxnStatus(*pool_, [&](SqliteConn& c) -> Status {
    NBI_RETURN_IF_ERROR(c.Exec(sql::kCreateMigrationsTable));
    NBI_ASSIGN_OR_RETURN(int have, ReadSchemaVersion(c));
    if (have > sql::kSchemaVersion) {
      return Status::Invalid(fmt::format(
          "database schema version {} is newer than this program's {}: upgrade nearbyindex", have,
          sql::kSchemaVersion));
    }
    for (int v = have + 1; v <= sql::kSchemaVersion; ++v) {
      NBI_RETURN_IF_ERROR(ApplyMigration(c, v, clock_->NowMs()));
    }
    return Status::Ok();
  });
  // The file exists now: a later open that finds it missing must fail, not recreate it.
  if (s.ok()) pool_->StopCreating();
  return s;
}

Result<int> SqliteStore::SchemaVersion() {
  return WithConn<int>(*readers_, [&](SqliteConn& c) -> Result<int> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kSchemaVersionQuery));
    NBI_RETURN_IF_ERROR(q.Step().status());
    return static_cast<int>(q.I(0));
  });
}

Status SqliteStore::Ping() {
  NBI_RETURN_IF_ERROR(pool_->CheckFile());
  // Not writable: by permission, by its mode bits (an operator's "read-only", which root
  // would otherwise write through) or by a read-only mount.
  struct stat st {};
  struct statvfs fs {};
  if (::access(path_.c_str(), W_OK) != 0 ||
      (::stat(path_.c_str(), &st) == 0 && (st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) == 0) ||
      (::statvfs(path_.c_str(), &fs) == 0 && (fs.f_flag & ST_RDONLY) != 0)) {
    return Status::Transient(fmt::format("the SQLite database {} is not writable", path_));
  }
  NBI_ASSIGN_OR_RETURN(int v, SchemaVersion());
  if (v != sql::kSchemaVersion)
    return Status::Internal(fmt::format("schema version {} != {}", v, sql::kSchemaVersion));
  return Status::Ok();
}

// ------------------------------------------------------------------ cities
namespace {
// Reads the city columns (NBI_SQLITE_CITY_COLS order).
City ReadCity(const SqliteStmt& q) {
  return City{q.I(0), q.S(1), q.S(2), q.S(3), BBox{q.D(4), q.D(5), q.D(6), q.D(7)}};
}
}  // namespace

Result<City> SqliteStore::UpsertCity(const City& city) {
  return InWriteTxn<City>(*pool_, [&](SqliteConn& c) -> Result<City> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kUpsertCity));
    q.Str(city.slug)
        .Str(city.name)
        .Str(city.country)
        .Dbl(city.bounds.min_lat)
        .Dbl(city.bounds.min_lng)
        .Dbl(city.bounds.max_lat)
        .Dbl(city.bounds.max_lng);
    NBI_RETURN_IF_ERROR(q.Step().status());
    City out = ReadCity(q);
    q.Reset();
    return out;
  });
}

Result<std::vector<City>> SqliteStore::ListCities() {
  return WithConn<std::vector<City>>(*readers_, [&](SqliteConn& c) -> Result<std::vector<City>> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kListCities));
    std::vector<City> out;
    NBI_RETURN_IF_ERROR(q.Rows([&] { out.push_back(ReadCity(q)); }));
    return out;
  });
}

Result<City> SqliteStore::GetCity(const std::string& slug) {
  return WithConn<City>(*readers_, [&](SqliteConn& c) -> Result<City> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kGetCity));
    q.Str(slug);
    NBI_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::NotFound(fmt::format("unknown city '{}'", slug));
    City out = ReadCity(q);
    q.Reset();
    return out;
  });
}

// ------------------------------------------------------------------ POIs
namespace {
Result<int64_t> CountPois(SqliteStmt& count) {
  NBI_RETURN_IF_ERROR(count.Step().status());
  int64_t n = count.I(0);
  count.Reset();
  return n;
}

// Upserts `pois` by source_id (in the caller's transaction).
Status UpsertPoiRows(SqliteConn& c, const std::vector<Poi>& pois) {
  for (const Poi& p : pois) {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kUpsertPoi));
    q.Str(p.source_id)
        .Str(std::string(CategoryId(p.category)))
        .OptStr(p.sub == HealthSub::kNone ? std::nullopt
                                          : std::optional<std::string>(HealthSubId(p.sub)))
        .Str(p.name)
        .Dbl(p.lat)
        .Dbl(p.lng);
    NBI_RETURN_IF_ERROR(q.Run());
  }
  return Status::Ok();
}
}  // namespace

Result<PoiImportSummary> SqliteStore::UpsertPoiBatches(const PoiBatchSource& next) {
  return InWriteTxn<PoiImportSummary>(*pool_, [&](SqliteConn& c) -> Result<PoiImportSummary> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt count, Query(c, sql::kCountPois));
    NBI_ASSIGN_OR_RETURN(int64_t before, CountPois(count));
    int64_t sent = 0;
    std::vector<Poi> batch;
    while (true) {
      NBI_ASSIGN_OR_RETURN(bool more, next(&batch));
      if (!more) break;
      for (const Poi& p : batch) {
        if (!std::isfinite(p.lat) || !std::isfinite(p.lng)) {
          return Status::Invalid(fmt::format("POI {} has a non-finite position", p.source_id));
        }
      }
      NBI_RETURN_IF_ERROR(UpsertPoiRows(c, batch));
      sent += static_cast<int64_t>(batch.size());
    }
    NBI_ASSIGN_OR_RETURN(int64_t after, CountPois(count));
    PoiImportSummary sum;
    sum.inserted = after - before;
    sum.updated = sent - sum.inserted;
    if (sent > 0) NBI_RETURN_IF_ERROR(c.Exec(sql::kBumpScoringDataVersion));
    return sum;
  });
}

Result<PoiImportSummary> SqliteStore::ApplyPoiWrite(const PoiWrite& write) {
  NBI_RETURN_IF_ERROR(CheckWalkNetwork(write.network));
  return InWriteTxn<PoiImportSummary>(*pool_, [&](SqliteConn& c) -> Result<PoiImportSummary> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt count, Query(c, sql::kCountPois));
    NBI_ASSIGN_OR_RETURN(int64_t before, CountPois(count));
    NBI_RETURN_IF_ERROR(UpsertPoiRows(c, write.pois));
    NBI_ASSIGN_OR_RETURN(int64_t after, CountPois(count));
    PoiImportSummary sum;
    sum.inserted = after - before;
    sum.updated = static_cast<int64_t>(write.pois.size()) - sum.inserted;
    NBI_RETURN_IF_ERROR(SqliteUpsertWalkNetwork(c, write.network, &sum));
    for (const std::string& id : write.poi_deletes) {
      NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kDeletePoi));
      NBI_RETURN_IF_ERROR(q.Str(id).Run());
      sum.removed += c.changes();
    }
    NBI_RETURN_IF_ERROR(SqliteDeleteWalkRows(c, write.node_deletes, write.edge_deletes, &sum));
    NBI_RETURN_IF_ERROR(SqliteWriteOsmWays(c, write.ways, write.way_deletes));
    const bool wrote = !write.pois.empty() || !write.network.nodes.empty() ||
                       !write.network.edges.empty() || !write.poi_deletes.empty() ||
                       !write.node_deletes.empty() || !write.edge_deletes.empty();
    if (wrote) NBI_RETURN_IF_ERROR(c.Exec(sql::kBumpScoringDataVersion));
    return sum;
  });
}

Result<int64_t> SqliteStore::ScoringDataVersion() {
  return WithConn<int64_t>(*readers_,
                           [&](SqliteConn& c) { return QueryInt(c, sql::kScoringDataVersion); });
}

Result<std::vector<PoiPoint>> SqliteStore::LoadPoiPoints(const BBox& box) {
  using Out = std::vector<PoiPoint>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kLoadPoiPoints));
    q.Dbl(box.min_lat).Dbl(box.max_lat).Dbl(box.min_lng).Dbl(box.max_lng);
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      auto cat = ParseCategory(q.S(0));
      if (!cat) return;  // written by a newer version; not ours to score
      out.push_back({q.D(2), q.D(3), *cat, ParseHealthSub(q.S(1)).value_or(HealthSub::kNone)});
    }));
    return out;
  });
}

namespace {
// One row of kLoadPois / kLoadPoiById into `out` (a category of a newer version is skipped).
void ReadPoi(const SqliteStmt& q, std::vector<Poi>* out) {
  auto cat = ParseCategory(q.S(1));
  if (!cat) return;
  Poi p;
  p.source_id = q.S(0);
  p.category = *cat;
  p.sub = ParseHealthSub(q.S(2)).value_or(HealthSub::kNone);
  p.name = q.S(3);
  p.lat = q.D(4);
  p.lng = q.D(5);
  out->push_back(std::move(p));
}
}  // namespace

Result<std::vector<Poi>> SqliteStore::LoadPois(const BBox& box, int64_t limit) {
  return WithConn<std::vector<Poi>>(*readers_, [&](SqliteConn& c) -> Result<std::vector<Poi>> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kLoadPois));
    q.Dbl(box.min_lat).Dbl(box.max_lat).Dbl(box.min_lng).Dbl(box.max_lng).Int(limit);
    std::vector<Poi> out;
    NBI_RETURN_IF_ERROR(q.Rows([&] { ReadPoi(q, &out); }));
    return out;
  });
}

Result<std::vector<Poi>> SqliteStore::LoadPoisById(const std::vector<std::string>& ids) {
  return WithConn<std::vector<Poi>>(*readers_, [&](SqliteConn& c) -> Result<std::vector<Poi>> {
    std::vector<Poi> out;
    for (const std::string& id : ids) {
      NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kLoadPoiById));
      q.Str(id);
      NBI_RETURN_IF_ERROR(q.Rows([&] { ReadPoi(q, &out); }));
    }
    return out;
  });
}

Result<std::vector<std::pair<Category, int64_t>>> SqliteStore::CountPoisByCategory() {
  using Out = std::vector<std::pair<Category, int64_t>>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kCountPoisByCategory));
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      if (auto cat = ParseCategory(q.S(0))) out.emplace_back(*cat, q.I(1));
    }));
    std::sort(out.begin(), out.end());
    return out;
  });
}

// ------------------------------------------------------------------ cells
Result<std::vector<HeatCell>> SqliteStore::QueryCells(const BBox& box, double grid_step,
                                                      HeatModel model, int min_score,
                                                      int64_t limit) {
  using Out = std::vector<HeatCell>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kQueryCells));
    q.Dbl(box.min_lat)
        .Dbl(box.max_lat)
        .Dbl(box.min_lng)
        .Dbl(box.max_lng)
        .Dbl(grid_step)
        .Str(std::string(HeatModelId(model)))
        .Int(min_score)
        .Int(limit + 1);
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      out.push_back({q.D(0), q.D(1), static_cast<int>(q.I(2)), grid_step});
    }));
    return out;
  });
}

Result<int64_t> SqliteStore::CountCells(std::optional<double> grid_step) {
  return WithConn<int64_t>(*readers_, [&](SqliteConn& c) -> Result<int64_t> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kCountCells));
    q.OptDbl(grid_step);
    NBI_RETURN_IF_ERROR(q.Step().status());
    int64_t n = q.I(0);
    q.Reset();
    return n;
  });
}

Result<bool> SqliteStore::HasCoverage(double lat, double lng, double grid_step, HeatModel model) {
  return WithConn<bool>(*readers_, [&](SqliteConn& c) -> Result<bool> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kHasCoverage));
    q.Dbl(lat)
        .Dbl(lng)
        .Dbl(grid_step * (1 + 1e-9))
        .Dbl(grid_step)
        .Str(std::string(HeatModelId(model)));
    NBI_RETURN_IF_ERROR(q.Step().status());
    bool has = q.I(0) != 0;
    q.Reset();
    return has;
  });
}

Result<std::vector<std::pair<double, HeatModel>>> SqliteStore::CellGridsIn(const BBox& box) {
  using Out = std::vector<std::pair<double, HeatModel>>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kCellGridsIn));
    q.Dbl(box.min_lat).Dbl(box.max_lat).Dbl(box.min_lng).Dbl(box.max_lng);
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      if (auto model = ParseHeatModel(q.S(1))) out.emplace_back(q.D(0), *model);
    }));
    std::sort(out.begin(), out.end());
    return out;
  });
}

Result<int64_t> SqliteStore::QueuedCells() {
  return WithConn<int64_t>(*readers_, [&](SqliteConn& c) -> Result<int64_t> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kQueuedCells));
    int64_t cells = 0;
    NBI_RETURN_IF_ERROR(q.Rows([&] { cells = q.I(0); }));
    return cells;
  });
}

Result<std::vector<std::pair<int64_t, int64_t>>> SqliteStore::QueuedCellsOf(
    const std::vector<int64_t>& ids) {
  using Out = std::vector<std::pair<int64_t, int64_t>>;
  std::string array = "[";
  for (int64_t id : ids) array += (array.size() > 1 ? "," : "") + std::to_string(id);
  array += "]";
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kQueuedCellsOf));
    q.Str(array);
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] { out.emplace_back(q.I(0), q.I(1)); }));
    return out;
  });
}

Result<bool> SqliteStore::WriteCheckpoint(const Checkpoint& cp) {
  const int64_t now = clock_->NowMs();
  return InWriteTxn<bool>(*pool_, [&](SqliteConn& c) {
    return CheckpointIn(c, cp, now, FormatTimestamp(now, TimeStyle::kSqlUtc));
  });
}

Status SqliteStore::CheckDataVersion(SqliteConn& c, const Checkpoint& cp) {
  if (!cp.data_version) return Status::Ok();
  // In the checkpoint's write transaction: it sees the last import committed, and no import
  // commits before it does.
  NBI_ASSIGN_OR_RETURN(int64_t stored, QueryInt(c, sql::kScoringDataVersion));
  if (stored == *cp.data_version) return Status::Ok();
  return DataChanged(cp.job_id, cp.part, *cp.data_version, stored);
}

// A batch of checkpoints (JobQueue::WriteCheckpoints); each one's work is CheckpointIn
// (sqlite_queue.cc).
Result<std::vector<Result<bool>>> SqliteStore::WriteCheckpoints(std::span<const Checkpoint> cps) {
  const int64_t now = clock_->NowMs();
  const std::string ts = FormatTimestamp(now, TimeStyle::kSqlUtc);
  using Out = std::vector<Result<bool>>;
  // One write transaction (one commit) for all; each checkpoint in a savepoint of its own, so
  // that one refused leaves nothing of its own and the others stand.
  return InWriteTxn<Out>(*pool_, [&](SqliteConn& c) -> Result<Out> {
    Out out;
    out.reserve(cps.size());
    for (const Checkpoint& cp : cps) {
      NBI_RETURN_IF_ERROR(c.Exec("SAVEPOINT checkpoint"));
      Result<bool> r = CheckpointIn(c, cp, now, ts);
      // A refusal of this part alone is its result; anything else (the database failing)
      // ends the batch, and nothing is written.
      const StatusCode code = r.ok() ? StatusCode::kOk : r.status().code();
      if (code != StatusCode::kOk && code != StatusCode::kConflict &&
          code != StatusCode::kInvalidArgument && code != StatusCode::kNotFound) {
        return r.status();
      }
      if (!r.ok()) NBI_RETURN_IF_ERROR(c.Exec("ROLLBACK TO checkpoint"));
      NBI_RETURN_IF_ERROR(c.Exec("RELEASE checkpoint"));
      out.push_back(std::move(r));
    }
    return out;
  });
}

}  // namespace nbi
