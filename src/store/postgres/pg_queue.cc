// PostgreSQL store: the JobQueue methods (store.h). The SQL is in pg_sql.h; each method is
// one statement, or one transaction when it must read before it writes.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <string_view>
#include <utility>

#include "store/postgres/pg_codec.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_store.h"

namespace nbi {

namespace {

Status NotOwner(int64_t job_id, const std::string& worker_id) {
  return Status::Conflict(fmt::format("job {} is not running under {}", job_id, worker_id));
}

Status CheckCityId(std::optional<int64_t> city_id) {
  if (city_id && (*city_id < 1 || *city_id > std::numeric_limits<int32_t>::max())) {
    return Status::Invalid(fmt::format("unknown city id {}", *city_id));
  }
  return Status::Ok();
}

// Why a job-changing statement touched no row: the job is unknown, or in a state the
// operation does not apply to.
Result<Job> ExplainNoRow(PgConn& c, int64_t job_id, std::string_view verb,
                         std::string_view allowed) {
  NBI_ASSIGN_OR_RETURN(PgRows s, c.Exec(kJobStatusSql, PgParams().Int(job_id)));
  if (s.size() == 0) return Status::NotFound(fmt::format("job {} not found", job_id));
  return Status::Invalid(
      fmt::format("job {} is {}: only {} jobs can be {}", job_id, s.text(0, 0), allowed, verb));
}

// The job a single-row statement returned; kConflict (not the owner) when it touched none.
Result<Job> OwnedJob(const PgRows& r, int64_t job_id, const std::string& worker_id) {
  if (r.size() == 0) return NotOwner(job_id, worker_id);
  return ReadJob(r, 0);
}

std::vector<Job> ReadJobs(const PgRows& r) {
  std::vector<Job> out;
  out.reserve(r.size());
  for (int i = 0; i < r.size(); ++i) out.push_back(ReadJob(r, i));
  return out;
}

// The parameters of kDeleteChunkCells for cells [begin, end) of `region`.
PgParams ChunkCellsParams(const GridRegion& region, int64_t begin, int64_t end, HeatModel model) {
  PgParams del;
  del.Float(static_cast<float>(region.step()));
  for (const CellRect& r : ChunkRects(region, begin, end)) {
    del.Float(r.lat_lo).Float(r.lat_hi).Float(r.lng_lo).Float(r.lng_hi);
  }
  del.Text(HeatModelId(model));
  return del;
}

// kEnqueue's parameters for a new job of `spec`.
PgParams EnqueueParams(const HeatmapJobSpec& spec, const GridRegion& grid,
                       const std::string& metadata, int64_t now, const std::string& key) {
  return PgParams()
      .OptInt(spec.city_id)
      .Int(grid.cell_count())
      .Text(metadata)
      .Int(now)
      .Int(spec.max_attempts)
      .Int(spec.priority)
      .Text(key);
}

}  // namespace

Result<EnqueueResult> PgStore::EnqueueHeatmap(const HeatmapJobSpec& spec) {
  NBI_ASSIGN_OR_RETURN(GridRegion grid, GridRegion::Make(spec.bounds, spec.grid_step));
  NBI_RETURN_IF_ERROR(CheckCityId(spec.city_id));
  const int64_t now = clock_->NowMs();
  const std::string key = DedupeKey(spec);
  const std::string metadata = EncodeHeatmapMetadata(spec).dump();
  return WithConn<EnqueueResult>(*pool_, [&](PgConn& c) -> Result<EnqueueResult> {
    // Insert unless an equal job is active, else return that one. The twin may finish
    // between the two statements; then the insert goes through on the next round.
    for (int round = 0; round < 8; ++round) {
      NBI_ASSIGN_OR_RETURN(PgRows ins,
                           c.Exec(kEnqueue, EnqueueParams(spec, grid, metadata, now, key)));
      if (ins.size() > 0) return EnqueueResult{ReadJob(ins, 0), true};
      NBI_ASSIGN_OR_RETURN(PgRows twin, c.Exec(kActiveByKey, PgParams().Text(key)));
      if (twin.size() > 0) return EnqueueResult{ReadJob(twin, 0), false};
    }
    return Status::Transient("enqueue: the equal active job kept changing; try again");
  });
}

Result<std::optional<Job>> PgStore::Claim(const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return WithConn<std::optional<Job>>(*pool_, [&](PgConn& c) -> Result<std::optional<Job>> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kClaim, PgParams().Text(worker_id).Int(now)));
    if (r.size() == 0) return std::optional<Job>();
    return std::optional<Job>(ReadJob(r, 0));
  });
}

Result<std::vector<Job>> PgStore::ClaimBatch(const std::string& worker_id, int max) {
  const int64_t now = clock_->NowMs();
  return WithConn<std::vector<Job>>(*pool_, [&](PgConn& c) -> Result<std::vector<Job>> {
    NBI_ASSIGN_OR_RETURN(
        PgRows r, c.Exec(kClaimBatch, PgParams().Text(worker_id).Int(now).Int(std::max(1, max))));
    std::vector<Job> out = ReadJobs(r);
    SortInClaimOrder(&out);  // RETURNING gives no order guarantee
    return out;
  });
}

Result<int> PgStore::CompleteBatch(const std::vector<int64_t>& job_ids,
                                   const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  std::string arr = "{";
  for (size_t i = 0; i < job_ids.size(); ++i) arr += (i ? "," : "") + std::to_string(job_ids[i]);
  arr += "}";
  return WithConn<int>(*pool_, [&](PgConn& c) -> Result<int> {
    NBI_ASSIGN_OR_RETURN(PgRows r,
                         c.Exec(kCompleteBatch, PgParams().Text(arr).Text(worker_id).Int(now)));
    return static_cast<int>(r.affected());
  });
}

Result<bool> PgStore::Heartbeat(int64_t job_id, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return WithConn<bool>(*pool_, [&](PgConn& c) -> Result<bool> {
    NBI_ASSIGN_OR_RETURN(PgRows r,
                         c.Exec(kHeartbeat, PgParams().Int(job_id).Text(worker_id).Int(now)));
    if (r.size() == 0) return NotOwner(job_id, worker_id);
    return r.boolean(0, 0);
  });
}

Result<bool> PgStore::WriteCheckpoint(const Checkpoint& cp) {
  const int64_t count = cp.count();
  if (!cp.region || cp.begin < 0 || cp.begin + count > cp.region->cell_count()) {
    return Status::Invalid(fmt::format("checkpoint of job {}: cells [{}, {}) outside its region",
                                       cp.job_id, cp.begin, cp.begin + count));
  }
  NBI_RETURN_IF_ERROR(CheckCityId(cp.city_id));
  const int64_t now = clock_->NowMs();
  const int64_t end = cp.begin + count;

  // One COPY stream serves both write paths below (same column layout).
  PgBinaryCopy copy;
  if (count > 0) {
    copy.Reserve(static_cast<size_t>(count) * 54 + 32);
    copy.Header();
    std::optional<int32_t> city;
    if (cp.city_id) city = static_cast<int32_t>(*cp.city_id);
    EncodeCells(*cp.region, cp.begin, cp.scores, city, now, cp.model, &copy);
    copy.Trailer();
  }

  NBI_ASSIGN_OR_RETURN(PgLease lease, pool_->Acquire());
  PgConn& c = *lease;

  // Fast path: delete whatever this chunk's cells held and COPY straight into heat_cells
  // (a fresh area deletes nothing). Measured at 1.5-2.5x the speed of COPY into a staging
  // table plus INSERT ... ON CONFLICT DO UPDATE, and close to a bare COPY. Only a concurrent
  // writer of the same cells (an overlapping job committing between our DELETE and COPY)
  // makes the COPY hit the unique index; then the whole chunk is redone as that upsert,
  // which tolerates anything.
  for (bool upsert : {false, true}) {
    if (upsert && count > 0) {
      NBI_RETURN_IF_ERROR(c.EnsureTempTable(&c.cell_stage_ready, kCreateCellStage));
    }
    PgTxn txn(c);
    NBI_RETURN_IF_ERROR(txn.Begin());
    NBI_ASSIGN_OR_RETURN(
        PgRows job,
        c.Exec(kCheckpointJob, PgParams().Int(cp.job_id).Text(cp.worker_id).Int(end).Int(now)));
    if (job.size() == 0) return NotOwner(cp.job_id, cp.worker_id);
    const bool cancel_requested = job.boolean(0, 0);
    if (count > 0 && !upsert) {
      NBI_RETURN_IF_ERROR(
          c.Exec(kDeleteChunkCells, ChunkCellsParams(*cp.region, cp.begin, end, cp.model))
              .status());
      Status st = c.CopyIn(kCopyCells, copy.data());
      if (st.code() == StatusCode::kConflict) continue;  // rolled back; redo as an upsert
      NBI_RETURN_IF_ERROR(st);
    } else if (count > 0) {
      NBI_RETURN_IF_ERROR(c.CopyIn(kCopyCellStage, copy.data()));
      NBI_RETURN_IF_ERROR(c.Exec(kUpsertCellsFromStage).status());
    }
    NBI_RETURN_IF_ERROR(txn.Commit());
    return cancel_requested;
  }
  return Status::Internal("unreachable");
}

Status PgStore::Complete(int64_t job_id, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  auto done = WithConn<bool>(*pool_, [&](PgConn& c) -> Result<bool> {
    NBI_ASSIGN_OR_RETURN(PgRows r,
                         c.Exec(kComplete, PgParams().Int(job_id).Text(worker_id).Int(now)));
    if (r.size() == 0) return NotOwner(job_id, worker_id);
    return true;
  });
  return done.status();
}

Result<Job> PgStore::FailAttempt(int64_t job_id, const std::string& worker_id,
                                 const std::string& error, bool permanent) {
  const int64_t now = clock_->NowMs();
  // The backoff depends on the attempt count, which only the row knows: lock the row, decide
  // here with RetryBackoffMs (shared with the SQLite store), then write.
  return InTransaction<Job>(*pool_, [&](PgConn& c) -> Result<Job> {
    NBI_ASSIGN_OR_RETURN(PgRows cur, c.Exec(kLockOwnedJob, PgParams().Int(job_id).Text(worker_id)));
    if (cur.size() == 0) return NotOwner(job_id, worker_id);
    const int attempts = static_cast<int>(cur.i64(0, 0));
    const int max_attempts = static_cast<int>(cur.i64(0, 1));
    const bool retry = !permanent && attempts < max_attempts;
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kFail, PgParams()
                                                     .Int(job_id)
                                                     .Text(worker_id)
                                                     .Bool(retry)
                                                     .Text(error)
                                                     .Int(now + RetryBackoffMs(attempts))
                                                     .Int(now)));
    return OwnedJob(r, job_id, worker_id);
  });
}

Result<Job> PgStore::Release(int64_t job_id, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return WithConn<Job>(*pool_, [&](PgConn& c) -> Result<Job> {
    NBI_ASSIGN_OR_RETURN(PgRows r,
                         c.Exec(kRelease, PgParams().Int(job_id).Text(worker_id).Int(now)));
    return OwnedJob(r, job_id, worker_id);
  });
}

Result<Job> PgStore::Cancel(int64_t job_id) {
  const int64_t now = clock_->NowMs();
  return WithConn<Job>(*pool_, [&](PgConn& c) -> Result<Job> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kCancel, PgParams().Int(job_id).Int(now)));
    if (r.size() == 0) return ExplainNoRow(c, job_id, "cancelled", "pending or running");
    return ReadJob(r, 0);
  });
}

Result<Job> PgStore::Retry(int64_t job_id) {
  const int64_t now = clock_->NowMs();
  return WithConn<Job>(*pool_, [&](PgConn& c) -> Result<Job> {
    auto r = c.Exec(kRetry, PgParams().Int(job_id).Int(now));
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
  const int64_t now = clock_->NowMs();
  return WithConn<int>(*pool_, [&](PgConn& c) -> Result<int> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kRescueStale, PgParams().Int(now).Int(now - timeout_ms)));
    return static_cast<int>(r.i64(0, 0));
  });
}

Result<int> PgStore::RescueDeadOwners() {
  const int64_t now = clock_->NowMs();
  return WithConn<int>(*pool_, [&](PgConn& c) -> Result<int> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kRescueDeadOwners, PgParams().Int(now)));
    return static_cast<int>(r.i64(0, 0));
  });
}

Result<std::optional<Job>> PgStore::NextPending() {
  return WithReadConn<std::optional<Job>>(*pool_, [&](PgConn& c) -> Result<std::optional<Job>> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kNextPending));
    if (r.size() == 0) return std::optional<Job>();
    return std::optional<Job>(ReadJob(r, 0));
  });
}

Result<int> PgStore::ResetRunning() {
  const int64_t now = clock_->NowMs();
  return WithConn<int>(*pool_, [&](PgConn& c) -> Result<int> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kResetRunning, PgParams().Int(now)));
    return static_cast<int>(r.i64(0, 0));
  });
}

Result<int> PgStore::PruneFinished(int64_t age_ms) {
  const int64_t now = clock_->NowMs();
  return WithConn<int>(*pool_, [&](PgConn& c) -> Result<int> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kPruneFinished, PgParams().Int(now - age_ms)));
    return static_cast<int>(r.affected());
  });
}

Result<Job> PgStore::GetJob(int64_t job_id) {
  return WithReadConn<Job>(*pool_, [&](PgConn& c) -> Result<Job> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kSelectJob, PgParams().Int(job_id)));
    if (r.size() == 0) return Status::NotFound(fmt::format("job {} not found", job_id));
    return ReadJob(r, 0);
  });
}

Result<std::vector<Job>> PgStore::ListJobs(const JobFilter& f) {
  return WithReadConn<std::vector<Job>>(*pool_, [&](PgConn& c) -> Result<std::vector<Job>> {
    PgParams p;
    p.Int(f.before_id.value_or(std::numeric_limits<int64_t>::max()));
    // A negative limit means no limit (LIMIT NULL), as in SQLite.
    if (f.limit >= 0) {
      p.Int(f.limit);
    } else {
      p.Null();
    }
    if (f.status) p.Text(JobStatusId(*f.status));
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(f.status ? kListJobsByStatus : kListJobs, p));
    return ReadJobs(r);
  });
}

Result<std::vector<std::pair<JobStatus, int64_t>>> PgStore::CountJobsByStatus() {
  using Out = std::vector<std::pair<JobStatus, int64_t>>;
  return WithReadConn<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kCountJobs));
    Out out;
    for (int i = 0; i < r.size(); ++i) {
      if (auto s = ParseJobStatus(r.text(i, 0))) out.emplace_back(*s, r.i64(i, 1));
    }
    std::sort(out.begin(), out.end());
    return out;
  });
}

Result<std::optional<Job>> PgStore::FindActiveJobCovering(double lat, double lng, double grid_step,
                                                          HeatModel model) {
  return WithReadConn<std::optional<Job>>(*pool_, [&](PgConn& c) -> Result<std::optional<Job>> {
    NBI_ASSIGN_OR_RETURN(
        PgRows r, c.Exec(kFindCovering, PgParams().Double(lat).Double(lng).Double(grid_step).Text(
                                            HeatModelId(model))));
    if (r.size() == 0) return std::optional<Job>();
    return std::optional<Job>(ReadJob(r, 0));
  });
}

Result<std::optional<Job>> PgStore::ActiveJobFor(const HeatmapJobSpec& spec) {
  const std::string key = DedupeKey(spec);
  return WithReadConn<std::optional<Job>>(*pool_, [&](PgConn& c) -> Result<std::optional<Job>> {
    NBI_ASSIGN_OR_RETURN(PgRows twin, c.Exec(kActiveByKey, PgParams().Text(key)));
    if (twin.size() == 0) return std::optional<Job>();
    return std::optional<Job>(ReadJob(twin, 0));
  });
}

Result<std::pair<int64_t, EnqueueResult>> PgStore::ResetAndEnqueue(const HeatmapJobSpec& spec) {
  NBI_ASSIGN_OR_RETURN(GridRegion g, GridRegion::Make(spec.bounds, spec.grid_step));
  NBI_RETURN_IF_ERROR(CheckCityId(spec.city_id));
  const int64_t now = clock_->NowMs();
  const std::string key = DedupeKey(spec);
  const std::string metadata = EncodeHeatmapMetadata(spec).dump();
  using Out = std::pair<int64_t, EnqueueResult>;
  return InTransaction<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
    // An equal active job blocks the reset. Checked first (its cells are not touched), and
    // again by the insert's ON CONFLICT for one enqueued concurrently.
    NBI_ASSIGN_OR_RETURN(PgRows twin, c.Exec(kActiveByKey, PgParams().Text(key)));
    if (twin.size() > 0) return ActiveJobConflict(ReadJob(twin, 0));
    // The area's cells are exactly those its job would write: the region's grid points.
    // Selecting them by index range (not by comparing floats with the box) keeps an edge row
    // whose float rounds just below the box.
    NBI_ASSIGN_OR_RETURN(
        PgRows cells,
        c.Exec(kResetAreaCells,
               PgParams()
                   .Float(static_cast<float>(g.step()))
                   .Float(static_cast<float>(g.LatOfRow(g.first_row())))
                   .Float(static_cast<float>(g.LatOfRow(g.first_row() + g.rows() - 1)))
                   .Float(static_cast<float>(g.LngOfCol(g.first_col())))
                   .Float(static_cast<float>(g.LngOfCol(g.first_col() + g.cols() - 1)))
                   .Text(HeatModelId(spec.model))));
    NBI_RETURN_IF_ERROR(c.Exec(kResetAreaJobs, PgParams().Text(key)).status());
    NBI_ASSIGN_OR_RETURN(PgRows ins, c.Exec(kEnqueue, EnqueueParams(spec, g, metadata, now, key)));
    if (ins.size() == 0) {
      NBI_ASSIGN_OR_RETURN(PgRows again, c.Exec(kActiveByKey, PgParams().Text(key)));
      if (again.size() > 0) return ActiveJobConflict(ReadJob(again, 0));
      return Status::Transient("reset: an equal job appeared and ended meanwhile; try again");
    }
    return Out{cells.affected(), EnqueueResult{ReadJob(ins, 0), true}};
  });
}

}  // namespace nbi
