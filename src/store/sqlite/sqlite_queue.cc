// SqliteStore: the JobQueue methods. Every write is one InWriteTxn (BEGIN IMMEDIATE), so
// read-check-write sequences (FailAttempt, Cancel, Retry) see no other writer in between.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_owner.h"
#include "store/sqlite/sqlite_sql.h"
#include "store/sqlite/sqlite_store.h"

namespace nbi {

namespace {

std::string SqlTs(int64_t ms) { return FormatTimestamp(ms, TimeStyle::kSqlUtc); }

// A lease check failed: the job is not running under this worker (any more).
Status NotOwner(int64_t job_id, const std::string& worker_id) {
  return Status::Conflict(fmt::format("job {} is not running under {}", job_id, worker_id));
}

// Reads the job columns (NBI_SQLITE_JOB_COLS order) of the current row.
Job ReadJob(const SqliteStmt& q) {
  Job j;
  j.id = q.I(0);
  j.type = q.S(1);
  j.status = ParseJobStatus(q.S(2)).value_or(JobStatus::kFailed);
  if (!q.IsNull(3)) j.city_id = q.I(3);
  j.progress = static_cast<int>(q.I(4));
  j.total_items = q.I(5);
  if (!q.IsNull(6)) j.error = q.S(6);
  j.metadata = nlohmann::json::parse(q.IsNull(7) ? std::string("{}") : q.S(7), nullptr, false);
  if (j.metadata.is_discarded() || !j.metadata.is_object()) j.metadata = nlohmann::json::object();
  j.created_at_ms = ParseSqlTimestamp(q.C(8)).value_or(0);
  j.started_at_ms = ParseSqlTimestamp(q.C(9));
  j.completed_at_ms = ParseSqlTimestamp(q.C(10));
  j.attempts = static_cast<int>(q.I(11));
  j.max_attempts = static_cast<int>(q.I(12));
  j.priority = static_cast<int>(q.I(13));
  j.run_at_ms = q.I(14);
  if (!q.IsNull(15)) j.heartbeat_at_ms = q.I(15);
  if (!q.IsNull(16)) j.locked_by = q.S(16);
  j.cancel_requested = q.I(17) != 0;
  return j;
}

// Runs a statement that returns job columns; nullopt when no row. The statement is stepped
// to its end so that its write completes before COMMIT.
Result<std::optional<Job>> OneJob(SqliteStmt& q) {
  NBI_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<Job>();
  Job j = ReadJob(q);
  NBI_RETURN_IF_ERROR(q.Drain());
  return std::optional<Job>(std::move(j));
}

// The job `id` as seen by connection `c`. kNotFound when unknown.
Result<Job> GetJobIn(SqliteConn& c, int64_t id) {
  NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kSelectJob));
  q.Int(id);
  NBI_ASSIGN_OR_RETURN(std::optional<Job> j, OneJob(q));
  if (!j) return Status::NotFound(fmt::format("job {} not found", id));
  return std::move(*j);
}

// Runs a lease-checked statement (one row when worker_id owns the running job) whose first
// column is cancel_requested. NotOwner when there is no row.
Result<bool> OwnerUpdate(SqliteStmt& q, int64_t job_id, const std::string& worker_id) {
  NBI_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return NotOwner(job_id, worker_id);
  bool first = q.I(0) != 0;
  q.Reset();
  return first;
}

// Upserts the cells of a checkpoint (one prepared statement, re-bound per cell).
Status WriteCells(SqliteConn& c, const Checkpoint& cp, const std::string& ts) {
  NBI_ASSIGN_OR_RETURN(sqlite3_stmt * s, c.Prepare(sql::kUpsertCell));
  const double step = cp.region->step();
  const std::string_view model = HeatModelId(cp.model);
  for (int64_t k = 0; k < cp.count(); ++k) {
    LatLng at = cp.region->CellAt(cp.begin + k);
    sqlite3_bind_double(s, 1, at.lat);
    sqlite3_bind_double(s, 2, at.lng);
    sqlite3_bind_int(s, 3, cp.scores[static_cast<size_t>(k)]);
    sqlite3_bind_double(s, 4, step);
    if (cp.city_id)
      sqlite3_bind_int64(s, 5, *cp.city_id);
    else
      sqlite3_bind_null(s, 5);
    sqlite3_bind_text(s, 6, ts.data(), static_cast<int>(ts.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 7, model.data(), static_cast<int>(model.size()), SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) return SqlError(c.db(), rc, "write cell");
    sqlite3_reset(s);
  }
  return Status::Ok();
}

// Runs a statement without results in a write transaction; returns the rows it changed.
template <typename Bind>
Result<int> ChangeRows(SqlitePool& pool, const char* sql, Bind&& bind) {
  return InWriteTxn<int>(pool, [&](SqliteConn& c) -> Result<int> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql));
    bind(q);
    NBI_RETURN_IF_ERROR(q.Run());
    return c.changes();
  });
}

}  // namespace

// ------------------------------------------------------------------ enqueue and claim
namespace {

// The active job with the spec's dedupe key, if any.
Result<std::optional<Job>> ActiveTwin(SqliteConn& c, const std::string& key) {
  NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kActiveJobByKey));
  q.Str(key);
  return OneJob(q);
}

Result<Job> InsertJob(SqliteConn& c, const HeatmapJobSpec& spec, const GridRegion& grid,
                      int64_t now, const std::string& key) {
  NBI_ASSIGN_OR_RETURN(SqliteStmt ins, Query(c, sql::kEnqueueHeatmap));
  ins.OptInt(spec.city_id)
      .Int(grid.cell_count())
      .Str(EncodeHeatmapMetadata(spec).dump())
      .Str(SqlTs(now))
      .Int(spec.priority)
      .Int(spec.max_attempts)
      .Int(now)
      .Str(key);
  NBI_ASSIGN_OR_RETURN(std::optional<Job> job, OneJob(ins));
  if (!job) return Status::Internal("enqueue returned no row");
  return std::move(*job);
}

}  // namespace

Result<EnqueueResult> SqliteStore::EnqueueHeatmap(const HeatmapJobSpec& spec) {
  NBI_ASSIGN_OR_RETURN(GridRegion grid, GridRegion::Make(spec.bounds, spec.grid_step));
  const int64_t now = clock_->NowMs();
  const std::string key = DedupeKey(spec);
  return InWriteTxn<EnqueueResult>(*pool_, [&](SqliteConn& c) -> Result<EnqueueResult> {
    NBI_ASSIGN_OR_RETURN(std::optional<Job> existing, ActiveTwin(c, key));
    if (existing) return EnqueueResult{std::move(*existing), false};
    NBI_ASSIGN_OR_RETURN(Job job, InsertJob(c, spec, grid, now, key));
    return EnqueueResult{std::move(job), true};
  });
}

Result<std::optional<Job>> SqliteStore::Claim(const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  using Out = std::optional<Job>;
  return InWriteTxn<Out>(*pool_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kClaim));
    q.Str(worker_id).Int(now).Str(SqlTs(now));
    return OneJob(q);
  });
}

Result<std::vector<Job>> SqliteStore::ClaimBatch(const std::string& worker_id, int max) {
  const int64_t now = clock_->NowMs();
  using Out = std::vector<Job>;
  return InWriteTxn<Out>(*pool_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kClaimBatch));
    q.Str(worker_id).Int(now).Str(SqlTs(now)).Int(std::max(1, max));
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] { out.push_back(ReadJob(q)); }));
    SortInClaimOrder(&out);  // RETURNING gives no order guarantee
    return out;
  });
}

// ------------------------------------------------------------------ the owner's calls
Result<bool> SqliteStore::Heartbeat(int64_t job_id, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return InWriteTxn<bool>(*pool_, [&](SqliteConn& c) -> Result<bool> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kHeartbeat));
    q.Int(now).Int(job_id).Str(worker_id);
    return OwnerUpdate(q, job_id, worker_id);
  });
}

Result<bool> SqliteStore::WriteCheckpoint(const Checkpoint& cp) {
  const int64_t now = clock_->NowMs();
  const std::string ts = SqlTs(now);
  return InWriteTxn<bool>(*pool_, [&](SqliteConn& c) -> Result<bool> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kCheckpointJob));
    q.Int(now).Int(cp.begin + cp.count()).Int(cp.job_id).Str(cp.worker_id);
    NBI_ASSIGN_OR_RETURN(bool cancel, OwnerUpdate(q, cp.job_id, cp.worker_id));
    NBI_RETURN_IF_ERROR(WriteCells(c, cp, ts));
    return cancel;
  });
}

Status SqliteStore::Complete(int64_t job_id, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return InWriteTxnStatus(*pool_, [&](SqliteConn& c) -> Status {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kComplete));
    q.Str(SqlTs(now)).Int(now).Int(job_id).Str(worker_id);
    return OwnerUpdate(q, job_id, worker_id).status();
  });
}

Result<int> SqliteStore::CompleteBatch(const std::vector<int64_t>& job_ids,
                                       const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  const std::string ids = nlohmann::json(job_ids).dump();
  return ChangeRows(*pool_, sql::kCompleteBatch,
                    [&](SqliteStmt& q) { q.Str(SqlTs(now)).Int(now).Str(ids).Str(worker_id); });
}

Result<Job> SqliteStore::FailAttempt(int64_t job_id, const std::string& worker_id,
                                     const std::string& error, bool permanent) {
  const int64_t now = clock_->NowMs();
  return InWriteTxn<Job>(*pool_, [&](SqliteConn& c) -> Result<Job> {
    NBI_ASSIGN_OR_RETURN(Job cur, GetJobIn(c, job_id));
    if (cur.status != JobStatus::kRunning || cur.locked_by != worker_id) {
      return NotOwner(job_id, worker_id);
    }
    const bool retry = !permanent && cur.attempts < cur.max_attempts;
    NBI_ASSIGN_OR_RETURN(SqliteStmt q,
                         Query(c, retry ? sql::kFailAttemptRetry : sql::kFailAttemptFinal));
    q.Str(error);
    if (retry)
      q.Int(now + RetryBackoffMs(cur.attempts));
    else
      q.Str(SqlTs(now));
    q.Int(job_id);
    NBI_RETURN_IF_ERROR(q.Run());
    return GetJobIn(c, job_id);
  });
}

Result<Job> SqliteStore::Release(int64_t job_id, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return InWriteTxn<Job>(*pool_, [&](SqliteConn& c) -> Result<Job> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kRelease));
    q.Str(SqlTs(now)).Int(now).Int(job_id).Str(worker_id);
    NBI_RETURN_IF_ERROR(OwnerUpdate(q, job_id, worker_id).status());
    return GetJobIn(c, job_id);
  });
}

// ------------------------------------------------------------------ operator calls
Result<Job> SqliteStore::Cancel(int64_t job_id) {
  const int64_t now = clock_->NowMs();
  return InWriteTxn<Job>(*pool_, [&](SqliteConn& c) -> Result<Job> {
    NBI_ASSIGN_OR_RETURN(Job cur, GetJobIn(c, job_id));
    const char* stmt = nullptr;
    if (cur.status == JobStatus::kPending) {
      stmt = sql::kCancelPending;
    } else if (cur.status == JobStatus::kRunning) {
      stmt = sql::kCancelRunning;
    } else {
      return Status::Invalid(
          fmt::format("job {} is {}: only pending or running jobs can be cancelled", job_id,
                      JobStatusId(cur.status)));
    }
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, stmt));
    NBI_RETURN_IF_ERROR(q.Str(SqlTs(now)).Int(job_id).Run());
    return GetJobIn(c, job_id);
  });
}

Result<Job> SqliteStore::Retry(int64_t job_id) {
  const int64_t now = clock_->NowMs();
  return InWriteTxn<Job>(*pool_, [&](SqliteConn& c) -> Result<Job> {
    NBI_ASSIGN_OR_RETURN(Job cur, GetJobIn(c, job_id));
    if (cur.status != JobStatus::kFailed && cur.status != JobStatus::kCancelled) {
      return Status::Invalid(
          fmt::format("job {} is {}: only failed or cancelled jobs can be retried", job_id,
                      JobStatusId(cur.status)));
    }
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kRetry));
    Status s = q.Int(now).Int(job_id).Run();
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
  return ChangeRows(*pool_, sql::kRescueStale,
                    [&](SqliteStmt& q) { q.Int(now).Int(timeout_ms).Str(SqlTs(now)); });
}

Result<std::unique_ptr<OwnerLease>> SqliteStore::HoldOwnerLease(const std::string& worker_id) {
  NBI_ASSIGN_OR_RETURN(auto lease, SqliteOwnerLease::Hold(path_, worker_id));
  return std::unique_ptr<OwnerLease>(std::move(lease));
}

Result<int> SqliteStore::RescueDeadOwners() {
  using Owners = std::vector<std::string>;
  NBI_ASSIGN_OR_RETURN(Owners owners,
                       WithConn<Owners>(*readers_, [&](SqliteConn& c) -> Result<Owners> {
                         NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kRunningOwners));
                         Owners out;
                         NBI_RETURN_IF_ERROR(q.Rows([&] { out.push_back(q.S(0)); }));
                         return out;
                       }));
  std::erase_if(owners, [&](const std::string& id) { return OwnerAlive(path_, id); });
  if (owners.empty()) return 0;
  const int64_t now = clock_->NowMs();
  auto rescued = InWriteTxn<int>(*pool_, [&](SqliteConn& c) -> Result<int> {
    int n = 0;
    for (const std::string& owner : owners) {
      NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kRescueOwner));
      NBI_RETURN_IF_ERROR(q.Int(now).Str(owner).Str(SqlTs(now)).Run());
      n += c.changes();
    }
    return n;
  });
  if (rescued.ok()) {
    for (const std::string& owner : owners) RemoveDeadOwnerFile(path_, owner);
  }
  return rescued;
}

Result<std::optional<Job>> SqliteStore::NextPending() {
  return WithConn<std::optional<Job>>(*readers_, [&](SqliteConn& c) -> Result<std::optional<Job>> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kNextPending));
    return OneJob(q);
  });
}

Result<int> SqliteStore::ResetRunning() {
  const int64_t now = clock_->NowMs();
  return ChangeRows(*pool_, sql::kResetRunning, [&](SqliteStmt& q) { q.Int(now); });
}

Result<int> SqliteStore::PruneFinished(int64_t age_ms) {
  const int64_t now = clock_->NowMs();
  return ChangeRows(*pool_, sql::kPruneFinished,
                    [&](SqliteStmt& q) { q.Str(SqlTs(now - age_ms)); });
}

Result<std::optional<Job>> SqliteStore::ActiveJobFor(const HeatmapJobSpec& spec) {
  const std::string key = DedupeKey(spec);
  return WithConn<std::optional<Job>>(*readers_, [&](SqliteConn& c) { return ActiveTwin(c, key); });
}

Result<std::pair<int64_t, EnqueueResult>> SqliteStore::ResetAndEnqueue(const HeatmapJobSpec& spec) {
  NBI_ASSIGN_OR_RETURN(GridRegion grid, GridRegion::Make(spec.bounds, spec.grid_step));
  const int64_t now = clock_->NowMs();
  const std::string key = DedupeKey(spec);
  using Out = std::pair<int64_t, EnqueueResult>;
  return InWriteTxn<Out>(*pool_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(std::optional<Job> active, ActiveTwin(c, key));
    if (active) return ActiveJobConflict(*active);
    NBI_ASSIGN_OR_RETURN(SqliteStmt cells, Query(c, sql::kResetAreaCells));
    NBI_RETURN_IF_ERROR(cells.Dbl(grid.LatOfRow(grid.first_row()))
                            .Dbl(grid.LatOfRow(grid.first_row() + grid.rows() - 1))
                            .Dbl(grid.LngOfCol(grid.first_col()))
                            .Dbl(grid.LngOfCol(grid.first_col() + grid.cols() - 1))
                            .Dbl(spec.grid_step)
                            .Str(std::string(HeatModelId(spec.model)))
                            .Run());
    const int64_t deleted = c.changes();
    NBI_ASSIGN_OR_RETURN(SqliteStmt jobs, Query(c, sql::kResetAreaJobs));
    NBI_RETURN_IF_ERROR(jobs.Str(key).Run());
    NBI_ASSIGN_OR_RETURN(Job job, InsertJob(c, spec, grid, now, key));
    return Out{deleted, EnqueueResult{std::move(job), true}};
  });
}

// ------------------------------------------------------------------ reads
Result<Job> SqliteStore::GetJob(int64_t job_id) {
  return WithConn<Job>(*readers_, [&](SqliteConn& c) { return GetJobIn(c, job_id); });
}

Result<std::vector<Job>> SqliteStore::ListJobs(const JobFilter& f) {
  using Out = std::vector<Job>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kListJobs));
    q.OptStr(f.status ? std::optional<std::string>(JobStatusId(*f.status)) : std::nullopt)
        .OptInt(f.before_id)
        .Int(f.limit);
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] { out.push_back(ReadJob(q)); }));
    return out;
  });
}

Result<std::vector<std::pair<JobStatus, int64_t>>> SqliteStore::CountJobsByStatus() {
  using Out = std::vector<std::pair<JobStatus, int64_t>>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kCountJobsByStatus));
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      if (auto s = ParseJobStatus(q.S(0))) out.emplace_back(*s, q.I(1));
    }));
    std::sort(out.begin(), out.end());
    return out;
  });
}

Result<std::optional<Job>> SqliteStore::FindActiveJobCovering(double lat, double lng,
                                                              double grid_step, HeatModel model) {
  using Out = std::optional<Job>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kFindActiveJobCovering));
    q.Dbl(lat).Dbl(lng).Dbl(grid_step).Str(std::string(HeatModelId(model)));
    return OneJob(q);
  });
}

}  // namespace nbi
