// PostgreSQL store: the JobQueue methods (store.h). The SQL is in pg_sql.h; each method is
// one statement, or one transaction when it must read before it writes.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "store/postgres/pg_attempts.h"
#include "store/postgres/pg_codec.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_queue_txn.h"
#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_store.h"
#include "store/postgres/pg_tiles.h"

namespace nbi {

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
  NBI_RETURN_IF_ERROR(
      c.Exec(kRaisePartsPriority, PgParams().Int(out.job.id).Int(spec.priority)).status());
  NBI_ASSIGN_OR_RETURN(PgRows up,
                       c.Exec(kRaisePriority, PgParams().Int(out.job.id).Int(spec.priority)));
  if (up.size() > 0) {
    out.job = ReadJob(up, 0);
    out.priority_raised = true;
  }
  return out;
}

// Inserts the parts of a job just enqueued (kEnqueue's row): delayed when its run_at is
// after `now`.
Status InsertParts(PgConn& c, const Job& job, int64_t now) {
  return c
      .Exec(kInsertParts, PgParams()
                              .Int(job.id)
                              .Int(job.total_items)
                              .Int(job.part_count)
                              .Int(job.priority)
                              .Int(job.run_at_ms)
                              .Int(now))
      .status();
}

// Settle (store/queue_steps.h) in the transaction on `c`, which holds the job's row lock
// (kLockJob or an UPDATE of it), so the tally's snapshot sees every other change of its parts.
Result<Job> Settle(PgConn& c, int64_t job_id, int64_t now) {
  PgQueueTxn t(c);
  return nbi::Settle(t, job_id, now);
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

// kClaimSolo in a transaction of its own with the claim's planner settings, after the
// promotion of delayed parts that have come due (kPromoteDue), in one round trip.
Result<PgRows> ClaimSolo(PgConn& c, int64_t now, const PgParams& params) {
  PgTxn txn(c);
  const PgParams due = PgParams().Int(now);
  auto r = c.Pipeline({{&kBeginSql, nullptr},
                       {&kClaimPlanSettings, nullptr},
                       {&kPromoteDue, &due},
                       {&kClaimSolo, &params},
                       {&kCommitSql, nullptr}});
  if (!c.idle()) txn.MarkBegun();  // rolled back unless committed, even after an error
  NBI_RETURN_IF_ERROR(r.status());
  txn.MarkCommitted();
  // The server answers COMMIT of an aborted transaction with a successful "ROLLBACK".
  if ((*r)[4].command_tag() != "COMMIT") return Status::Internal("postgres commit: rolled back");
  return std::move((*r)[3]);
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
    NBI_ASSIGN_OR_RETURN(std::optional<Job> seed, PgSeedTwin(c, spec));  // SPEC §2a
    if (seed) return EnqueueResult{std::move(*seed), false};
    for (int round = 0; round < 8; ++round) {
      NBI_ASSIGN_OR_RETURN(PgRows ins,
                           c.Exec(kEnqueue, EnqueueParams(spec, grid, metadata, now, key)));
      if (ins.size() > 0) {
        Job job = ReadJob(ins, 0);
        NBI_RETURN_IF_ERROR(InsertParts(c, job, now));
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

Result<std::vector<Job>> PgStore::ClaimBatch(const std::string& worker_id, int max,
                                             int64_t max_part_cells) {
  const int64_t now = clock_->NowMs();
  max = std::max(1, max);
  // Jobs of one part (the common case) are claimed and started by one statement: one round
  // trip (kClaimSolo).
  NBI_ASSIGN_OR_RETURN(
      PgRows r, WithConn<PgRows>(*pool_, [&](PgConn& c) -> Result<PgRows> {
        return ClaimSolo(c, now, PgParams().Text(worker_id).Int(now).Int(max).Int(max_part_cells));
      }));
  std::vector<Job> out;
  std::vector<JobPart> unstarted;  // claimed, but the job had stopped meanwhile: given back
  bool several = false;            // a part of a job of several parts was among the best
  for (int i = 0; i < r.size(); ++i) {
    if (r.null(i, 0)) {
      several = true;
    } else if (r.null(i, kPgPartColumns)) {
      unstarted.push_back(ReadPart(r, i));
    } else {
      out.push_back(WithPart(ReadJob(r, i, kPgPartColumns), ReadPart(r, i), /*starts_job=*/true));
    }
  }
  // Jobs of the original app (SPEC §2a) are taken over at their first claim; a separate
  // transaction is enough, the claim's lease is ours.
  if (std::any_of(out.begin(), out.end(), [](const Job& j) { return IsSeedJob(j); })) {
    NBI_RETURN_IF_ERROR(InTransaction<bool>(*pool_, [&](PgConn& c) -> Result<bool> {
                          NBI_RETURN_IF_ERROR(PgAdoptSeedJobs(c, &out));
                          return true;
                        }).status());
  }
  // Parts of jobs of several parts: claimed in a transaction that settles their jobs.
  const int more = several ? max - static_cast<int>(out.size()) : 0;
  if (more > 0 || !unstarted.empty()) {
    using Out = std::vector<Job>;
    NBI_ASSIGN_OR_RETURN(
        Out rest, InTransaction<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
          std::vector<JobPart> parts = unstarted;
          if (more > 0) {
            NBI_RETURN_IF_ERROR(c.Exec(kClaimPlanSettings).status());
            NBI_ASSIGN_OR_RETURN(
                PgRows m, c.Exec(kClaimParts, PgParams().Text(worker_id).Int(now).Int(more).Int(
                                                  max_part_cells)));
            for (int i = 0; i < m.size(); ++i) parts.push_back(ReadPart(m, i));
          }
          if (parts.empty()) return Out();
          NBI_ASSIGN_OR_RETURN(Out settled, SettleClaims(c, parts, now));
          NBI_RETURN_IF_ERROR(PgAdoptSeedJobs(c, &settled));  // the original app's (SPEC §2a)
          return settled;
        }));
    for (Job& j : rest) out.push_back(std::move(j));
  }
  // RETURNING gives no order guarantee: claim order is job priority, job, part.
  std::stable_sort(out.begin(), out.end(), [](const Job& a, const Job& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    return a.id != b.id ? a.id < b.id : a.part < b.part;
  });
  return out;
}

Result<int> PgStore::CompleteBatch(const std::vector<int64_t>& job_ids,
                                   const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  std::vector<int64_t> ids = job_ids;
  std::sort(ids.begin(), ids.end());  // one lock order for every caller
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.empty()) return 0;
  // Jobs of one part: one statement (kCompleteSoloBatch).
  NBI_ASSIGN_OR_RETURN(PgRows solo, WithConn<PgRows>(*pool_, [&](PgConn& c) -> Result<PgRows> {
                         return c.Exec(kCompleteSoloBatch,
                                       PgParams().Text(PgIdArray(ids)).Text(worker_id).Int(now));
                       }));
  std::set<int64_t> done;
  for (int i = 0; i < solo.size(); ++i) done.insert(solo.i64(i, 0));
  std::erase_if(ids, [&](int64_t id) { return done.count(id) > 0; });
  if (ids.empty()) return static_cast<int>(done.size());
  return InTransaction<int>(*pool_, [&](PgConn& c) -> Result<int> {
    int completed = static_cast<int>(done.size());
    PgQueueTxn t(c);
    for (int64_t id : ids) {
      NBI_ASSIGN_OR_RETURN(bool job_done, CompleteOwnedPartsIn(t, id, worker_id, now));
      completed += job_done ? 1 : 0;
    }
    return completed;
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

Result<bool> PgStore::CompletePart(int64_t job_id, int part, const std::string& worker_id,
                                   std::optional<int64_t> written_to) {
  const int64_t now = clock_->NowMs();
  const auto solo = [&](bool with_cells) {
    return PgParams()
        .Int(job_id)
        .Int(part)
        .Text(worker_id)
        .Int(now)
        .Bool(with_cells)
        .OptInt(written_to);
  };
  // A job of one part that wrote no cells: one statement (kCompleteSolo).
  NBI_ASSIGN_OR_RETURN(PgRows quick, WithConn<PgRows>(*pool_, [&](PgConn& c) -> Result<PgRows> {
                         return c.Exec(kCompleteSolo, solo(false));
                       }));
  if (quick.size() > 0) return !quick.null(0, kPgPartColumns);
  return InTransaction<bool>(*pool_, [&](PgConn& c) -> Result<bool> {
    // A job of one part with cells: the same statement, then the overview levels of its cells.
    NBI_ASSIGN_OR_RETURN(PgRows one, c.Exec(kCompleteSolo, solo(true)));
    if (one.size() > 0) {
      if (one.null(0, kPgPartColumns)) return Status::Internal("completed part of a stopped job");
      NBI_RETURN_IF_ERROR(
          PgTilesOnPartCompleted(c, ReadJob(one, 0, kPgPartColumns), ReadPart(one, 0)));
      return true;
    }
    PgQueueTxn t(c);
    return CompletePartIn(t, job_id, part, worker_id, now, written_to);
  });
}

Result<Job> PgStore::FailPart(int64_t job_id, int part, const std::string& worker_id,
                              const std::string& error, bool permanent) {
  const int64_t now = clock_->NowMs();
  return InTransaction<Job>(*pool_, [&](PgConn& c) -> Result<Job> {
    PgQueueTxn t(c);
    return FailPartIn(t, job_id, part, worker_id, error, permanent, now);
  });
}

Result<Job> PgStore::ReleasePart(int64_t job_id, int part, const std::string& worker_id) {
  const int64_t now = clock_->NowMs();
  return InTransaction<Job>(*pool_, [&](PgConn& c) -> Result<Job> {
    PgQueueTxn t(c);
    return ReleasePartIn(t, job_id, part, worker_id, now);
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
  return InTransaction<Job>(*pool_, [&](PgConn& c) -> Result<Job> {
    // Its parts leave the claim index first (lock order: parts, then the job).
    NBI_RETURN_IF_ERROR(c.Exec(kCancelParts, PgParams().Int(job_id)).status());
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kCancel, PgParams().Int(job_id).Int(now)));
    if (r.size() == 0) return ExplainNoRow(c, job_id, "cancelled", "pending or running");
    return ReadJob(r, 0);
  });
}

Result<Job> PgStore::Retry(int64_t job_id) {
  const int64_t now = clock_->NowMs();
  return InTransaction<Job>(*pool_, [&](PgConn& c) -> Result<Job> {
    NBI_RETURN_IF_ERROR(c.Exec(kRetryParts, PgParams().Int(job_id)).status());
    NBI_RETURN_IF_ERROR(PgQueueTxn(c).LockJob(job_id).status());
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
Result<bool> RescueLocked(PgConn& c, int64_t job_id, int part, std::optional<int64_t> stale_before,
                          int64_t now) {
  c.last_sqlstate.clear();
  NBI_RETURN_IF_ERROR(c.Exec(kRescueLockTimeout, "rescue lock timeout").status());
  PgQueueTxn t(c);
  return RescuePartIn(t, job_id, part, stale_before, now);
}

Result<bool> RescuePart(PgPool& pool, int64_t job_id, int part, std::optional<int64_t> stale_before,
                        int64_t now) {
  bool lock_timed_out = false;
  auto r = InTransaction<bool>(pool, [&](PgConn& c) -> Result<bool> {
    Result<bool> rescued = RescueLocked(c, job_id, part, stale_before, now);
    lock_timed_out = !rescued.ok() && c.last_sqlstate == "55P03";
    return rescued;
  });
  // A lock held past kRescueLockTimeout (55P03, whatever the server's language): skipped until
  // the next round.
  if (lock_timed_out) return false;
  return r;
}

// Rescues the parts a listing statement names (job id, part); returns how many.
Result<int> RescueListed(PgPool& pool, const PgSql& list, const PgParams& params,
                         std::optional<int64_t> stale_before, int64_t now) {
  // The list walks job_parts_running_idx (kRescuePlanSettings, in the list's own transaction:
  // BEGIN, the settings, the list and COMMIT in one round trip).
  NBI_ASSIGN_OR_RETURN(PgRows r, WithConn<PgRows>(pool, [&](PgConn& c) -> Result<PgRows> {
                         PgTxn txn(c);
                         auto rows = c.Pipeline({{&kBeginSql, nullptr},
                                                 {&kRescuePlanSettings, nullptr},
                                                 {&list, &params},
                                                 {&kCommitSql, nullptr}});
                         if (!c.idle()) txn.MarkBegun();  // rolled back unless committed
                         if (!rows.ok()) return rows.status();
                         txn.MarkCommitted();
                         return std::move((*rows)[2]);
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
  // Housekeeping calls this every second: the database's clock is read again each minute
  // (the local steady clock that carries it forward may drift from it by a few ppm).
  if (db_clock_ && db_clock_->SinceReadMs() > 60'000) (void)ReadDatabaseClock();
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
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kFindCovering, PgParams()
                                                             .Double(lat)
                                                             .Double(lng)
                                                             .Double(grid_step)
                                                             .Text(HeatModelId(model))
                                                             .Text(HeatModelId(SeedJobModel()))));
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
    NBI_ASSIGN_OR_RETURN(std::optional<Job> seed, PgSeedTwin(c, spec));  // SPEC §2a
    if (seed) return ActiveJobConflict(*seed);
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
    NBI_RETURN_IF_ERROR(InsertParts(c, job, now));
    return Out{cells.affected(), EnqueueResult{std::move(job), true}};
  });
}

}  // namespace nbi
