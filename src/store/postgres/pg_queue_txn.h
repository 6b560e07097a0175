// PgStore's SQL primitives of the shared queue steps (store/queue_steps.h), in one transaction
// on `c`: rows are locked FOR UPDATE (a part, then its job), a wake-up is a NOTIFY.
#pragma once

#include "store/postgres/pg_conn.h"
#include "store/queue_steps.h"

namespace nbi {

class PgQueueTxn final : public QueueTxn {
 public:
  explicit PgQueueTxn(PgConn& c) : c_(c) {}
  Result<Job> LockJob(int64_t job_id) override;
  Result<Job> ReadJob(int64_t job_id) override;
  Result<std::optional<JobPart>> LockPart(int64_t job_id, int part) override;
  Result<std::optional<JobPart>> OwnedPart(int64_t job_id, int part,
                                           const std::string& worker_id) override;
  Result<std::vector<JobPart>> OwnedPartsOf(int64_t job_id, const std::string& worker_id) override;
  Result<PartTally> TallyParts(int64_t job_id) override;
  Result<Job> ApplyRollUp(const Job& job, const JobRollUp& r, const PartTally& t,
                          int64_t now) override;
  Status SetPartState(const JobPart& p, PartStatus status, int attempts) override;
  Status InsertAttempt(const JobAttempt& a) override;
  Status FailJob(int64_t job_id, bool retry, const std::string& error, int64_t run_at,
                 int64_t now) override;
  Status SetJobError(int64_t job_id, const std::string& error) override;
  Status SetJobRunAt(int64_t job_id, int64_t run_at) override;
  Status Notify() override;
  Status OnPartCompleted(const Job& before, const JobPart& p) override;

 private:
  PgConn& c_;
};

}  // namespace nbi
