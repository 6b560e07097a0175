// The cron runner: runs queued jobs inside one request for a time budget (GET
// /api/cron/process-jobs; the server is handed RunCron as its CronRunner, jobs/cron.h).
//
// A run is the worker's own loop (worker.h) under a worker id of its own ("cron-host-pid-N"),
// one job at a time: it holds the owner lease, rescues dead and stale owners' jobs, claims and
// runs jobs one after another, and returns once a claim finds nothing ready (jobs waiting out a
// backoff are left for a later run). Once the budget is spent (or `*shutting_down` is set) the
// job in flight hands itself back at its next chunk boundary; at least one chunk is written per
// run however small the budget, so repeated calls always make progress, unless the database
// stays unreachable for 10 s past the deadline. Time is measured on the service's Env clock.
//
// Thread-safe: several runs may proceed at once (each claims its own jobs).
#pragma once

#include <atomic>

#include "jobs/cron.h"
#include "jobs/service.h"

namespace nbi {

// Fails only when nothing could be done: the first rescue, lease or claim failed.
Result<CronReport> RunCron(JobService* service, const CronOptions& opts,
                           const std::atomic<bool>* shutting_down);

}  // namespace nbi
