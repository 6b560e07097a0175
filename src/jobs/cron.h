// The cron runner: runs queued jobs inside one request for a time budget (GET
// /api/cron/process-jobs, for platforms that only offer a scheduled HTTP call).
//
// A run rescues stale jobs, then claims and runs jobs one after another under a worker id of
// its own ("cron-host-pid-N"). Once the budget is spent (or `*shutting_down` is set) the job
// in flight hands itself back at its next chunk boundary; at least one chunk is written per
// run however small the budget, so repeated calls always make progress, unless the database
// stays unreachable for 10 s past the deadline. Time is measured on the service's Env clock.
//
// Thread-safe: several runs may proceed at once (each claims its own jobs).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "jobs/runner.h"
#include "jobs/service.h"

namespace nbi {

struct CronOptions {
  int64_t budget_ms = 10'000;         // NBI_CRON_BUDGET_MS
  int64_t stale_timeout_ms = 600000;  // STALE_JOB_TIMEOUT
  JobRunOptions run;                  // chunk size and hooks; worker_id is set per run
};

struct CronReport {
  struct Ran {
    int64_t id = 0;
    std::string status;  // the job's status after the run ("completed", "pending", ...)
  };
  std::vector<Ran> jobs;
  bool has_more = false;  // pending jobs remain (or it could not tell)
  int stale_reset = 0;    // stale jobs rescued at the start
};

// Fails only when nothing could be done: the stale rescue or the first claim failed.
Result<CronReport> RunCron(JobService* service, const CronOptions& opts,
                           const std::atomic<bool>* shutting_down);

}  // namespace nbi
