#include "store/queue_steps.h"

#include <fmt/format.h>

#include <algorithm>

namespace nbi {

Status NotOwner(int64_t job_id, const std::string& worker_id) {
  return Status::Conflict(fmt::format("job {} is not running under {}", job_id, worker_id));
}

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

Result<Job> Settle(QueueTxn& t, int64_t job_id, int64_t now) {
  NBI_ASSIGN_OR_RETURN(const Job job, t.ReadJob(job_id));
  NBI_ASSIGN_OR_RETURN(const PartTally tally, t.TallyParts(job_id));
  return t.ApplyRollUp(job, RollUp(job, tally), tally, now);
}

namespace {

Result<JobPart> Owned(QueueTxn& t, int64_t job_id, int part, const std::string& worker_id) {
  NBI_ASSIGN_OR_RETURN(std::optional<JobPart> p, t.OwnedPart(job_id, part, worker_id));
  if (!p) return NotOwner(job_id, worker_id);
  return std::move(*p);
}

}  // namespace

Result<bool> CompletePartIn(QueueTxn& t, int64_t job_id, int part, const std::string& worker_id,
                            int64_t now) {
  NBI_ASSIGN_OR_RETURN(const JobPart p, Owned(t, job_id, part, worker_id));
  NBI_ASSIGN_OR_RETURN(const Job before, t.LockJob(job_id));
  NBI_RETURN_IF_ERROR(t.SetPartState(p, PartStatus::kCompleted, p.attempts));
  NBI_RETURN_IF_ERROR(t.OnPartCompleted(before, p));
  NBI_ASSIGN_OR_RETURN(const Job after, Settle(t, job_id, now));
  return before.status != JobStatus::kCompleted && after.status == JobStatus::kCompleted;
}

Result<Job> FailPartIn(QueueTxn& t, int64_t job_id, int part, const std::string& worker_id,
                       const std::string& error, bool permanent, int64_t now) {
  NBI_ASSIGN_OR_RETURN(const JobPart p, Owned(t, job_id, part, worker_id));
  NBI_ASSIGN_OR_RETURN(const Job cur, t.LockJob(job_id));
  // The backoff depends on the part's attempt count (RetryBackoffMs).
  const bool retry = !permanent && p.attempts < cur.max_attempts;
  NBI_RETURN_IF_ERROR(t.SetPartState(p, PartStatus::kPending, p.attempts));
  NBI_RETURN_IF_ERROR(t.InsertAttempt(FailedAttempt(p, worker_id, error, retry, now)));
  NBI_RETURN_IF_ERROR(t.FailJob(job_id, retry, PartLabel(cur, p.part, p.begin, p.end) + error,
                                now + RetryBackoffMs(p.attempts), now));
  if (retry) NBI_RETURN_IF_ERROR(t.Notify());
  return Settle(t, job_id, now);
}

Result<Job> ReleasePartIn(QueueTxn& t, int64_t job_id, int part, const std::string& worker_id,
                          int64_t now) {
  NBI_ASSIGN_OR_RETURN(const JobPart p, Owned(t, job_id, part, worker_id));
  NBI_ASSIGN_OR_RETURN(const Job cur, t.LockJob(job_id));
  // A hand-back is not a failed attempt: the claim's attempts + 1 is undone.
  const int attempts = cur.cancel_requested ? p.attempts : std::max(p.attempts - 1, 0);
  NBI_RETURN_IF_ERROR(t.SetPartState(p, PartStatus::kPending, attempts));
  NBI_RETURN_IF_ERROR(t.SetJobRunAt(job_id, now));
  NBI_RETURN_IF_ERROR(t.Notify());
  return Settle(t, job_id, now);
}

Result<bool> CompleteOwnedPartsIn(QueueTxn& t, int64_t job_id, const std::string& worker_id,
                                  int64_t now) {
  NBI_ASSIGN_OR_RETURN(const std::vector<JobPart> mine, t.OwnedPartsOf(job_id, worker_id));
  if (mine.empty()) return false;
  NBI_RETURN_IF_ERROR(t.LockJob(job_id).status());
  for (const JobPart& p : mine) {
    NBI_RETURN_IF_ERROR(t.SetPartState(p, PartStatus::kCompleted, p.attempts));
  }
  NBI_ASSIGN_OR_RETURN(const Job after, Settle(t, job_id, now));
  return after.status == JobStatus::kCompleted;
}

Result<bool> RescuePartIn(QueueTxn& t, int64_t job_id, int part,
                          std::optional<int64_t> stale_before, int64_t now) {
  NBI_ASSIGN_OR_RETURN(const std::optional<JobPart> found, t.LockPart(job_id, part));
  if (!found) return false;
  const JobPart& p = *found;
  NBI_ASSIGN_OR_RETURN(const Job job, t.LockJob(job_id));
  if (p.status != PartStatus::kRunning) return false;
  if (stale_before && p.heartbeat_at_ms && *p.heartbeat_at_ms >= *stale_before) return false;
  const RescueDecision d = DecideRescue(job, p);
  NBI_RETURN_IF_ERROR(t.SetPartState(p, PartStatus::kPending, d.part_attempts));
  NBI_RETURN_IF_ERROR(t.InsertAttempt(RescueAttempt(job, p, d, now)));
  if (d.fail_job) {
    NBI_RETURN_IF_ERROR(t.FailJob(job_id, false, *d.job_error, now, now));
  } else {
    if (d.job_error) NBI_RETURN_IF_ERROR(t.SetJobError(job_id, *d.job_error));
    NBI_RETURN_IF_ERROR(t.SetJobRunAt(job_id, now));
    NBI_RETURN_IF_ERROR(t.Notify());
  }
  NBI_RETURN_IF_ERROR(Settle(t, job_id, now).status());
  return true;
}

}  // namespace nbi
