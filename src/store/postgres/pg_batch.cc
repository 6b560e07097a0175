// PostgreSQL store: the batch's tail and its jobs of one chunk (pg_batch.h).
#include "store/postgres/pg_batch.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>

#include "store/postgres/pg_codec.h"
#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_tiles.h"
#include "store/queue_steps.h"

namespace nbi {

namespace {

using Key = std::pair<int64_t, HeatModel>;
Key KeyOf(const Checkpoint& cp) { return {tiles::StepKey(cp.region->step()), cp.model}; }

tiles::IndexRange Intersect(const tiles::IndexRange& a, const tiles::IndexRange& b) {
  return {std::max(a.i0, b.i0), std::min(a.i1, b.i1), std::max(a.j0, b.j0), std::min(a.j1, b.j1)};
}

tiles::IndexRange CellsOf(const Checkpoint& cp) {
  return tiles::ChunkBaseRange(*cp.region, cp.begin, cp.count());
}

}  // namespace

bool PgBatchTail::Overlaps(const Checkpoint& cp) const {
  const tiles::IndexRange r = CellsOf(cp);
  for (const Pending& p : cells_) {
    if (p.key == KeyOf(cp) && !Intersect(p.range, r).empty()) return true;
  }
  return false;
}

void PgBatchTail::AddCells(const Checkpoint& cp) {
  if (cp.count() == 0) return;
  if (copy_.data().empty()) copy_.Header();
  std::optional<int32_t> city;
  if (cp.city_id) city = static_cast<int32_t>(*cp.city_id);
  EncodeCells(*cp.region, cp.begin, cp.scores, city, now_, cp.model, &copy_);
  cells_.push_back({KeyOf(cp), CellsOf(cp)});
  jobs_.push_back(cp.job_id);
}

Status PgBatchTail::FlushCells(PgConn& c) {
  if (cells_.empty()) return Status::Ok();
  copy_.Trailer();
  NBI_RETURN_IF_ERROR(c.Exec("SAVEPOINT nbi_batch_cells", "savepoint").status());
  Status st = c.CopyIn(kCopyCells, copy_.data());
  if (st.code() == StatusCode::kConflict) {
    // Another writer's rows in the way (an overlapping job committed since the DELETE).
    NBI_RETURN_IF_ERROR(c.Exec("ROLLBACK TO SAVEPOINT nbi_batch_cells", "rollback").status());
    NBI_RETURN_IF_ERROR(c.Exec("DELETE FROM nbi_cell_stage", "clear stage").status());
    NBI_RETURN_IF_ERROR(c.CopyIn(kCopyCellStage, copy_.data()));
    st = c.Exec(kUpsertCellsFromStage).status();
    // As a single chunk's: not a lost lease but another unique index on heat_cells (the
    // original app's, SPEC §2a): a database error that fails the attempt.
    if (st.code() == StatusCode::kConflict) {
      const std::string more =
          jobs_.size() > 1 ? fmt::format(" and {} more of its batch", jobs_.size() - 1) : "";
      st = Status::Internal(
          fmt::format("writing the cells of job {}{}: {}", jobs_.front(), more, st.message()));
    }
  }
  NBI_RETURN_IF_ERROR(st);
  copy_ = PgBinaryCopy();
  cells_.clear();
  jobs_.clear();
  return c.Exec("RELEASE SAVEPOINT nbi_batch_cells", "release").status();
}

Status PgBatchTail::Flush(PgConn& c) {
  NBI_RETURN_IF_ERROR(FlushCells(c));
  // Areas of one grid step and model close together are rebuilt as one: their hull, when it
  // holds at most kSlackCells more cells than they do (a rebuild reads every cell of its range
  // at level 1, so scattered jobs stay apart). In the batch's order, which is by step and
  // model: the overview locks are taken in that order.
  constexpr int64_t kSlackCells = 4096;
  const auto cells = [](const tiles::IndexRange& r) { return r.rows() * r.cols(); };
  std::vector<PartOverviewArea> merged;
  std::vector<int64_t> held;  // base cells of the areas in merged[k]
  for (const PartOverviewArea& a : areas_) {
    bool joined = false;
    for (size_t k = 0; k < merged.size() && !joined; ++k) {
      PartOverviewArea& m = merged[k];
      if (tiles::StepKey(m.grid_step) != tiles::StepKey(a.grid_step) || m.model != a.model) {
        continue;
      }
      const tiles::IndexRange hull{std::min(m.base.i0, a.base.i0), std::max(m.base.i1, a.base.i1),
                                   std::min(m.base.j0, a.base.j0), std::max(m.base.j1, a.base.j1)};
      if (cells(hull) > held[k] + cells(a.base) + kSlackCells) continue;
      m.base = hull;
      held[k] += cells(a.base);
      joined = true;
    }
    if (!joined) {
      merged.push_back(a);
      held.push_back(cells(a.base));
    }
  }
  areas_.clear();
  for (const PartOverviewArea& m : merged) {
    NBI_RETURN_IF_ERROR(PgRebuildOverviewRange(c, m.base, m.grid_step, m.model));
  }
  return Status::Ok();
}

PgParams PgChunkCellsParams(const GridRegion& region, int64_t begin, int64_t end, HeatModel model) {
  PgParams del;
  del.Float(static_cast<float>(region.step()));
  for (const CellRect& r : ChunkRects(region, begin, end)) {
    del.Float(r.lat_lo).Float(r.lat_hi).Float(r.lng_lo).Float(r.lng_hi);
  }
  del.Text(HeatModelId(model));
  return del;
}

bool IsWholeJobChunk(const Checkpoint& cp) {
  return cp.complete && cp.region && cp.begin == 0 && cp.count() > 0 &&
         cp.count() == cp.region->cell_count();
}

bool CellsOverlap(const Checkpoint& a, const Checkpoint& b) {
  return KeyOf(a) == KeyOf(b) && !Intersect(CellsOf(a), CellsOf(b)).empty();
}

Status PgWriteWholeJobs(PgConn& c, std::span<const Checkpoint* const> cps, int64_t now,
                        PgBatchTail* tail, std::vector<Result<bool>>* out) {
  out->assign(cps.size(), Result<bool>(false));
  if (cps.empty()) return Status::Ok();
  std::vector<int64_t> ids, parts, counts;
  for (const Checkpoint* cp : cps) {
    if (cp->worker_id != cps[0]->worker_id) return Status::Internal("a batch of two workers");
    ids.push_back(cp->job_id);
    parts.push_back(cp->part);
    counts.push_back(cp->count());
  }
  NBI_ASSIGN_OR_RETURN(PgRows rows, c.Exec(kCompleteWholeJobs, PgParams()
                                                                   .Text(PgIdArray(ids))
                                                                   .Text(PgIdArray(parts))
                                                                   .Text(PgIdArray(counts))
                                                                   .Text(cps[0]->worker_id)
                                                                   .Int(now)));
  std::map<std::pair<int64_t, int64_t>, int> row_of;
  for (int r = 0; r < rows.size(); ++r) row_of[{rows.i64(r, 0), rows.i64(r, 1)}] = r;
  std::vector<const Checkpoint*> written;
  for (size_t k = 0; k < cps.size(); ++k) {
    const Checkpoint& cp = *cps[k];
    auto at = row_of.find({cp.job_id, cp.part});
    if (at == row_of.end()) {
      (*out)[k] = NotOwner(cp.job_id, cp.worker_id);
      continue;
    }
    const int r = at->second;
    if (!rows.boolean(r, 3)) {  // not completed: moved, or the job stopped running
      const int64_t stored = rows.i64(r, 2);
      (*out)[k] = stored != 0 ? PositionMoved(cp.job_id, cp.part, stored, 0)
                              : NotOwner(cp.job_id, cp.worker_id);
      continue;
    }
    if (rows.null(r, 4)) return Status::Internal("completed part of a stopped job");
    const int64_t done = rows.i64(r, 5);
    if (cp.progress) *cp.progress = {done - rows.i64(r, 6), done};
    *cp.complete = {true, true};
    (*out)[k] = rows.boolean(r, 4);
    written.push_back(&cp);
  }
  if (written.empty()) return Status::Ok();
  // Their old cells: a DELETE of its range each (an index range scan planned for the job's
  // values), in one round trip. One statement joining the ranges with heat_cells was planned
  // as a scan of the table (3 ms per batch of 32 over 850 cells, against 0.2 ms).
  std::vector<PgParams> deletes;
  std::vector<PgConn::Step> steps;
  deletes.reserve(written.size());
  for (const Checkpoint* cp : written) {
    deletes.push_back(PgChunkCellsParams(*cp->region, 0, cp->count(), cp->model));
    steps.push_back({&kDeleteChunkCells, &deletes.back()});
  }
  NBI_RETURN_IF_ERROR(c.Pipeline(steps).status());
  for (const Checkpoint* cp : written) {
    tail->AddCells(*cp);
    tail->AddArea({tiles::BaseRange(*cp->region), cp->region->step(), cp->model});
  }
  return Status::Ok();
}

}  // namespace nbi
