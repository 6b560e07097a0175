// PostgreSQL store: the JobQueue methods (store.h). The SQL is in pg_sql.h; each method is
// one statement, or one transaction when it must read before it writes.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <string_view>
#include <utility>

#include "store/postgres/pg_attempts.h"
#include "store/postgres/pg_codec.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_store.h"
#include "store/postgres/pg_tiles.h"

namespace nbi {

Status PgNotOwner(int64_t job_id, const std::string& worker_id) {
  return Status::Conflict(fmt::format("job {} is not running under {}", job_id, worker_id));
}

Status PgCheckCityId(std::optional<int64_t> city_id) {
  if (city_id && (*city_id < 1 || *city_id > std::numeric_limits<int32_t>::max())) {
    return Status::Invalid(fmt::format("unknown city id {}", *city_id));
  }
  return Status::Ok();
}

namespace {

// Why a job-changing statement touched no row: the job is unknown, or in a state the
// operation does not apply to.
Result<Job> ExplainNoRow(PgConn& c, int64_t job_id, std::string_view verb,
                         std::string_view allowed) {
  NBI_ASSIGN_OR_RETURN(PgRows s, c.Exec(kJobStatusSql, PgParams().Int(job_id)));
  if (s.size() == 0) return Status::NotFound(fmt::format("job {} not found", job_id));
  return Status::Invalid(
      fmt::format("job {} is {}: only {} jobs can be {}", job_id, s.text(0, 0), allowed, verb));
}

std::vector<Job> ReadJobs(const PgRows& r) {
  std::vector<Job> out;
  out.reserve(r.size());
  for (int i = 0; i < r.size(); ++i) out.push_back(ReadJob(r, i));
  return out;
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
      .Text(key)
      .Int(static_cast<int64_t>(SplitParts(grid.cell_count(), spec.part_cells).size()))
      .Int(spec.run_at_ms.value_or(now))
      .Text(spec.type);
}

// The equal active job an enqueue found, its priority raised to the spec's when lower.
Result<EnqueueResult> Twin(PgConn& c, const PgRows& twin, const HeatmapJobSpec& spec) {
  EnqueueResult out{ReadJob(twin, 0), false};
  if (out.job.priority >= spec.priority) return out;
  NBI_ASSIGN_OR_RETURN(PgRows up,
                       c.Exec(kRaisePriority, PgParams().Int(out.job.id).Int(spec.priority)));
  if (up.size() > 0) {
    out.job = ReadJob(up, 0);
    out.priority_raised = true;
  }
  return out;
}

// Inserts the parts of a job just enqueued (kEnqueue's row).
Status InsertParts(PgConn& c, const Job& job) {
  return c.Exec(kInsertParts, PgParams().Int(job.id).Int(job.total_items).Int(job.part_count))
      .status();
}

// A claimed part as the runner sees it: its job's row with the part's range and lease.
Job WithPart(Job job, const JobPart& p, bool starts_job) {
  job.part = p.part;
  job.part_begin = p.begin;
  job.part_end = p.end;
  job.part_next = p.next;
  job.attempts = p.attempts;
  job.locked_by = p.locked_by;
  job.heartbeat_at_ms = p.heartbeat_at_ms;
  job.starts_job = starts_job;
  return job;
}

// Brings the job's queue columns in line with its parts (RollUp) after a part changed state.
// The caller's transaction holds the job's row lock (kLockJob or an UPDATE of it), so this
// statement's snapshot sees every other change of the job's parts.
Result<Job> Settle(PgConn& c, int64_t job_id, int64_t now) {
  NBI_ASSIGN_OR_RETURN(PgRows cur, c.Exec(kSelectJob, PgParams().Int(job_id)));
  if (cur.size() == 0) return Status::NotFound(fmt::format("job {} not found", job_id));
  const Job job = ReadJob(cur, 0);
  NBI_ASSIGN_OR_RETURN(PgRows t, c.Exec(kTallyParts, PgParams().Int(job_id)));
  PartTally tally;
  for (int i = 0; i < t.size(); ++i) {
    const int n = static_cast<int>(t.i64(i, 1));
    switch (ParsePartStatus(t.text(i, 0)).value_or(PartStatus::kPending)) {
      case PartStatus::kPending:
        tally.pending += n;
        break;
      case PartStatus::kRunning:
        tally.running += n;
        if (!t.null(i, 4)) tally.owner = t.str(i, 4);
        break;
      case PartStatus::kCompleted:
        tally.completed += n;
        break;
    }
    tally.max_attempts_used = std::max(tally.max_attempts_used, static_cast<int>(t.i64(i, 2)));
    if (auto hb = t.opt_i64(i, 3)) {
      tally.heartbeat_at_ms = std::max(tally.heartbeat_at_ms.value_or(0), *hb);
    }
  }
  const JobRollUp r = RollUp(job, tally);
  PgParams p;
  p.Int(job_id).Text(JobStatusId(r.status)).Int(r.ready_parts);
  if (r.locked_by) {
    p.Text(*r.locked_by);
  } else {
    p.Null();
  }
  p.Int(r.attempts)
      .OptInt(tally.heartbeat_at_ms)
      .OptInt(r.finished_now ? std::optional<int64_t>(now) : std::nullopt);
  NBI_ASSIGN_OR_RETURN(PgRows out, c.Exec(kApplyRollUp, p));
  if (out.size() == 0) return Status::NotFound(fmt::format("job {} not found", job_id));
  return ReadJob(out, 0);
}

// Locks the job's row; kNotFound when unknown.
Result<Job> LockJob(PgConn& c, int64_t job_id) {
  NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kLockJob, PgParams().Int(job_id)));
  if (r.size() == 0) return Status::NotFound(fmt::format("job {} not found", job_id));
  return ReadJob(r, 0);
}

// The part, locked, when worker_id runs it; else NotOwner.
Result<JobPart> OwnedPart(PgConn& c, int64_t job_id, int part, const std::string& worker_id) {
  NBI_ASSIGN_OR_RETURN(PgRows r,
                       c.Exec(kSelectOwnedPart, PgParams().Int(job_id).Int(part).Text(worker_id)));
  if (r.size() == 0) return PgNotOwner(job_id, worker_id);
  return ReadPart(r, 0);
}

Status SetPartState(PgConn& c, const JobPart& p, PartStatus status, int attempts) {
  return c
      .Exec(kSetPartState,
            PgParams().Int(p.job_id).Int(p.part).Text(PartStatusId(status)).Int(attempts))
      .status();
}

// Settles each job of the claimed parts (in job id order, so concurrent claimers lock jobs
// in one order) and returns the claims, in claim order. A part whose job stopped meanwhile
// (cancel, failure) is given back instead.
Result<std::vector<Job>> SettleClaims(PgConn& c, const std::vector<JobPart>& parts, int64_t now) {
  std::map<int64_t, std::pair<bool, Job>> jobs;  // id -> (was pending, settled row)
  for (const JobPart& p : parts) jobs[p.job_id];
  for (auto& [id, entry] : jobs) {
    NBI_ASSIGN_OR_RETURN(PgRows st, c.Exec(kJobStarted, PgParams().Int(id).Int(now)));
    if (st.size() == 0) return Status::Internal(fmt::format("claimed part of missing job {}", id));
    entry.first = st.text(0, 0) == std::string_view("pending");
    NBI_ASSIGN_OR_RETURN(entry.second, Settle(c, id, now));
    if (entry.second.status == JobStatus::kRunning && !entry.second.cancel_requested) continue;
    for (const JobPart& p : parts) {
      if (p.job_id != id) continue;
      NBI_RETURN_IF_ERROR(c.Exec(kUnclaimPart, PgParams().Int(id).Int(p.part)).status());
    }
    NBI_ASSIGN_OR_RETURN(entry.second, Settle(c, id, now));
  }
  std::vector<Job> out;
  std::map<int64_t, bool> seen;
  for (const JobPart& p : parts) {
    const auto& [was_pending, job] = jobs[p.job_id];
    if (job.status != JobStatus::kRunning) continue;
    const bool starts = !seen[p.job_id] && ClaimStartsRun(was_pending, job, p);
    if (starts) seen[p.job_id] = true;
    out.push_back(WithPart(job, p, starts));
  }
  return out;
}

}  // namespace

Result<EnqueueResult> PgStore::EnqueueHeatmap(const HeatmapJobSpec& spec) {
  NBI_ASSIGN_OR_RETURN(GridRegion grid, GridRegion::Make(spec.bounds, spec.grid_step));
  NBI_RETURN_IF_ERROR(PgCheckCityId(spec.city_id));
  const int64_t now = clock_->NowMs();
  const std::string key = DedupeKey(spec);
  const std::string metadata = EncodeHeatmapMetadata(spec).dump();
  return InTransaction<EnqueueResult>(*pool_, [&](PgConn& c) -> Result<EnqueueResult> {
    // Insert unless an equal job is active, else return that one. The twin may finish
    // between the two statements; then the insert goes through on the next round.
    for (int round = 0; round < 8; ++round) {
      NBI_ASSIGN_OR_RETURN(PgRows ins,
                           c.Exec(kEnqueue, EnqueueParams(spec, grid, metadata, now, key)));
      if (ins.size() > 0) {
        Job job = ReadJob(ins, 0);
        NBI_RETURN_IF_ERROR(InsertParts(c, job));
        return EnqueueResult{std::move(job), true};
      }
      NBI_ASSIGN_OR_RETURN(PgRows twin, c.Exec(kActiveByKey, PgParams().Text(key)));
      if (twin.size() > 0) return Twin(c, twin, spec);
    }
    return Status::Transient("enqueue: the equal active job kept changing; try again");
  });
}

Result<std::optional<Job>> PgStore::Claim(const std::string& worker_id) {
  NBI_ASSIGN_OR_RETURN(std::vector<Job> one, ClaimBatch(worker_id, 1));
  if (one.empty()) return std::optional<Job>();
  return std::optional<Job>(std::move(one.front()));
}

Result<std::vector<Job>> PgStore::ClaimBatch(const std::string& worker_id, int max) {
  const int64_t now = clock_->NowMs();
  return InTransaction<std::vector<Job>>(*pool_, [&](PgConn& c) -> Result<std::vector<Job>> {
    NBI_ASSIGN_OR_RETURN(
        PgRows r, c.Exec(kClaimParts, PgParams().Text(worker_id).Int(now).Int(std::max(1, max))));
    std::vector<JobPart> parts;
    for (int i = 0; i < r.size(); ++i) parts.push_back(ReadPart(r, i));
    if (parts.empty()) return std::vector<Job>();
    NBI_ASSIGN_OR_RETURN(std::vector<Job> out, SettleClaims(c, parts, now));
    // RETURNING gives no order guarantee: claim order is job priority, job, part.
    std::stable_sort(out.begin(), out.end(), [](const Job& a, const Job& b) {
      if (a.priority != b.priority) return a.priority > b.priority;
      return a.id != b.id ? a.id < b.id : a.part < b.part;
    });
    return out;
  });
}

Result<int> PgStore::CompleteBatch(const std::vector<int64_t>& job_ids,
                                   const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  std::vector<int64_t> ids = job_ids;
  std::sort(ids.begin(), ids.end());  // one lock order for every caller
  return InTransaction<int>(*pool_, [&](PgConn& c) -> Result<int> {
    int completed = 0;
    for (int64_t id : ids) {
      NBI_ASSIGN_OR_RETURN(PgRows mine, c.Exec(kOwnedPartsOf, PgParams().Int(id).Text(worker_id)));
      if (mine.size() == 0) continue;
      NBI_RETURN_IF_ERROR(LockJob(c, id).status());
      for (int i = 0; i < mine.size(); ++i) {
        const JobPart p = ReadPart(mine, i);
        NBI_RETURN_IF_ERROR(SetPartState(c, p, PartStatus::kCompleted, p.attempts));
      }
      NBI_ASSIGN_OR_RETURN(Job after, Settle(c, id, now));
      if (after.status == JobStatus::kCompleted) ++completed;
    }
    return completed;
  });
}

Result<bool> PgStore::Heartbeat(int64_t job_id, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return WithConn<bool>(*pool_, [&](PgConn& c) -> Result<bool> {
    NBI_ASSIGN_OR_RETURN(PgRows r,
                         c.Exec(kHeartbeat, PgParams().Int(job_id).Text(worker_id).Int(now)));
    if (r.size() == 0) return PgNotOwner(job_id, worker_id);
    return r.boolean(0, 0);
  });
}

Result<bool> PgStore::CompletePart(int64_t job_id, int part, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return InTransaction<bool>(*pool_, [&](PgConn& c) -> Result<bool> {
    NBI_ASSIGN_OR_RETURN(JobPart p, OwnedPart(c, job_id, part, worker_id));
    NBI_ASSIGN_OR_RETURN(Job before, LockJob(c, job_id));
    NBI_RETURN_IF_ERROR(SetPartState(c, p, PartStatus::kCompleted, p.attempts));
    NBI_RETURN_IF_ERROR(PgTilesOnPartCompleted(c, before, p));  // tiles hook
    NBI_ASSIGN_OR_RETURN(Job after, Settle(c, job_id, now));
    return before.status != JobStatus::kCompleted && after.status == JobStatus::kCompleted;
  });
}

Result<Job> PgStore::FailPart(int64_t job_id, int part, const std::string& worker_id,
                              const std::string& error, bool permanent) {
  const int64_t now = clock_->NowMs();
  // The backoff depends on the part's attempt count: lock, decide here with RetryBackoffMs
  // (shared with the SQLite store), then write.
  return InTransaction<Job>(*pool_, [&](PgConn& c) -> Result<Job> {
    NBI_ASSIGN_OR_RETURN(JobPart p, OwnedPart(c, job_id, part, worker_id));
    NBI_ASSIGN_OR_RETURN(Job cur, LockJob(c, job_id));
    const bool retry = !permanent && p.attempts < cur.max_attempts;
    NBI_RETURN_IF_ERROR(SetPartState(c, p, PartStatus::kPending, p.attempts));
    NBI_RETURN_IF_ERROR(InsertAttempt(c, FailedAttempt(p, worker_id, error, retry, now)));
    NBI_RETURN_IF_ERROR(c.Exec(kFailJob, PgParams()
                                             .Int(job_id)
                                             .Bool(retry)
                                             .Text(PartLabel(cur, p.part, p.begin, p.end) + error)
                                             .Int(now + RetryBackoffMs(p.attempts))
                                             .Int(now))
                            .status());
    if (retry) NBI_RETURN_IF_ERROR(c.Exec(kNotify).status());
    return Settle(c, job_id, now);
  });
}

Result<Job> PgStore::ReleasePart(int64_t job_id, int part, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return InTransaction<Job>(*pool_, [&](PgConn& c) -> Result<Job> {
    NBI_ASSIGN_OR_RETURN(JobPart p, OwnedPart(c, job_id, part, worker_id));
    NBI_ASSIGN_OR_RETURN(Job cur, LockJob(c, job_id));
    // A hand-back is not a failed attempt: the claim's attempts + 1 is undone.
    const int attempts = cur.cancel_requested ? p.attempts : std::max(p.attempts - 1, 0);
    NBI_RETURN_IF_ERROR(SetPartState(c, p, PartStatus::kPending, attempts));
    NBI_RETURN_IF_ERROR(c.Exec(kJobRunAt, PgParams().Int(job_id).Int(now)).status());
    NBI_RETURN_IF_ERROR(c.Exec(kNotify).status());
    return Settle(c, job_id, now);
  });
}

Result<std::vector<JobPart>> PgStore::ListParts(int64_t job_id) {
  using Out = std::vector<JobPart>;
  return WithReadConn<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kListParts, PgParams().Int(job_id)));
    Out out;
    for (int i = 0; i < r.size(); ++i) out.push_back(ReadPart(r, i));
    return out;
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
  return InTransaction<Job>(*pool_, [&](PgConn& c) -> Result<Job> {
    NBI_RETURN_IF_ERROR(c.Exec(kRetryParts, PgParams().Int(job_id)).status());
    NBI_RETURN_IF_ERROR(LockJob(c, job_id).status());
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

namespace {

// Rescues one running part (DecideRescue) in its own transaction: back to pending, its job
// failed when the part gave up, else its error says what happened and the part is ready now.
// Skips (false) a part or job whose lock a transaction holds past kRescueLockTimeout, a part no
// longer running, or (when `stale_before` is given) one heartbeated since it was listed.
Result<bool> RescuePart(PgPool& pool, int64_t job_id, int part, std::optional<int64_t> stale_before,
                        int64_t now) {
  auto r = InTransaction<bool>(pool, [&](PgConn& c) -> Result<bool> {
    NBI_RETURN_IF_ERROR(c.Exec(kRescueLockTimeout, "rescue lock timeout").status());
    NBI_ASSIGN_OR_RETURN(PgRows pr, c.Exec(kSelectPartForUpdate, PgParams().Int(job_id).Int(part)));
    if (pr.size() == 0) return false;
    const JobPart p = ReadPart(pr, 0);
    NBI_ASSIGN_OR_RETURN(const Job job, LockJob(c, job_id));
    if (p.status != PartStatus::kRunning) return false;
    if (stale_before && p.heartbeat_at_ms && *p.heartbeat_at_ms >= *stale_before) return false;
    const RescueDecision d = DecideRescue(job, p);
    NBI_RETURN_IF_ERROR(SetPartState(c, p, PartStatus::kPending, d.part_attempts));
    NBI_RETURN_IF_ERROR(InsertAttempt(c, RescueAttempt(job, p, d, now)));
    if (d.fail_job) {
      NBI_RETURN_IF_ERROR(
          c.Exec(kFailJob, PgParams().Int(job_id).Bool(false).Text(*d.job_error).Int(now).Int(now))
              .status());
    } else {
      if (d.job_error) {
        NBI_RETURN_IF_ERROR(c.Exec(kJobError, PgParams().Int(job_id).Text(*d.job_error)).status());
      }
      NBI_RETURN_IF_ERROR(c.Exec(kJobRunAt, PgParams().Int(job_id).Int(now)).status());
      NBI_RETURN_IF_ERROR(c.Exec(kNotify).status());
    }
    NBI_RETURN_IF_ERROR(Settle(c, job_id, now).status());
    return true;
  });
  // A lock held past kRescueLockTimeout (55P03): skipped until the next round.
  if (!r.ok() && r.status().message().find("lock timeout") != std::string::npos) return false;
  return r;
}

// Rescues the parts a listing statement names (job id, part); returns how many.
Result<int> RescueListed(PgPool& pool, const PgSql& list, const PgParams& params,
                         std::optional<int64_t> stale_before, int64_t now) {
  NBI_ASSIGN_OR_RETURN(PgRows r, WithConn<PgRows>(pool, [&](PgConn& c) -> Result<PgRows> {
                         return c.Exec(list, params);
                       }));
  int n = 0;
  for (int i = 0; i < r.size(); ++i) {
    NBI_ASSIGN_OR_RETURN(
        bool done, RescuePart(pool, r.i64(i, 0), static_cast<int>(r.i64(i, 1)), stale_before, now));
    n += done ? 1 : 0;
  }
  return n;
}

}  // namespace

Result<int> PgStore::RescueStale(int64_t timeout_ms) {
  const int64_t now = clock_->NowMs();
  return RescueListed(*pool_, kStaleParts, PgParams().Int(now - timeout_ms), now - timeout_ms, now);
}

Result<int> PgStore::RescueDeadOwners() {
  const int64_t now = clock_->NowMs();
  return RescueListed(*pool_, kDeadOwnerParts, PgParams(), std::nullopt, now);
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
  return InTransaction<int>(*pool_, [&](PgConn& c) -> Result<int> {
    NBI_RETURN_IF_ERROR(c.Exec(kResetRunningParts).status());
    NBI_ASSIGN_OR_RETURN(PgRows ids, c.Exec(kRunningJobIds));
    for (int i = 0; i < ids.size(); ++i) {
      const int64_t id = ids.i64(i, 0);
      NBI_RETURN_IF_ERROR(c.Exec(kResetRunningJob, PgParams().Int(id).Int(now)).status());
      NBI_RETURN_IF_ERROR(Settle(c, id, now).status());
    }
    if (ids.size() > 0) NBI_RETURN_IF_ERROR(c.Exec(kNotify).status());
    return ids.size();
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
    const bool any = f.type || f.city_id;  // else the plainer statements (their own plans)
    if (f.status) {
      p.Text(JobStatusId(*f.status));
    } else if (any) {
      p.Null();
    }
    if (any) {
      if (f.type) {
        p.Text(*f.type);
      } else {
        p.Null();
      }
      p.OptInt(f.city_id);
    }
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(any        ? kListJobsFiltered
                                          : f.status ? kListJobsByStatus
                                                     : kListJobs,
                                          p));
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
  NBI_RETURN_IF_ERROR(PgCheckCityId(spec.city_id));
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
    NBI_RETURN_IF_ERROR(PgTilesOnAreaReset(c, spec));  // tiles hook: overview levels
    NBI_RETURN_IF_ERROR(c.Exec(kResetAreaJobs, PgParams().Text(key)).status());
    NBI_ASSIGN_OR_RETURN(PgRows ins, c.Exec(kEnqueue, EnqueueParams(spec, g, metadata, now, key)));
    if (ins.size() == 0) {
      NBI_ASSIGN_OR_RETURN(PgRows again, c.Exec(kActiveByKey, PgParams().Text(key)));
      if (again.size() > 0) return ActiveJobConflict(ReadJob(again, 0));
      return Status::Transient("reset: an equal job appeared and ended meanwhile; try again");
    }
    Job job = ReadJob(ins, 0);
    NBI_RETURN_IF_ERROR(InsertParts(c, job));
    return Out{cells.affected(), EnqueueResult{std::move(job), true}};
  });
}

}  // namespace nbi
