// PgStore: the tile role (store/tile_store.h) and the tile hooks of the write paths
// (pg_tiles.h). SQL in pg_tiles_sql.h.
#include "store/postgres/pg_tiles.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <string>

#include "store/postgres/pg_store.h"
#include "store/postgres/pg_tiles_sql.h"
#include "tiles/overview.h"

namespace nbi {

namespace {

using tiles::DenseLevel;
using tiles::IndexRange;

// '{47.1,47.1005,...}': the stored (float4) lats of base rows i0..i1.
std::string RowLats(int64_t i0, int64_t i1, double step) {
  std::string out = "{";
  char buf[32];
  for (int64_t i = i0; i <= i1; ++i) {
    auto r =
        std::to_chars(buf, buf + sizeof buf, static_cast<float>(static_cast<double>(i) * step));
    if (i > i0) out += ',';
    out.append(buf, r.ptr);
  }
  out += '}';
  return out;
}

// The cell query's parameters for base rows [i0, i1] and columns [j0, j1] (half a step of
// margin on the float comparison; the caller filters columns exactly).
PgParams CellParams(const IndexRange& base, double step) {
  PgParams p;
  p.Text(RowLats(base.i0, base.i1, step))
      .Float(static_cast<float>((static_cast<double>(base.j0) - 0.5) * step))
      .Float(static_cast<float>((static_cast<double>(base.j1) + 0.5) * step));
  return p;
}

// Values of a binary-format result (network byte order).
uint32_t Be32(std::string_view v) {
  if (v.size() < 4) return 0;
  const auto* b = reinterpret_cast<const unsigned char*>(v.data());
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}
float BeFloat(std::string_view v) {
  const uint32_t bits = Be32(v);
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
int32_t BeInt(std::string_view v) { return static_cast<int32_t>(Be32(v)); }

// Calls fn(i, j, score) for each cell row of a binary (lat, lng, score) result, i and j
// the cell's grid indices.
template <typename F>
void ForEachCell(const PgRows& rows, double step, F&& fn) {
  for (int k = 0; k < rows.size(); ++k) {
    fn(NearestGridIndex(BeFloat(rows.text(k, 0)), step),
       NearestGridIndex(BeFloat(rows.text(k, 1)), step),
       static_cast<uint8_t>(BeInt(rows.text(k, 2))));
  }
}

PgParams LevelParams(const std::string& model, int64_t step_key, int level, const IndexRange& r) {
  PgParams p;
  p.Text(model).Int(step_key).Int(level).Int(r.i0).Int(r.i1);
  p.Int(tiles::FloorDiv(r.j0, tiles::kSegmentCells))
      .Int(tiles::FloorDiv(r.j1, tiles::kSegmentCells));
  return p;
}

Status ReadOverviewIn(PgConn& c, const std::string& model, int64_t step_key, int level,
                      const IndexRange& r, DenseLevel* out) {
  out->Reset(r);
  if (r.empty()) return Status::Ok();
  NBI_ASSIGN_OR_RETURN(PgRows rows,
                       c.Exec(kPgOverviewRead, LevelParams(model, step_key, level, r), true));
  for (int k = 0; k < rows.size(); ++k) {
    const std::string_view cells = rows.text(k, 2);
    tiles::PutSegment(out, BeInt(rows.text(k, 0)), BeInt(rows.text(k, 1)),
                      reinterpret_cast<const uint8_t*>(cells.data()), cells.size());
  }
  return Status::Ok();
}

Status ReadCellsIn(PgConn& c, const std::string& model, double step, const IndexRange& r,
                   DenseLevel* out) {
  out->Reset(r);
  if (r.empty()) return Status::Ok();
  PgParams p = CellParams(r, step);
  p.Float(static_cast<float>(step)).Text(model);
  NBI_ASSIGN_OR_RETURN(PgRows rows, c.Exec(kPgTileCells, p, true));
  ForEachCell(rows, step, [&](int64_t i, int64_t j, uint8_t score) {
    if (out->Contains(i, j)) out->At(i, j) = score;
  });
  return Status::Ok();
}

Status BumpBlocks(PgConn& c, const std::string& model, int64_t step_key, const IndexRange& b) {
  if (b.empty()) return Status::Ok();
  return c
      .Exec(kPgBumpAreaVersions,
            PgParams().Text(model).Int(step_key).Int(b.i0).Int(b.i1).Int(b.j0).Int(b.j1))
      .status();
}

// kPgOverviewReadRanges' / kPgOverviewDeleteRanges' parameters: the ranges as int arrays of
// level, rows and segment columns (an empty range as level -1: it matches no row).
PgParams OverviewRangeParams(const std::string& model, int64_t step_key,
                             const std::vector<tiles::LevelRange>& ranges) {
  std::string cols[5];
  for (const tiles::LevelRange& lr : ranges) {
    const IndexRange& r = lr.range;
    const int64_t v[5] = {lr.level, r.i0, r.i1, tiles::FloorDiv(r.j0, tiles::kSegmentCells),
                          tiles::FloorDiv(r.j1, tiles::kSegmentCells)};
    for (int c = 0; c < 5; ++c) cols[c] += (cols[c].empty() ? "" : ",") + std::to_string(v[c]);
  }
  PgParams p;
  p.Text(model).Int(step_key);
  for (const std::string& c : cols) p.Text("{" + c + "}");
  return p;
}

// The builder's view of one (step, model) inside the caller's transaction.
class PgOverviewIo final : public tiles::OverviewIo {
 public:
  PgOverviewIo(PgConn& c, double step, HeatModel model)
      : c_(c), step_(step), step_key_(tiles::StepKey(step)), model_(HeatModelId(model)) {}

  // The cells themselves, aggregated here, in bands of rows: a large area's result never sits
  // in memory whole (libpq holds a result as text). Aggregating in the server (GROUP BY over
  // computed indices) measured 4-5x slower than sending the rows.
  Status ReadLevel1FromCells(const IndexRange& r, DenseLevel* out) override {
    out->Reset(r);
    constexpr int64_t kBandRows = 64;
    for (int64_t i0 = r.i0; i0 <= r.i1; i0 += kBandRows) {
      const IndexRange band{i0, std::min(r.i1, i0 + kBandRows - 1), r.j0, r.j1};
      PgParams p = CellParams(band.Children(), step_);
      p.Float(static_cast<float>(step_)).Text(model_);
      NBI_ASSIGN_OR_RETURN(PgRows rows, c_.Exec(kPgTileCells, p, true));
      ForEachCell(rows, step_, [&](int64_t i, int64_t j, uint8_t score) {
        i = tiles::FloorDiv(i, 2);
        j = tiles::FloorDiv(j, 2);
        if (out->Contains(i, j)) out->At(i, j) = tiles::MaxScore(out->At(i, j), score);
      });
    }
    return Status::Ok();
  }
  Status ReadOverview(int level, const IndexRange& r, DenseLevel* out) override {
    return ReadOverviewIn(c_, model_, step_key_, level, r, out);
  }
  Status ReplaceSegments(int level, const DenseLevel& d) override {
    return ReplaceLevels({{level, &d}});
  }
  // Every range in one statement (kPgOverviewReadRanges).
  Status ReadOverviews(const std::vector<tiles::LevelRange>& wants,
                       std::vector<DenseLevel>* out) override {
    out->assign(wants.size(), DenseLevel{});
    std::vector<tiles::LevelRange> asked;
    for (size_t k = 0; k < wants.size(); ++k) {
      (*out)[k].Reset(wants[k].range);
      asked.push_back(wants[k].range.empty() ? tiles::LevelRange{-1, {}} : wants[k]);
    }
    NBI_ASSIGN_OR_RETURN(PgRows rows, c_.Exec(kPgOverviewReadRanges, RangeParams(asked), true));
    for (int n = 0; n < rows.size(); ++n) {
      const size_t k = static_cast<size_t>(BeInt(rows.text(n, 0)) - 1);
      if (k >= out->size()) return Status::Internal("overview row of no asked range");
      const std::string_view cells = rows.text(n, 3);
      tiles::PutSegment(&(*out)[k], BeInt(rows.text(n, 1)), BeInt(rows.text(n, 2)),
                        reinterpret_cast<const uint8_t*>(cells.data()), cells.size());
    }
    return Status::Ok();
  }
  // One DELETE of every level's range, then one COPY of every level's segments.
  Status ReplaceLevels(const std::vector<std::pair<int, const DenseLevel*>>& levels) override {
    std::vector<tiles::LevelRange> ranges;
    for (const auto& [level, d] : levels) ranges.push_back({level, d->range});
    NBI_RETURN_IF_ERROR(c_.Exec(kPgOverviewDeleteRanges, RangeParams(ranges)).status());
    PgBinaryCopy copy;
    copy.Header();
    size_t rows = 0;
    for (const auto& entry : levels) {
      // Not a structured binding: clang 14 cannot capture one in the lambda.
      const int level = entry.first;
      const auto& d = entry.second;
      tiles::ForEachSegment(*d, [&](int64_t i, int64_t jb, const uint8_t* cells) {
        copy.Row(6);
        copy.Text(model_);
        copy.Int4(static_cast<int32_t>(step_key_));
        copy.Int4(level);
        copy.Int4(static_cast<int32_t>(i));
        copy.Int4(static_cast<int32_t>(jb));
        copy.Text(std::string_view(reinterpret_cast<const char*>(cells), tiles::kSegmentCells));
        ++rows;
      });
    }
    copy.Trailer();
    if (rows == 0) return Status::Ok();
    return c_.CopyIn(kPgCopyOverviews, copy.data());
  }

 private:
  PgParams RangeParams(const std::vector<tiles::LevelRange>& ranges) const {
    return OverviewRangeParams(model_, step_key_, ranges);
  }

  PgConn& c_;
  const double step_;
  const int64_t step_key_;
  const std::string model_;
};

}  // namespace

PgParams PgOverviewLockParams(double step, HeatModel model) {
  return PgParams().Text(fmt::format("{}/{}", HeatModelId(model), tiles::StepKey(step)));
}

Status PgRebuildOverviewRange(PgConn& c, const IndexRange& base, double step, HeatModel model) {
  const std::string model_id(HeatModelId(model));
  const int64_t key = tiles::StepKey(step);
  NBI_RETURN_IF_ERROR(c.Exec(kPgOverviewLock, PgOverviewLockParams(step, model)).status());
  PgOverviewIo io(c, step, model);
  NBI_RETURN_IF_ERROR(tiles::RebuildOverviews(&io, base, tiles::MaxOverviewLevel(step)));
  return BumpBlocks(c, model_id, key, tiles::VersionBlocks(base, 0));
}

Status PgRebuildOverviews(PgConn& c, const BBox& area, double step, HeatModel model) {
  NBI_ASSIGN_OR_RETURN(GridRegion g,
                       GridRegion::Make(area, step, std::numeric_limits<int64_t>::max()));
  return PgRebuildOverviewRange(c, tiles::BaseRange(g), step, model);
}

PgParams PgTilesBumpParams(const Checkpoint& cp) {
  const IndexRange b =
      tiles::VersionBlocks(tiles::ChunkBaseRange(*cp.region, cp.begin, cp.count()), 0);
  return PgParams()
      .Text(HeatModelId(cp.model))
      .Int(tiles::StepKey(cp.region->step()))
      .Int(b.i0)
      .Int(b.i1)
      .Int(b.j0)
      .Int(b.j1);
}

Status PgTilesOnPartCompleted(PgConn& c, const Job& job, const JobPart& part) {
  // The cells the part wrote: a part completed without a checkpoint changed none.
  const auto area = OverviewAreaOfPart(job, part.begin, part.next);
  if (!area) return Status::Ok();
  return PgRebuildOverviewRange(c, area->base, area->grid_step, area->model);
}

Result<std::optional<PgParams>> PgTilesOnPartCompletedLocked(PgConn& c, const Job& job,
                                                             const JobPart& part,
                                                             double locked_step,
                                                             HeatModel locked_model) {
  using Out = std::optional<PgParams>;
  const auto area = OverviewAreaOfPart(job, part.begin, part.next);
  if (!area) return Out();
  const int64_t key = tiles::StepKey(area->grid_step);
  if (key != tiles::StepKey(locked_step) || area->model != locked_model) {
    NBI_RETURN_IF_ERROR(PgRebuildOverviewRange(c, area->base, area->grid_step, area->model));
    return Out();
  }
  PgOverviewIo io(c, area->grid_step, area->model);
  NBI_RETURN_IF_ERROR(
      tiles::RebuildOverviews(&io, area->base, tiles::MaxOverviewLevel(area->grid_step)));
  const IndexRange b = tiles::VersionBlocks(area->base, 0);
  if (b.empty()) return Out();
  return Out(
      PgParams().Text(HeatModelId(area->model)).Int(key).Int(b.i0).Int(b.i1).Int(b.j0).Int(b.j1));
}

Status PgTilesOnAreaReset(PgConn& c, const HeatmapJobSpec& spec) {
  return PgRebuildOverviews(c, spec.bounds, spec.grid_step, spec.model);
}

// ------------------------------------------------------------------ the TileStore role
Status PgStore::ReadLevel(double step, HeatModel model, int level, const IndexRange& r,
                          DenseLevel* out) {
  const std::string m(HeatModelId(model));
  auto done = WithReadConn<bool>(*pool_, [&](PgConn& c) -> Result<bool> {
    if (level == 0) {
      NBI_RETURN_IF_ERROR(ReadCellsIn(c, m, step, r, out));
    } else {
      NBI_RETURN_IF_ERROR(ReadOverviewIn(c, m, tiles::StepKey(step), level, r, out));
    }
    return true;
  });
  return done.status();
}

Result<int64_t> PgStore::AreaVersion(double step, HeatModel model, const IndexRange& b) {
  return WithReadConn<int64_t>(*pool_, [&](PgConn& c) -> Result<int64_t> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kPgAreaVersion, PgParams()
                                                              .Text(HeatModelId(model))
                                                              .Int(tiles::StepKey(step))
                                                              .Int(b.i0)
                                                              .Int(b.i1)
                                                              .Int(b.j0)
                                                              .Int(b.j1)));
    return r.i64(0, 0);
  });
}

Status PgStore::RebuildOverviews(const BBox& area, double step, HeatModel model) {
  return InTransaction<bool>(*pool_,
                             [&](PgConn& c) -> Result<bool> {
                               NBI_RETURN_IF_ERROR(PgRebuildOverviews(c, area, step, model));
                               return true;
                             })
      .status();
}

}  // namespace nbi
