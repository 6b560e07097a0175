// SqliteStore: the JobQueue methods. Every write is one InWriteTxn (BEGIN IMMEDIATE), so
// read-check-write sequences (FailAttempt, Cancel, Retry) see no other writer in between.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/time_format.h"
#include "store/queue_steps.h"
#include "store/sqlite/sqlite_attempts.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_owner.h"
#include "store/sqlite/sqlite_sql.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/sqlite_tiles.h"

namespace nbi {

namespace {

std::string SqlTs(int64_t ms) { return FormatTimestamp(ms, TimeStyle::kSqlUtc); }

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
  j.part_count = static_cast<int>(q.I(18));
  return j;
}

// Reads the part columns (NBI_SQLITE_PART_COLS order) of the current row.
JobPart ReadPart(const SqliteStmt& q) {
  JobPart p;
  p.job_id = q.I(0);
  p.part = static_cast<int>(q.I(1));
  p.begin = q.I(2);
  p.end = q.I(3);
  p.next = q.I(4);
  p.status = ParsePartStatus(q.S(5)).value_or(PartStatus::kPending);
  p.attempts = static_cast<int>(q.I(6));
  if (!q.IsNull(7)) p.locked_by = q.S(7);
  if (!q.IsNull(8)) p.heartbeat_at_ms = q.I(8);
  if (!q.IsNull(9)) p.claimed_index = q.I(9);
  return p;
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

// The part `part` of job `job_id`; nullopt when there is none.
Result<std::optional<JobPart>> GetPartIn(SqliteConn& c, int64_t job_id, int part) {
  NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kSelectPart));
  q.Int(job_id).Int(part);
  NBI_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<JobPart>();
  JobPart p = ReadPart(q);
  q.Reset();
  return std::optional<JobPart>(std::move(p));
}

// The part, when worker_id runs it; else NotOwner.
Result<JobPart> OwnedPart(SqliteConn& c, int64_t job_id, int part, const std::string& worker_id) {
  NBI_ASSIGN_OR_RETURN(std::optional<JobPart> p, GetPartIn(c, job_id, part));
  if (!p || p->status != PartStatus::kRunning || p->locked_by != worker_id) {
    return NotOwner(job_id, worker_id);
  }
  return std::move(*p);
}

// SqliteStore's SQL primitives of the shared queue steps (store/queue_steps.h), in one write
// transaction on `c`: BEGIN IMMEDIATE holds the database's write lock, so "locking" a row is
// reading it, and a wake-up needs nothing (the other processes' watch sees the commit).
class SqliteQueueTxn final : public QueueTxn {
 public:
  explicit SqliteQueueTxn(SqliteConn& c) : c_(c) {}
  Result<Job> LockJob(int64_t job_id) override { return GetJobIn(c_, job_id); }
  Result<Job> ReadJob(int64_t job_id) override { return GetJobIn(c_, job_id); }
  Result<std::optional<JobPart>> LockPart(int64_t job_id, int part) override {
    return GetPartIn(c_, job_id, part);
  }
  Result<std::optional<JobPart>> OwnedPart(int64_t job_id, int part,
                                           const std::string& worker_id) override {
    NBI_ASSIGN_OR_RETURN(std::optional<JobPart> p, GetPartIn(c_, job_id, part));
    if (p && (p->status != PartStatus::kRunning || p->locked_by != worker_id)) p.reset();
    return p;
  }
  Result<std::vector<JobPart>> OwnedPartsOf(int64_t job_id, const std::string& worker_id) override {
    std::vector<JobPart> mine;
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c_, sql::kListParts));
    q.Int(job_id);
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      JobPart p = ReadPart(q);
      if (p.status == PartStatus::kRunning && p.locked_by == worker_id) mine.push_back(p);
    }));
    return mine;
  }
  Result<PartTally> TallyParts(int64_t job_id) override {
    PartTally t;
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c_, sql::kTallyParts));
    q.Int(job_id);
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      const int n = static_cast<int>(q.I(1));
      switch (ParsePartStatus(q.S(0)).value_or(PartStatus::kPending)) {
        case PartStatus::kPending:
          t.pending += n;
          break;
        case PartStatus::kRunning:
          t.running += n;
          if (!q.IsNull(4)) t.owner = q.S(4);
          break;
        case PartStatus::kCompleted:
          t.completed += n;
          break;
      }
      t.max_attempts_used = std::max(t.max_attempts_used, static_cast<int>(q.I(2)));
      if (!q.IsNull(3)) t.heartbeat_at_ms = std::max(t.heartbeat_at_ms.value_or(0), q.I(3));
    }));
    return t;
  }
  Result<Job> ApplyRollUp(const Job& job, const JobRollUp& r, const PartTally& t,
                          int64_t now) override {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c_, sql::kApplyRollUp));
    q.Str(std::string(JobStatusId(r.status)))
        .Int(r.ready_parts)
        .OptStr(r.locked_by)
        .Int(r.attempts)
        .OptInt(t.heartbeat_at_ms)
        .OptStr(r.finished_now ? std::optional<std::string>(SqlTs(now)) : std::nullopt)
        .Int(job.id);
    NBI_ASSIGN_OR_RETURN(std::optional<Job> out, OneJob(q));
    if (!out) return Status::NotFound(fmt::format("job {} not found", job.id));
    return std::move(*out);
  }
  Status SetPartState(const JobPart& p, PartStatus status, int attempts) override {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c_, sql::kSetPartState));
    return q.Str(std::string(PartStatusId(status))).Int(attempts).Int(p.job_id).Int(p.part).Run();
  }
  Status InsertAttempt(const JobAttempt& a) override { return nbi::InsertAttempt(c_, a); }
  Status FailJob(int64_t job_id, bool retry, const std::string& error, int64_t run_at,
                 int64_t now) override {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q,
                         Query(c_, retry ? sql::kFailAttemptRetry : sql::kFailAttemptFinal));
    q.Str(error);
    if (retry) {
      q.Int(run_at);
    } else {
      q.Str(SqlTs(now));
    }
    return q.Int(job_id).Run();
  }
  Status SetJobError(int64_t job_id, const std::string& error) override {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c_, sql::kJobError));
    return q.Str(error).Int(job_id).Run();
  }
  Status SetJobRunAt(int64_t job_id, int64_t run_at) override {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c_, sql::kJobRunAt));
    return q.Int(run_at).Int(job_id).Run();
  }
  Status Notify() override { return Status::Ok(); }
  Status OnPartCompleted(const Job& before, const JobPart& p) override {
    return SqliteTilesOnPartCompleted(c_, before, p);
  }

 private:
  SqliteConn& c_;
};

// Settle (store/queue_steps.h) in the write transaction on `c`.
Result<Job> Settle(SqliteConn& c, int64_t job_id, int64_t now) {
  SqliteQueueTxn t(c);
  return nbi::Settle(t, job_id, now);
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

// The upsert resolves conflicts on the cells' own key: a unique violation is another index's
// (the original app's on (lat, lng, grid_step), SPEC §2a), a database error, never kConflict
// (a lost lease).
Status CellWriteError(SqliteConn& c, int rc, int64_t job_id) {
  Status s = SqlError(c.db(), rc, "write cell");
  if (s.code() != StatusCode::kConflict) return s;
  return Status::Internal(fmt::format("writing the cells of job {}: {}", job_id, s.message()));
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
    if (rc != SQLITE_DONE) return CellWriteError(c, rc, cp.job_id);
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
  const auto parts = SplitParts(grid.cell_count(), spec.part_cells);
  NBI_ASSIGN_OR_RETURN(SqliteStmt ins, Query(c, sql::kEnqueueHeatmap));
  ins.OptInt(spec.city_id)
      .Int(grid.cell_count())
      .Str(EncodeHeatmapMetadata(spec).dump())
      .Str(SqlTs(now))
      .Int(spec.priority)
      .Int(spec.max_attempts)
      .Int(spec.run_at_ms.value_or(now))
      .Str(key)
      .Int(static_cast<int64_t>(parts.size()))
      .Str(spec.type)
      .Int(now);
  NBI_ASSIGN_OR_RETURN(std::optional<Job> job, OneJob(ins));
  if (!job) return Status::Internal("enqueue returned no row");
  NBI_ASSIGN_OR_RETURN(sqlite3_stmt * s, c.Prepare(sql::kInsertPart));
  for (size_t k = 0; k < parts.size(); ++k) {
    sqlite3_bind_int64(s, 1, job->id);
    sqlite3_bind_int64(s, 2, static_cast<int64_t>(k));
    sqlite3_bind_int64(s, 3, parts[k].first);
    sqlite3_bind_int64(s, 4, parts[k].second);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return SqlError(c.db(), rc, "insert job part");
  }
  return std::move(*job);
}

// Claims up to `max` ready parts (kClaimCandidates) for worker_id, in claim order, each
// returned as its job row with the part's fields.
Result<std::vector<Job>> ClaimParts(SqliteConn& c, const std::string& worker_id, int max,
                                    int64_t max_part_cells, int64_t now) {
  std::vector<std::pair<int64_t, int>> picks;
  {
    NBI_ASSIGN_OR_RETURN(SqliteStmt due, Query(c, sql::kPromoteDue));
    NBI_RETURN_IF_ERROR(due.Int(now).Run());
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kClaimCandidates));
    q.Int(now).Int(std::max(1, max)).Int(max_part_cells);
    NBI_RETURN_IF_ERROR(q.Rows([&] { picks.emplace_back(q.I(0), static_cast<int>(q.I(1))); }));
  }
  std::vector<JobPart> claimed;
  std::map<int64_t, Job> before;  // job id -> its row before this claim
  for (auto [job_id, part] : picks) {
    if (!before.count(job_id)) {
      NBI_ASSIGN_OR_RETURN(before[job_id], GetJobIn(c, job_id));
    }
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kClaimPart));
    q.Str(worker_id).Int(now).Int(job_id).Int(part);
    NBI_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) continue;
    claimed.push_back(ReadPart(q));
    NBI_RETURN_IF_ERROR(q.Drain());
  }
  std::map<int64_t, Job> jobs;
  for (auto& [job_id, _] : before) {
    NBI_ASSIGN_OR_RETURN(SqliteStmt st, Query(c, sql::kJobStarted));
    NBI_RETURN_IF_ERROR(st.Int(job_id).Str(SqlTs(now)).Run());
    NBI_ASSIGN_OR_RETURN(Job j, Settle(c, job_id, now));
    jobs[job_id] = std::move(j);
  }
  std::vector<Job> out;
  std::set<int64_t> started;  // jobs whose run a part of this batch starts
  for (const JobPart& p : claimed) {
    const Job& b = before[p.job_id];
    const bool starts =
        !started.count(p.job_id) && ClaimStartsRun(b.status == JobStatus::kPending, b, p);
    if (starts) started.insert(p.job_id);
    out.push_back(WithPart(jobs[p.job_id], p, starts));
  }
  return out;
}

}  // namespace

Result<EnqueueResult> SqliteStore::EnqueueHeatmap(const HeatmapJobSpec& spec) {
  NBI_ASSIGN_OR_RETURN(GridRegion grid, GridRegion::Make(spec.bounds, spec.grid_step));
  const int64_t now = clock_->NowMs();
  const std::string key = DedupeKey(spec);
  return InWriteTxn<EnqueueResult>(*pool_, [&](SqliteConn& c) -> Result<EnqueueResult> {
    NBI_ASSIGN_OR_RETURN(std::optional<Job> existing, ActiveTwin(c, key));
    if (existing && existing->priority < spec.priority) {  // raise the equal job's priority
      NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kRaisePriority));
      q.Int(spec.priority).Int(existing->id);
      NBI_ASSIGN_OR_RETURN(std::optional<Job> raised, OneJob(q));
      if (raised) return EnqueueResult{std::move(*raised), false, true};
    }
    if (existing) return EnqueueResult{std::move(*existing), false};
    NBI_ASSIGN_OR_RETURN(Job job, InsertJob(c, spec, grid, now, key));
    return EnqueueResult{std::move(job), true};
  });
}

Result<std::optional<Job>> SqliteStore::Claim(const std::string& worker_id) {
  NBI_ASSIGN_OR_RETURN(std::vector<Job> one, ClaimBatch(worker_id, 1));
  if (one.empty()) return std::optional<Job>();
  return std::optional<Job>(std::move(one.front()));
}

Result<std::vector<Job>> SqliteStore::ClaimBatch(const std::string& worker_id, int max,
                                                 int64_t max_part_cells) {
  const int64_t now = clock_->NowMs();
  using Out = std::vector<Job>;
  return InWriteTxn<Out>(*pool_, [&](SqliteConn& c) -> Result<Out> {
    return ClaimParts(c, worker_id, max, max_part_cells, now);
  });
}

// ------------------------------------------------------------------ the owner's calls
Result<bool> SqliteStore::Heartbeat(int64_t job_id, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return InWriteTxn<bool>(*pool_, [&](SqliteConn& c) -> Result<bool> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt parts, Query(c, sql::kHeartbeatParts));
    NBI_RETURN_IF_ERROR(parts.Int(now).Int(job_id).Str(worker_id).Run());
    if (c.changes() == 0) return NotOwner(job_id, worker_id);
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kHeartbeatJob));
    q.Int(now).Int(job_id);
    return OwnerUpdate(q, job_id, worker_id);
  });
}

Result<bool> SqliteStore::CheckpointIn(SqliteConn& c, const Checkpoint& cp, int64_t now,
                                       const std::string& ts) {
  const int64_t end = cp.begin + cp.count();
  NBI_ASSIGN_OR_RETURN(JobPart p, OwnedPart(c, cp.job_id, cp.part, cp.worker_id));
  if (cp.begin < p.begin || end > p.end) {
    return Status::Invalid(fmt::format("checkpoint of job {}: cells [{}, {}) outside its part",
                                       cp.job_id, cp.begin, end));
  }
  if (p.next != cp.begin) return PositionMoved(cp.job_id, cp.part, p.next, cp.begin);
  NBI_RETURN_IF_ERROR(CheckDataVersion(c, cp));
  NBI_ASSIGN_OR_RETURN(SqliteStmt part, Query(c, sql::kCheckpointPart));
  NBI_RETURN_IF_ERROR(part.Int(end).Int(now).Int(cp.job_id).Int(cp.part).Run());
  NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kCheckpointJob));
  q.Int(now).Int(end - p.next).Int(cp.job_id);
  NBI_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return NotOwner(cp.job_id, cp.worker_id);  // the job no longer runs
  const bool cancel = q.I(0) != 0;
  const int64_t done = q.I(1);
  q.Reset();
  NBI_RETURN_IF_ERROR(WriteCells(c, cp, ts));
  NBI_RETURN_IF_ERROR(SqliteTilesOnCells(c, cp));  // tiles hook: version blocks
  if (cp.complete) {  // the part's last chunk: its completion in the same transaction
    SqliteQueueTxn t(c);
    NBI_ASSIGN_OR_RETURN(const bool job_done,
                         CompletePartIn(t, cp.job_id, cp.part, cp.worker_id, now, end));
    *cp.complete = {true, job_done};
  }
  if (cp.progress) *cp.progress = {done - (end - p.next), done};
  return cancel;
}

Result<bool> SqliteStore::CompletePart(int64_t job_id, int part, const std::string& worker_id,
                                       std::optional<int64_t> written_to) {
  const int64_t now = clock_->NowMs();
  return InWriteTxn<bool>(*pool_, [&](SqliteConn& c) -> Result<bool> {
    SqliteQueueTxn t(c);
    return CompletePartIn(t, job_id, part, worker_id, now, written_to);
  });
}

Result<int> SqliteStore::CompleteBatch(const std::vector<int64_t>& job_ids,
                                       const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return InWriteTxn<int>(*pool_, [&](SqliteConn& c) -> Result<int> {
    SqliteQueueTxn t(c);
    int completed = 0;
    for (int64_t id : job_ids) {
      NBI_ASSIGN_OR_RETURN(bool job_done, CompleteOwnedPartsIn(t, id, worker_id, now));
      completed += job_done ? 1 : 0;
    }
    return completed;
  });
}

Result<Job> SqliteStore::FailPart(int64_t job_id, int part, const std::string& worker_id,
                                  const std::string& error, bool permanent) {
  const int64_t now = clock_->NowMs();
  return InWriteTxn<Job>(*pool_, [&](SqliteConn& c) -> Result<Job> {
    SqliteQueueTxn t(c);
    return FailPartIn(t, job_id, part, worker_id, error, permanent, now);
  });
}

Result<Job> SqliteStore::ReleasePart(int64_t job_id, int part, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return InWriteTxn<Job>(*pool_, [&](SqliteConn& c) -> Result<Job> {
    SqliteQueueTxn t(c);
    return ReleasePartIn(t, job_id, part, worker_id, now);
  });
}

Result<std::vector<JobPart>> SqliteStore::ListParts(int64_t job_id) {
  using Out = std::vector<JobPart>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kListParts));
    q.Int(job_id);
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] { out.push_back(ReadPart(q)); }));
    return out;
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
    NBI_ASSIGN_OR_RETURN(SqliteStmt parts, Query(c, sql::kRetryParts));
    NBI_RETURN_IF_ERROR(parts.Int(job_id).Run());
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

namespace {

// Rescues running parts (DecideRescue): each back to pending, its job failed when the part
// gave up, else its error says what happened and the part is claimable now. Returns how many.
Result<int> RescueParts(SqliteConn& c, const std::vector<std::pair<int64_t, int>>& parts,
                        int64_t now) {
  SqliteQueueTxn t(c);
  int n = 0;
  for (auto [job_id, part] : parts) {
    NBI_ASSIGN_OR_RETURN(bool done, RescuePartIn(t, job_id, part, std::nullopt, now));
    n += done ? 1 : 0;
  }
  return n;
}

// (job id, part) of each row of a statement selecting them.
Result<std::vector<std::pair<int64_t, int>>> PartKeys(SqliteStmt& q) {
  std::vector<std::pair<int64_t, int>> out;
  NBI_RETURN_IF_ERROR(q.Rows([&] { out.emplace_back(q.I(0), static_cast<int>(q.I(1))); }));
  return out;
}

}  // namespace

Result<int> SqliteStore::RescueStale(int64_t timeout_ms) {
  const int64_t now = clock_->NowMs();
  return InWriteTxn<int>(*pool_, [&](SqliteConn& c) -> Result<int> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kStaleParts));
    q.Int(now - timeout_ms);
    NBI_ASSIGN_OR_RETURN(auto parts, PartKeys(q));
    return RescueParts(c, parts, now);
  });
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
      NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kOwnerParts));
      q.Str(owner);
      NBI_ASSIGN_OR_RETURN(auto parts, PartKeys(q));
      NBI_ASSIGN_OR_RETURN(int k, RescueParts(c, parts, now));
      n += k;
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
  return InWriteTxn<int>(*pool_, [&](SqliteConn& c) -> Result<int> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt parts, Query(c, sql::kResetRunningParts));
    NBI_RETURN_IF_ERROR(parts.Run());
    std::vector<int64_t> ids;
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kRunningJobIds));
    NBI_RETURN_IF_ERROR(q.Rows([&] { ids.push_back(q.I(0)); }));
    for (int64_t id : ids) {
      NBI_ASSIGN_OR_RETURN(SqliteStmt r, Query(c, sql::kResetRunningJob));
      NBI_RETURN_IF_ERROR(r.Int(now).Int(id).Run());
      NBI_RETURN_IF_ERROR(Settle(c, id, now).status());
    }
    return static_cast<int>(ids.size());
  });
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
    NBI_RETURN_IF_ERROR(SqliteTilesOnAreaReset(c, spec));  // tiles hook: overview levels
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
        .Int(f.limit)
        .OptStr(f.type)
        .OptInt(f.city_id);
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
    q.Str(std::string(HeatModelId(SeedJobModel())));
    return OneJob(q);
  });
}

}  // namespace nbi
