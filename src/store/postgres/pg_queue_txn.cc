#include "store/postgres/pg_queue_txn.h"

#include <fmt/format.h>

#include <algorithm>

#include "store/postgres/pg_attempts.h"
#include "store/postgres/pg_codec.h"
#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_tiles.h"

namespace nbi {

namespace {

Status JobNotFound(int64_t job_id) {
  return Status::NotFound(fmt::format("job {} not found", job_id));
}

Result<std::optional<JobPart>> FirstPart(const PgRows& r) {
  if (r.size() == 0) return std::optional<JobPart>();
  return std::optional<JobPart>(ReadPart(r, 0));
}

}  // namespace

Result<Job> PgQueueTxn::LockJob(int64_t job_id) {
  NBI_ASSIGN_OR_RETURN(PgRows r, c_.Exec(kLockJob, PgParams().Int(job_id)));
  if (r.size() == 0) return JobNotFound(job_id);
  return nbi::ReadJob(r, 0);
}

Result<Job> PgQueueTxn::ReadJob(int64_t job_id) {
  NBI_ASSIGN_OR_RETURN(PgRows r, c_.Exec(kSelectJob, PgParams().Int(job_id)));
  if (r.size() == 0) return JobNotFound(job_id);
  return nbi::ReadJob(r, 0);
}

Result<std::optional<JobPart>> PgQueueTxn::LockPart(int64_t job_id, int part) {
  NBI_ASSIGN_OR_RETURN(PgRows r, c_.Exec(kSelectPartForUpdate, PgParams().Int(job_id).Int(part)));
  return FirstPart(r);
}

Result<std::optional<JobPart>> PgQueueTxn::OwnedPart(int64_t job_id, int part,
                                                     const std::string& worker_id) {
  NBI_ASSIGN_OR_RETURN(PgRows r,
                       c_.Exec(kSelectOwnedPart, PgParams().Int(job_id).Int(part).Text(worker_id)));
  return FirstPart(r);
}

Result<std::vector<JobPart>> PgQueueTxn::OwnedPartsOf(int64_t job_id,
                                                      const std::string& worker_id) {
  NBI_ASSIGN_OR_RETURN(PgRows r, c_.Exec(kOwnedPartsOf, PgParams().Int(job_id).Text(worker_id)));
  std::vector<JobPart> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(ReadPart(r, i));
  return out;
}

Result<PartTally> PgQueueTxn::TallyParts(int64_t job_id) {
  NBI_ASSIGN_OR_RETURN(PgRows t, c_.Exec(kTallyParts, PgParams().Int(job_id)));
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
  return tally;
}

Result<Job> PgQueueTxn::ApplyRollUp(const Job& job, const JobRollUp& r, const PartTally& t,
                                    int64_t now) {
  PgParams p;
  p.Int(job.id).Text(JobStatusId(r.status)).Int(r.ready_parts);
  if (r.locked_by) {
    p.Text(*r.locked_by);
  } else {
    p.Null();
  }
  p.Int(r.attempts)
      .OptInt(t.heartbeat_at_ms)
      .OptInt(r.finished_now ? std::optional<int64_t>(now) : std::nullopt)
      .Bool(r.status != JobStatus::kCompleted &&
            (!(r.status == JobStatus::kPending || r.status == JobStatus::kRunning) ||
             job.cancel_requested));
  NBI_ASSIGN_OR_RETURN(PgRows out, c_.Exec(kApplyRollUp, p));
  if (out.size() == 0) return JobNotFound(job.id);
  return nbi::ReadJob(out, 0);
}

Status PgQueueTxn::SetPartState(const JobPart& p, PartStatus status, int attempts) {
  return c_
      .Exec(kSetPartState,
            PgParams().Int(p.job_id).Int(p.part).Text(PartStatusId(status)).Int(attempts))
      .status();
}

Status PgQueueTxn::InsertAttempt(const JobAttempt& a) { return nbi::InsertAttempt(c_, a); }

Status PgQueueTxn::FailJob(int64_t job_id, bool retry, const std::string& error, int64_t run_at,
                           int64_t now) {
  return c_.Exec(kFailJob, PgParams().Int(job_id).Bool(retry).Text(error).Int(run_at).Int(now))
      .status();
}

Status PgQueueTxn::SetJobError(int64_t job_id, const std::string& error) {
  return c_.Exec(kJobError, PgParams().Int(job_id).Text(error)).status();
}

Status PgQueueTxn::SetJobRunAt(int64_t job_id, int64_t run_at) {
  return c_.Exec(kJobRunAt, PgParams().Int(job_id).Int(run_at)).status();
}

Status PgQueueTxn::Notify() { return c_.Exec(kNotify).status(); }

Status PgQueueTxn::OnPartCompleted(const Job& before, const JobPart& p) {
  return PgTilesOnPartCompleted(c_, before, p);
}

}  // namespace nbi
