// The job queue's step sequences, written once for both stores: settling a job after a part
// changed state, completing, failing and handing back a part, rescuing a part whose owner died
// or went silent. Each backend provides only its SQL primitives (QueueTxn) inside one of its
// write transactions, and keeps what is its own: the claim statements, transactions, locks,
// wake-ups. Internal to src/store (the steps need the primitives, which are no part of the
// storage interface, so they live here rather than in jobs/).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/job.h"
#include "store/parts.h"

namespace nbi {

// One write transaction of a backend's queue, as the steps see it. Lock order: a part, then
// its job (PostgreSQL locks rows; SQLite's write transaction holds the database's write lock,
// so its "locks" are plain reads).
class QueueTxn {
 public:
  virtual ~QueueTxn() = default;
  // The job's row, locked; kNotFound when unknown.
  virtual Result<Job> LockJob(int64_t job_id) = 0;
  // The job's row as this transaction sees it; kNotFound when unknown.
  virtual Result<Job> ReadJob(int64_t job_id) = 0;
  // The part, locked; nullopt when there is none.
  virtual Result<std::optional<JobPart>> LockPart(int64_t job_id, int part) = 0;
  // The part, locked, when it runs under worker_id; nullopt otherwise.
  virtual Result<std::optional<JobPart>> OwnedPart(int64_t job_id, int part,
                                                   const std::string& worker_id) = 0;
  // The parts of the job that run under worker_id, locked.
  virtual Result<std::vector<JobPart>> OwnedPartsOf(int64_t job_id,
                                                    const std::string& worker_id) = 0;
  virtual Result<PartTally> TallyParts(int64_t job_id) = 0;
  // Writes the job's queue columns from `r` (the roll-up of `job`, as it was, over `t`), its
  // finish time `now` when r.finished_now; returns the job as stored. kNotFound when unknown.
  virtual Result<Job> ApplyRollUp(const Job& job, const JobRollUp& r, const PartTally& t,
                                  int64_t now) = 0;
  virtual Status SetPartState(const JobPart& p, PartStatus status, int attempts) = 0;
  virtual Status InsertAttempt(const JobAttempt& a) = 0;
  // A failed attempt's mark on the job: `error`, and pending with run_at `run_at` when
  // `retry`, else failed (finished at `now`).
  virtual Status FailJob(int64_t job_id, bool retry, const std::string& error, int64_t run_at,
                         int64_t now) = 0;
  virtual Status SetJobError(int64_t job_id, const std::string& error) = 0;
  virtual Status SetJobRunAt(int64_t job_id, int64_t run_at) = 0;
  // A job became runnable: wake other processes' workers when this transaction commits
  // (PostgreSQL NOTIFY; SQLite's watch sees any commit, so nothing to do).
  virtual Status Notify() = 0;
  // The tiles hook of a completed part (`before`: its job before the change).
  virtual Status OnPartCompleted(const Job& before, const JobPart& p) = 0;
};

// A lease check failed: the job is not running under this worker (any more). kConflict.
Status NotOwner(int64_t job_id, const std::string& worker_id);

// A claimed part as the runner sees it: its job's row with the part's range and lease.
Job WithPart(Job job, const JobPart& p, bool starts_job);

// Brings the job's queue columns in line with its parts (RollUp) after a part changed state.
// The caller holds the job's lock, so the tally is consistent.
Result<Job> Settle(QueueTxn& t, int64_t job_id, int64_t now);

// JobQueue::CompletePart, FailPart and ReleasePart in the caller's transaction.
Result<bool> CompletePartIn(QueueTxn& t, int64_t job_id, int part, const std::string& worker_id,
                            int64_t now);
Result<Job> FailPartIn(QueueTxn& t, int64_t job_id, int part, const std::string& worker_id,
                       const std::string& error, bool permanent, int64_t now);
Result<Job> ReleasePartIn(QueueTxn& t, int64_t job_id, int part, const std::string& worker_id,
                          int64_t now);

// CompleteBatch's step for one job: every part of it that worker_id runs completed. Returns
// whether the job completed (false when worker_id runs none of it).
Result<bool> CompleteOwnedPartsIn(QueueTxn& t, int64_t job_id, const std::string& worker_id,
                                  int64_t now);

// Rescues one running part (DecideRescue): back to pending, its job failed when the part gave
// up, else its error says what happened and the part is ready now. Skips (false) a part no
// longer running or (when `stale_before` is given) one heartbeated since it was listed.
Result<bool> RescuePartIn(QueueTxn& t, int64_t job_id, int part,
                          std::optional<int64_t> stale_before, int64_t now);

}  // namespace nbi
