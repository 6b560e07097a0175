// The cron route's run (GET /api/cron/process-jobs, for platforms that only offer a scheduled
// HTTP call): its options, its report, and the type of the function that runs it.
//
// The run itself is the worker's claim loop (worker/cron.h RunCron): the server gets it from
// its main as a CronRunner, since http/ includes nothing of worker/.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
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
  int stale_reset = 0;    // jobs of dead or stale owners rescued by the run
};

// Runs queued jobs for opts.budget_ms (worker/cron.h RunCron).
using CronRunner = std::function<Result<CronReport>(JobService* service, const CronOptions& opts,
                                                    const std::atomic<bool>* shutting_down)>;

}  // namespace nbi
