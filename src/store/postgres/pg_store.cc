// PostgreSQL store: construction, schema, cities, POIs, cells and the watch. The queue is in
// pg_queue.cc, the SQL in pg_sql.h, the libpq plumbing in pg_conn.{h,cc}. See pg_store.h.
#include "store/postgres/pg_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "store/postgres/pg_codec.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_walk.h"
#include "store/postgres/pg_walk_sql.h"
#include "store/postgres/pg_watch.h"
#include "store/walk_rows.h"

namespace nbi {

namespace {

PgParams CityParams(const City& city) {
  PgParams p;
  p.Text(city.slug)
      .Text(city.name)
      .Text(city.country)
      .Double(city.bounds.min_lat)
      .Double(city.bounds.min_lng)
      .Double(city.bounds.max_lat)
      .Double(city.bounds.max_lng);
  return p;
}

// Applies the migration after the database's current version, if any, in `c`'s open
// transaction. Returns whether one was applied.
Result<bool> MigrateOneStep(PgConn& c, int64_t now_ms) {
  NBI_RETURN_IF_ERROR(c.Exec(kMigrationLimits).status());
  NBI_RETURN_IF_ERROR(c.Exec(kLockMigrations, PgParams().Int(kMigrationLockKey)).status());
  NBI_RETURN_IF_ERROR(c.Exec(kCreateMigrationsTable).status());
  NBI_ASSIGN_OR_RETURN(PgRows have, c.Exec(kSchemaVersionSql));
  const int v = static_cast<int>(have.i64(0, 0));
  if (v > kSchemaVersion) {
    return Status::Invalid(
        fmt::format("database schema version {} is newer than this program's {}: upgrade "
                    "nearbyindex",
                    v, kSchemaVersion));
  }
  if (v == kSchemaVersion) return false;
  const int next = v + 1;
  // The takeover step (v10; found by its text, so renumbering keeps it): the cells under the
  // original app's unique index are its worker's output, of SEED_JOB_MODEL (SPEC §2a);
  // labelled before the index goes.
  if (kMigrations[next - 1] == kPgTakeoverMigration) {
    NBI_ASSIGN_OR_RETURN(PgRows seed, c.Exec(kHasSeedCellIndex));
    if (seed.boolean(0, 0) && SeedJobModel() != HeatModel::kGrocery) {
      NBI_RETURN_IF_ERROR(
          c.Exec(kSeedCellsModel, PgParams().Text(HeatModelId(SeedJobModel()))).status());
    }
  }
  auto m = c.Exec(kMigrations[next - 1]);
  if (!m.ok()) return m.status().WithPrefix(fmt::format("migration {}: ", next));
  if (next == 2) {
    // The original app's cities have NOT NULL lat/lng (SPEC §2a).
    NBI_ASSIGN_OR_RETURN(PgRows seed, c.Exec(kCitiesHaveLat));
    const PgSql& insert = seed.boolean(0, 0) ? kInsertPresetCitySeed : kInsertPresetCity;
    for (const City& city : PresetCities()) {
      NBI_RETURN_IF_ERROR(c.Exec(insert, CityParams(city)).status());
    }
  }
  NBI_RETURN_IF_ERROR(c.Exec(kRecordMigration, PgParams().Int(next).Int(now_ms)).status());
  return true;
}

// One POI per source_id, in first-seen order with the last values: one upsert statement may
// not touch a row twice, and this is what upserting the rows one by one would leave behind.
Result<std::vector<const Poi*>> FoldDuplicates(const std::vector<Poi>& pois) {
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
  return rows;
}

// The COPY stream of nbi_poi_stage (ord = position in `rows`).
void EncodePois(const std::vector<const Poi*>& rows, PgBinaryCopy* copy) {
  copy->Reserve(rows.size() * 96);
  copy->Header();
  for (size_t i = 0; i < rows.size(); ++i) {
    const Poi& p = *rows[i];
    copy->Row(7);
    copy->Int8(static_cast<int64_t>(i));
    copy->Text(p.source_id);
    copy->Text(CategoryId(p.category));
    if (p.sub == HealthSub::kNone) {
      copy->Null();
    } else {
      copy->Text(HealthSubId(p.sub));
    }
    copy->Text(p.name);
    copy->Float8(p.lat);
    copy->Float8(p.lng);
  }
  copy->Trailer();
}

}  // namespace

PgStore::PgStore(std::string conninfo, Clock* clock, const StoreOptions& opts)
    : conninfo_(std::move(conninfo)),
      db_clock_(clock == SystemClock::Get() ? std::make_unique<SourcedClock>(clock) : nullptr),
      clock_(db_clock_ ? db_clock_.get() : clock),
      pool_(std::make_unique<PgPool>(conninfo_, opts)) {}

Status PgStore::ReadDatabaseClock() {
  if (!db_clock_) return Status::Ok();
  // The reading of the shortest round trip of three (a reading sits somewhere within its
  // round trip; one delayed by a busy machine would move this process's clock off the others').
  return WithReadConn<int>(*pool_,
                           [&](PgConn& c) -> Result<int> {
                             int64_t best_rtt = -1, source = 0, before = 0, after = 0;
                             for (int i = 0; i < 3; ++i) {
                               const int64_t t0 = db_clock_->base()->SteadyUs();
                               NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kDatabaseClockUs));
                               const int64_t t1 = db_clock_->base()->SteadyUs();
                               if (best_rtt < 0 || t1 - t0 < best_rtt) {
                                 best_rtt = t1 - t0, source = r.i64(0, 0), before = t0, after = t1;
                               }
                             }
                             db_clock_->Read(source, before, after);
                             return 0;
                           })
      .status();
}

PgStore::~PgStore() = default;

std::string PgStore::Describe() const { return DescribeConninfo(conninfo_); }

std::unique_ptr<JobWatch> PgStore::Watch(std::function<void()> wake) {
  return std::make_unique<PgWatch>(conninfo_, std::move(wake));
}

// ------------------------------------------------------------------ schema

Status PgStore::Migrate() {
  // Opening the store: from here on its times are the database's.
  NBI_RETURN_IF_ERROR(ReadDatabaseClock());
  for (;;) {
    // One transaction per migration: a crash leaves the database at a whole version.
    auto step = [&](PgConn& c) { return MigrateOneStep(c, clock_->NowMs()); };
    NBI_ASSIGN_OR_RETURN(bool applied, InTransaction<bool>(*pool_, step));
    if (!applied) return Status::Ok();
  }
}

Result<int> PgStore::SchemaVersion() {
  return WithReadConn<int>(*pool_, [&](PgConn& c) -> Result<int> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kSchemaVersionSql));
    return static_cast<int>(r.i64(0, 0));
  });
}

Status PgStore::Ping() {
  NBI_ASSIGN_OR_RETURN(int v, SchemaVersion());
  if (v != kSchemaVersion) {
    return Status::Internal(fmt::format("schema version {} != {}", v, kSchemaVersion));
  }
  return Status::Ok();
}

// ------------------------------------------------------------------ cities

Result<City> PgStore::UpsertCity(const City& city) {
  return WithConn<City>(*pool_, [&](PgConn& c) -> Result<City> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kUpsertCity, CityParams(city)));
    return ReadCity(r, 0);
  });
}

Result<std::vector<City>> PgStore::ListCities() {
  return WithReadConn<std::vector<City>>(*pool_, [&](PgConn& c) -> Result<std::vector<City>> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kListCities));
    std::vector<City> out;
    for (int i = 0; i < r.size(); ++i) out.push_back(ReadCity(r, i));
    return out;
  });
}

Result<City> PgStore::GetCity(const std::string& slug) {
  return WithReadConn<City>(*pool_, [&](PgConn& c) -> Result<City> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kGetCity, PgParams().Text(slug)));
    if (r.size() == 0) return Status::NotFound(fmt::format("unknown city '{}'", slug));
    return ReadCity(r, 0);
  });
}

// ------------------------------------------------------------------ POIs

namespace {

// A PostgreSQL array literal of texts, each quoted: {"n1","w2"}.
std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char ch : values[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace

Result<PoiImportSummary> PgStore::ApplyPoiWrite(const PoiWrite& write) {
  const std::vector<Poi>& pois = write.pois;
  const WalkNetwork& network = write.network;
  NBI_ASSIGN_OR_RETURN(std::vector<const Poi*> rows, FoldDuplicates(pois));
  NBI_RETURN_IF_ERROR(CheckWalkNetwork(network));
  const bool walk = !network.nodes.empty() || !network.edges.empty();
  const bool deletes =
      !write.poi_deletes.empty() || !write.node_deletes.empty() || !write.edge_deletes.empty();
  if (rows.empty() && !walk && !deletes) return PoiImportSummary{};
  PgBinaryCopy copy;
  if (!rows.empty()) EncodePois(rows, &copy);

  NBI_ASSIGN_OR_RETURN(PgLease lease, pool_->Acquire());
  PgConn& c = *lease;
  NBI_RETURN_IF_ERROR(c.EnsureTempTable(&c.poi_stage_ready, kCreatePoiStage));
  if (walk) NBI_RETURN_IF_ERROR(c.EnsureTempTable(&c.walk_stage_ready, kCreateWalkStage));
  PgTxn txn(c);
  NBI_RETURN_IF_ERROR(txn.Begin());
  PoiImportSummary sum;
  if (!rows.empty()) {
    NBI_RETURN_IF_ERROR(c.CopyIn(kCopyPoiStage, copy.data()));
    NBI_ASSIGN_OR_RETURN(PgRows up, c.Exec(kUpsertPoisFromStage));
    sum.inserted = up.i64(0, 0);
  }
  sum.updated = static_cast<int64_t>(pois.size()) - sum.inserted;
  NBI_RETURN_IF_ERROR(PgUpsertWalkNetwork(c, network, &sum));
  if (!write.poi_deletes.empty()) {
    NBI_ASSIGN_OR_RETURN(PgRows d,
                         c.Exec(kDeletePois, PgParams().Text(TextArray(write.poi_deletes))));
    sum.removed = d.affected();
  }
  NBI_RETURN_IF_ERROR(PgDeleteWalkRows(c, write.node_deletes, write.edge_deletes, &sum));
  NBI_RETURN_IF_ERROR(PgWriteOsmWays(c, write.ways, write.way_deletes));
  // Last, so that the lock it waits for (running checkpoints) is held only to the COMMIT.
  NBI_RETURN_IF_ERROR(c.Exec(kBumpDataVersion).status());
  NBI_RETURN_IF_ERROR(txn.Commit());
  return sum;
}

Result<PoiImportSummary> PgStore::UpsertPoiBatches(const PoiBatchSource& next) {
  NBI_ASSIGN_OR_RETURN(PgLease lease, pool_->Acquire());
  PgConn& c = *lease;
  NBI_RETURN_IF_ERROR(c.EnsureTempTable(&c.poi_stage_ready, kCreatePoiStage));
  PgTxn txn(c);
  NBI_RETURN_IF_ERROR(txn.Begin());
  PoiImportSummary sum;
  std::vector<Poi> batch;
  while (true) {
    NBI_ASSIGN_OR_RETURN(bool more, next(&batch));
    if (!more) break;
    NBI_ASSIGN_OR_RETURN(std::vector<const Poi*> rows, FoldDuplicates(batch));
    if (rows.empty()) continue;
    PgBinaryCopy copy;
    EncodePois(rows, &copy);
    // The stage empties only at commit: the batch before this one is still in it.
    NBI_RETURN_IF_ERROR(c.Exec(kClearPoiStage, "clear the POI stage").status());
    NBI_RETURN_IF_ERROR(c.CopyIn(kCopyPoiStage, copy.data()));
    NBI_ASSIGN_OR_RETURN(PgRows up, c.Exec(kUpsertPoisFromStage));
    const int64_t inserted = up.i64(0, 0);
    sum.inserted += inserted;
    sum.updated += static_cast<int64_t>(batch.size()) - inserted;
  }
  if (sum.inserted + sum.updated > 0) NBI_RETURN_IF_ERROR(c.Exec(kBumpDataVersion).status());
  NBI_RETURN_IF_ERROR(txn.Commit());
  return sum;
}

Result<int64_t> PgStore::ScoringDataVersion() {
  return WithReadConn<int64_t>(*pool_, [&](PgConn& c) -> Result<int64_t> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kDataVersion));
    return r.i64(0, 0);
  });
}

Result<std::vector<PoiPoint>> PgStore::LoadPoiPoints(const BBox& box) {
  using Out = std::vector<PoiPoint>;
  return WithReadConn<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kLoadPoiPoints, PgParams()
                                                              .Double(box.min_lat)
                                                              .Double(box.max_lat)
                                                              .Double(box.min_lng)
                                                              .Double(box.max_lng)));
    Out out;
    out.reserve(r.size());
    for (int i = 0; i < r.size(); ++i) {
      auto category = ParseCategory(r.text(i, 0));
      if (!category) continue;  // written by a newer version; not ours to score
      out.push_back({r.f64(i, 2), r.f64(i, 3), *category,
                     ParseHealthSub(r.text(i, 1)).value_or(HealthSub::kNone)});
    }
    NBI_ASSIGN_OR_RETURN(bool overture, HasOverturePois(c));
    if (overture) NBI_RETURN_IF_ERROR(PgLoadOverturePoints(c, box, &out));
    return out;
  });
}

namespace {
// The POI columns of kLoadPois / kLoadPoisById.
std::vector<Poi> ReadPois(const PgRows& r) {
  std::vector<Poi> out;
  out.reserve(r.size());
  for (int i = 0; i < r.size(); ++i) {
    auto category = ParseCategory(r.text(i, 1));
    if (!category) continue;  // written by a newer version; not ours to score
    Poi p;
    p.source_id = r.str(i, 0);
    p.category = *category;
    p.sub = ParseHealthSub(r.text(i, 2)).value_or(HealthSub::kNone);
    p.name = r.str(i, 3);
    p.lat = r.f64(i, 4);
    p.lng = r.f64(i, 5);
    out.push_back(std::move(p));
  }
  return out;
}
}  // namespace

Result<std::vector<Poi>> PgStore::LoadPois(const BBox& box, int64_t limit) {
  return WithReadConn<std::vector<Poi>>(*pool_, [&](PgConn& c) -> Result<std::vector<Poi>> {
    NBI_ASSIGN_OR_RETURN(
        PgRows r,
        c.Exec(kLoadPois, PgParams()
                              .Double(box.min_lat)
                              .Double(box.max_lat)
                              .Double(box.min_lng)
                              .Double(box.max_lng)
                              .OptInt(limit >= 0 ? std::optional<int64_t>(limit) : std::nullopt)));
    std::vector<Poi> out = ReadPois(r);
    NBI_ASSIGN_OR_RETURN(bool overture, HasOverturePois(c));
    const int64_t left = limit < 0 ? -1 : limit - static_cast<int64_t>(out.size());
    if (overture && left != 0) NBI_RETURN_IF_ERROR(PgLoadOverturePois(c, box, left, &out));
    return out;
  });
}

Result<std::vector<Poi>> PgStore::LoadPoisById(const std::vector<std::string>& ids) {
  if (ids.empty()) return std::vector<Poi>{};
  return WithReadConn<std::vector<Poi>>(*pool_, [&](PgConn& c) -> Result<std::vector<Poi>> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kLoadPoisById, PgParams().Text(TextArray(ids))));
    return ReadPois(r);
  });
}

Result<std::vector<std::pair<Category, int64_t>>> PgStore::CountPoisByCategory() {
  using Out = std::vector<std::pair<Category, int64_t>>;
  return WithReadConn<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kCountPois));
    Out out;
    for (int i = 0; i < r.size(); ++i) {
      if (auto category = ParseCategory(r.text(i, 0))) out.emplace_back(*category, r.i64(i, 1));
    }
    std::sort(out.begin(), out.end());
    return out;
  });
}

// ------------------------------------------------------------------ cells

Result<std::vector<HeatCell>> PgStore::QueryCells(const BBox& box, double grid_step,
                                                  HeatModel model, int min_score, int64_t limit) {
  return WithReadConn<std::vector<HeatCell>>(
      *pool_, [&](PgConn& c) -> Result<std::vector<HeatCell>> {
        NBI_ASSIGN_OR_RETURN(PgRows r,
                             c.Exec(kQueryCells, PgParams()
                                                     .Float(static_cast<float>(box.min_lat))
                                                     .Float(static_cast<float>(box.max_lat))
                                                     .Float(static_cast<float>(box.min_lng))
                                                     .Float(static_cast<float>(box.max_lng))
                                                     .Float(static_cast<float>(grid_step))
                                                     .Int(min_score)
                                                     .Int(std::max<int64_t>(limit, 0) + 1)
                                                     .Text(HeatModelId(model))));
        std::vector<HeatCell> out;
        out.reserve(r.size());
        for (int i = 0; i < r.size(); ++i) {
          out.push_back({r.f32(i, 0), r.f32(i, 1), static_cast<int>(r.i64(i, 2)), grid_step});
        }
        return out;
      });
}

Result<int64_t> PgStore::CountCells(std::optional<double> grid_step) {
  return WithReadConn<int64_t>(*pool_, [&](PgConn& c) -> Result<int64_t> {
    NBI_ASSIGN_OR_RETURN(
        PgRows r, grid_step
                      ? c.Exec(kCountCellsOfStep, PgParams().Float(static_cast<float>(*grid_step)))
                      : c.Exec(kCountCells));
    return r.i64(0, 0);
  });
}

Result<bool> PgStore::HasCoverage(double lat, double lng, double grid_step, HeatModel model) {
  // "Within one step" measured on the stored floats: widen each bound by one float ulp so
  // that rounding the cell's coordinate cannot push a cell exactly one step away outside.
  const double reach = grid_step * (1 + 1e-9);
  auto lo = [](double v) {
    return std::nextafter(static_cast<float>(v), -std::numeric_limits<float>::infinity());
  };
  auto hi = [](double v) {
    return std::nextafter(static_cast<float>(v), std::numeric_limits<float>::infinity());
  };
  return WithReadConn<bool>(*pool_, [&](PgConn& c) -> Result<bool> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kHasCoverage, PgParams()
                                                            .Float(lo(lat - reach))
                                                            .Float(hi(lat + reach))
                                                            .Float(lo(lng - reach))
                                                            .Float(hi(lng + reach))
                                                            .Float(static_cast<float>(grid_step))
                                                            .Text(HeatModelId(model))));
    return r.boolean(0, 0);
  });
}

Result<std::vector<std::pair<double, HeatModel>>> PgStore::CellGridsIn(const BBox& box) {
  using Out = std::vector<std::pair<double, HeatModel>>;
  return WithReadConn<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
    // Widened by a float's rounding: the columns are real.
    const double pad = 1e-4;
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kCellGridsIn, PgParams()
                                                            .Double(box.min_lat - pad)
                                                            .Double(box.max_lat + pad)
                                                            .Double(box.min_lng - pad)
                                                            .Double(box.max_lng + pad)));
    Out out;
    for (int i = 0; i < r.size(); ++i) {
      auto model = ParseHeatModel(r.text(i, 1));
      if (!model) continue;                                           // written by a newer version
      out.emplace_back(std::round(r.f64(i, 0) * 1e7) / 1e7, *model);  // real -> the step
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  });
}

Result<int64_t> PgStore::QueuedCells() {
  return WithReadConn<int64_t>(*pool_, [&](PgConn& c) -> Result<int64_t> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kQueuedCells));
    return r.i64(0, 0);
  });
}

Result<std::vector<std::pair<int64_t, int64_t>>> PgStore::QueuedCellsOf(
    const std::vector<int64_t>& ids) {
  using Out = std::vector<std::pair<int64_t, int64_t>>;
  std::string array = "{";
  for (int64_t id : ids) array += (array.size() > 1 ? "," : "") + std::to_string(id);
  const PgParams p = PgParams().Text(array + "}");
  return WithReadConn<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kQueuedCellsOf, p));
    Out out;
    for (int i = 0; i < r.size(); ++i) out.emplace_back(r.i64(i, 0), r.i64(i, 1));
    return out;
  });
}

}  // namespace nbi
