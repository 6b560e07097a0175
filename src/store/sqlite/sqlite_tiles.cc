// SqliteStore: the tile role (store/tile_store.h) and the tile hooks of the write paths
// (sqlite_tiles.h). SQL in sqlite_tiles_sql.h.
#include "store/sqlite/sqlite_tiles.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <string>

#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/sqlite_tiles_sql.h"
#include "tiles/overview.h"

namespace nbi {

namespace {

using tiles::DenseLevel;
using tiles::IndexRange;

// Calls fn(j, score) for the stored cells of base row i with columns in [j0, j1].
template <typename F>
Status ForEachCellOfRow(SqliteConn& c, double step, const std::string& model, int64_t i, int64_t j0,
                        int64_t j1, F&& fn) {
  NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kTileRowCells));
  q.Dbl(static_cast<double>(i) * step)
      .Dbl((static_cast<double>(j0) - 0.5) * step)
      .Dbl((static_cast<double>(j1) + 0.5) * step)
      .Dbl(step)
      .Str(model);
  return q.Rows([&] {
    const int64_t j = NearestGridIndex(q.D(0), step);
    if (j >= j0 && j <= j1) fn(j, static_cast<uint8_t>(q.I(1)));
  });
}

Status BumpBlocks(SqliteConn& c, const std::string& model, int64_t step_key, const IndexRange& b) {
  for (int64_t bi = b.i0; bi <= b.i1; ++bi) {
    for (int64_t bj = b.j0; bj <= b.j1; ++bj) {
      NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kBumpAreaVersion));
      NBI_RETURN_IF_ERROR(q.Str(model).Int(step_key).Int(bi).Int(bj).Run());
    }
  }
  return Status::Ok();
}

Status ReadOverviewIn(SqliteConn& c, const std::string& model, int64_t step_key, int level,
                      const IndexRange& r, DenseLevel* out) {
  out->Reset(r);
  if (r.empty()) return Status::Ok();
  NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kOverviewRead));
  q.Str(model)
      .Int(step_key)
      .Int(level)
      .Int(r.i0)
      .Int(r.i1)
      .Int(tiles::FloorDiv(r.j0, tiles::kSegmentCells))
      .Int(tiles::FloorDiv(r.j1, tiles::kSegmentCells));
  return q.Rows([&] {
    const void* blob = sqlite3_column_blob(q.raw(), 2);
    const int n = sqlite3_column_bytes(q.raw(), 2);
    if (blob) tiles::PutSegment(out, q.I(0), q.I(1), static_cast<const uint8_t*>(blob), n);
  });
}

Status ReadCellsIn(SqliteConn& c, const std::string& model, double step, const IndexRange& r,
                   DenseLevel* out) {
  out->Reset(r);
  for (int64_t i = r.i0; i <= r.i1; ++i) {
    NBI_RETURN_IF_ERROR(ForEachCellOfRow(c, step, model, i, r.j0, r.j1,
                                         [&](int64_t j, uint8_t s) { out->At(i, j) = s; }));
  }
  return Status::Ok();
}

// The builder's view of one (step, model) inside the caller's transaction.
class SqliteOverviewIo final : public tiles::OverviewIo {
 public:
  SqliteOverviewIo(SqliteConn& c, double step, HeatModel model)
      : c_(c), step_(step), step_key_(tiles::StepKey(step)), model_(HeatModelId(model)) {}

  Status ReadLevel1FromCells(const IndexRange& r, DenseLevel* out) override {
    out->Reset(r);
    const IndexRange base = r.Children();
    for (int64_t i = base.i0; i <= base.i1; ++i) {
      const int64_t row = tiles::FloorDiv(i, 2);
      NBI_RETURN_IF_ERROR(
          ForEachCellOfRow(c_, step_, model_, i, base.j0, base.j1, [&](int64_t j, uint8_t s) {
            uint8_t& v = out->At(row, tiles::FloorDiv(j, 2));
            v = tiles::MaxScore(v, s);
          }));
    }
    return Status::Ok();
  }
  Status ReadOverview(int level, const IndexRange& r, DenseLevel* out) override {
    return ReadOverviewIn(c_, model_, step_key_, level, r, out);
  }
  Status ReplaceSegments(int level, const DenseLevel& d) override {
    const IndexRange& r = d.range;
    NBI_ASSIGN_OR_RETURN(SqliteStmt del, Query(c_, sql::kOverviewDelete));
    NBI_RETURN_IF_ERROR(del.Str(model_)
                            .Int(step_key_)
                            .Int(level)
                            .Int(r.i0)
                            .Int(r.i1)
                            .Int(tiles::FloorDiv(r.j0, tiles::kSegmentCells))
                            .Int(tiles::FloorDiv(r.j1, tiles::kSegmentCells))
                            .Run());
    NBI_ASSIGN_OR_RETURN(sqlite3_stmt * s, c_.Prepare(sql::kOverviewInsert));
    Status st = Status::Ok();
    tiles::ForEachSegment(d, [&](int64_t i, int64_t jb, const uint8_t* cells) {
      if (!st.ok()) return;
      sqlite3_bind_text(s, 1, model_.data(), static_cast<int>(model_.size()), SQLITE_STATIC);
      sqlite3_bind_int64(s, 2, step_key_);
      sqlite3_bind_int(s, 3, level);
      sqlite3_bind_int64(s, 4, i);
      sqlite3_bind_int64(s, 5, jb);
      sqlite3_bind_blob(s, 6, cells, tiles::kSegmentCells, SQLITE_STATIC);
      const int rc = sqlite3_step(s);
      if (rc != SQLITE_DONE) st = SqlError(c_.db(), rc, "write overview");
      sqlite3_reset(s);
    });
    return st;
  }

 private:
  SqliteConn& c_;
  const double step_;
  const int64_t step_key_;
  const std::string model_;
};

}  // namespace

Status SqliteRebuildOverviewRange(SqliteConn& c, const IndexRange& base, double step,
                                  HeatModel model) {
  SqliteOverviewIo io(c, step, model);
  NBI_RETURN_IF_ERROR(tiles::RebuildOverviews(&io, base, tiles::MaxOverviewLevel(step)));
  return BumpBlocks(c, std::string(HeatModelId(model)), tiles::StepKey(step),
                    tiles::VersionBlocks(base, 0));
}

Status SqliteRebuildOverviews(SqliteConn& c, const BBox& area, double step, HeatModel model) {
  NBI_ASSIGN_OR_RETURN(GridRegion g,
                       GridRegion::Make(area, step, std::numeric_limits<int64_t>::max()));
  return SqliteRebuildOverviewRange(c, tiles::BaseRange(g), step, model);
}

Status SqliteTilesOnCells(SqliteConn& c, const Checkpoint& cp) {
  const IndexRange cells = tiles::ChunkBaseRange(*cp.region, cp.begin, cp.count());
  if (cells.empty()) return Status::Ok();
  return BumpBlocks(c, std::string(HeatModelId(cp.model)), tiles::StepKey(cp.region->step()),
                    tiles::VersionBlocks(cells, 0));
}

Status SqliteTilesOnPartCompleted(SqliteConn& c, const Job& job, const JobPart& part) {
  // The cells the part wrote: a part completed without a checkpoint changed none.
  const auto area = OverviewAreaOfPart(job, part.begin, part.next);
  if (!area) return Status::Ok();
  return SqliteRebuildOverviewRange(c, area->base, area->grid_step, area->model);
}

Status SqliteTilesOnAreaReset(SqliteConn& c, const HeatmapJobSpec& spec) {
  return SqliteRebuildOverviews(c, spec.bounds, spec.grid_step, spec.model);
}

// ------------------------------------------------------------------ the TileStore role
Status SqliteStore::ReadLevel(double step, HeatModel model, int level, const IndexRange& r,
                              DenseLevel* out) {
  const std::string m(HeatModelId(model));
  auto done = WithConn<bool>(*readers_, [&](SqliteConn& c) -> Result<bool> {
    if (level == 0) {
      NBI_RETURN_IF_ERROR(ReadCellsIn(c, m, step, r, out));
    } else {
      NBI_RETURN_IF_ERROR(ReadOverviewIn(c, m, tiles::StepKey(step), level, r, out));
    }
    return true;
  });
  return done.status();
}

Result<int64_t> SqliteStore::AreaVersion(double step, HeatModel model, const IndexRange& b) {
  return WithConn<int64_t>(*readers_, [&](SqliteConn& c) -> Result<int64_t> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kAreaVersion));
    q.Str(std::string(HeatModelId(model))).Int(tiles::StepKey(step)).Int(b.i0).Int(b.i1);
    q.Int(b.j0).Int(b.j1);
    NBI_RETURN_IF_ERROR(q.Step().status());
    const int64_t v = q.I(0);
    q.Reset();
    return v;
  });
}

Status SqliteStore::RebuildOverviews(const BBox& area, double step, HeatModel model) {
  return InWriteTxnStatus(*pool_, [&](SqliteConn& c) -> Status {
    return SqliteRebuildOverviews(c, area, step, model);
  });
}

}  // namespace nbi
