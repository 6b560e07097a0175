// The worker: claims heatmap jobs from a JobQueue and runs each on a thread of its own
// (jobs/runner.h runs one job).
//
// The unit a worker claims and runs is a job's part (store/parts.h): with several free slots it
// may run several parts of one job at once, each on its own thread, sharing the job's POI
// index (IndexCache). Worker::Run holds the worker's owner lease (JobQueue::HoldOwnerLease) for its
// whole run, so other processes can tell it is alive, and loops:
//   - housekeeping, at start and then at most once a second: rescue the jobs of dead owners
//     (their process died: back to pending within a second) and of owners silent for
//     stale_timeout_ms (hung or vanished machines); at most once an hour, prune finished jobs
//     older than job_retention_ms;
//   - claim up to max_concurrent_jobs with one batched claim (0: housekeeping only), plus up
//     to local_queue small parts that the job threads run after theirs;
//   - wait until woken (Wake(): an in-process enqueue or a JobWatch notification), the poll
//     interval passes, or the earliest pending job's run_at comes (a retry's backoff), logging
//     a heartbeat line per timer-driven poll.
// A heartbeat thread refreshes the lease of every running job each heartbeat_interval_ms and
// checks the owner lease. Stop() (from a signal thread) makes running jobs checkpoint and hand
// themselves back, then Run returns. With exit_when_idle (process-jobs) Run returns once no
// job runs here and none is pending (it waits out retries in backoff, saying so). The cron
// route runs this same loop for a time budget (cron.h).
//
// Every wait and interval is measured on the Env's clock, so poll, heartbeat and backoff
// timing are tested on a FakeClock. Log lines go to the Env's logger.
//
// Thread-safety: Wake() and Stop() may be called from any thread; Run() from one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/env.h"
#include "jobs/runner.h"
#include "store/store.h"

namespace nbi {

// The worker's settings; the JobRunOptions part (worker_id, chunk_size, hooks) is passed to
// every job it runs. Parsed from flags and environment by the application (app/config.h).
struct WorkerOptions : JobRunOptions {
  int64_t poll_interval_ms = 60000;   // WORKER_POLL_INTERVAL
  int max_concurrent_jobs = 1;        // MAX_CONCURRENT_JOBS
  int64_t stale_timeout_ms = 600000;  // STALE_JOB_TIMEOUT
  int64_t heartbeat_interval_ms = 0;  // WORKER_HEARTBEAT_INTERVAL; 0 = clamp(stale/4, 50 ms, 30 s)
  int64_t job_retention_ms = 7 * 86'400'000LL;  // JOB_RETENTION: finished jobs pruned after
  bool exit_when_idle = false;                  // process-jobs: return once nothing is pending
  // A cron run (cron.h): return once a claim finds nothing ready and no job runs here, leaving
  // jobs in backoff for a later run; and stop at the first failed database call (error()).
  bool exit_when_none_ready = false;
  bool stop_at_db_error = false;
  bool log_polls = true;  // a heartbeat line each poll
  // Small parts (kSmallPartCells: one chunk, ≤ 500 cells) claimed beyond the free slots, up to this
  // many, and held in a local queue that the job threads run one after another (0: none):
  // one claim transaction for many small jobs, and no thread started or woken per job. They
  // are claimed only while the slots run small parts too, so that none waits behind a long
  // one, and only small parts are claimed for it.
  int local_queue = 32;
  // Housekeeping hook (metrics): finished jobs pruned by this worker.
  std::function<void(int pruned)> on_prune;
};

inline constexpr int64_t kDefaultHeartbeatMs = 10'000;
// A part is small (a local-queue candidate, WorkerOptions::local_queue) when its cells left fit
// in one chunk and number at most this many: a few milliseconds of work, so that a batch of
// them holds the database's write lock briefly and nothing waits long behind the queue.
inline constexpr int64_t kSmallPartCells = 500;
// How often a worker looks for the jobs of dead (and stale) owners.
inline constexpr int64_t kHousekeepingMs = 1'000;

// host-pid-random: unique per process and run.
std::string DefaultWorkerId();

class Worker {
 public:
  // `store` must outlive the worker; an empty opts.worker_id becomes DefaultWorkerId().
  Worker(Store* store, Env env, WorkerOptions opts);
  // Stops and joins every thread (running jobs hand themselves back first).
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Returns when Stop() was called (after running jobs were handed back) or, with
  // exit_when_idle, when no job is pending and none runs. Returns jobs finished.
  int Run();
  void Stop();
  void Wake();
  const std::string& id() const { return opts_.worker_id; }
  const WorkerOptions& options() const { return opts_; }
  int running() const;
  // With stop_at_db_error: the failed database call that stopped Run (Ok otherwise). Read it
  // after Run returns.
  const Status& error() const { return error_; }

 private:
  // A running part: (job id, part).
  using PartKey = std::pair<int64_t, int>;
  static PartKey KeyOf(const Job& j) { return {j.id, j.part}; }

  void StartJob(Job job);
  void JobThread(Job job);
  // Its cells left fit in one chunk and are at most kSmallPartCells (a local-queue candidate).
  bool IsSmall(const Job& j) const;
  int64_t SmallPartCells() const {
    return std::min<int64_t>(std::max<int64_t>(1, opts_.chunk_size), kSmallPartCells);
  }
  // After a run on a job thread (mu_ held): the local queue's next parts for this thread to
  // run as one batch (into *next), its entry in jobs_ moved to the first; false when none (or
  // stopping).
  bool TakeLocal(const PartKey& finished, std::vector<Job>* next);
  // Hands the local queue's parts back at shutdown (mu_ not held). A part that cannot be
  // handed back stays ours until the lease ends, then goes back as a dead owner's.
  void GiveBack(std::vector<Job> parts);
  void HeartbeatLoop(int64_t start_steady_ms);
  // Rescues (at most once every kHousekeepingMs) and prunes (hourly); returns jobs rescued.
  int Housekeeping();
  void Prune();
  // Takes the owner lease if not held; false (logged) while it cannot.
  bool EnsureLease();
  // One batched claim for the free slots; true when it started a job.
  bool ClaimFreeSlots(bool* db_error);
  // Claims up to `slots` parts for free slots and, while the local queue is empty and the
  // slots' parts are small, up to local_queue small parts for it (mu_ not held). Returns the
  // slots' parts in claim order.
  Result<std::vector<Job>> ClaimParts(int slots);
  // Claims up to local_queue small parts into an empty local queue.
  void QueueSmallParts();
  // Starts parts of the local queue in free slots (their threads ended before it filled).
  void StartQueued();
  bool AllSmall(const std::vector<Job>& jobs) const;
  // A job thread whose part ended and found the local queue empty claims its next parts
  // itself (l holds mu_; released during the claim) into the front of the local queue, for
  // TakeLocal. Returns the thread's own part when it was claimed again meanwhile (parked in
  // reclaimed_), else nullopt.
  std::optional<Job> ClaimNext(const PartKey& finished, std::unique_lock<std::mutex>& l);
  // Runs `job`, with `more` parts of the local queue as one batch (emptied).
  JobOutcome RunParts(const Job& job, std::vector<Job>* more);
  // Milliseconds until the earliest pending job's run_at when a slot is free (nullopt: none
  // pending or no free slot). *idle: nothing pending and nothing running here.
  std::optional<int64_t> UntilNextRunAt(bool* idle);
  void JoinFinished();  // mu_ held
  // A database call of Run's thread failed (logged by the caller): with stop_at_db_error,
  // keeps the first such error and stops.
  void DbError(const Status& s);

  Store* const store_;
  const Env env_;
  WorkerOptions opts_;
  std::atomic<bool> stop_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;                   // guarded by mu_
  std::map<PartKey, std::thread> jobs_;  // guarded by mu_: running part threads
  // Parts claimed again while their thread was still ending (guarded by mu_): the thread
  // starts them anew when it finds the part still ours.
  std::map<PartKey, Job> reclaimed_;
  std::vector<std::thread> finished_;  // guarded by mu_: to join
  // Guarded by mu_: claimed small parts waiting for a job thread (WorkerOptions::local_queue).
  // They run under this worker's lease and are in its heartbeats; if the process dies they go
  // back with the lease (a dead owner's parts), and Stop hands them back.
  std::deque<Job> local_;
  // Guarded by mu_: the parts of job threads' batches other than the first (which is in
  // jobs_), so that heartbeats cover them.
  std::set<PartKey> batch_;
  int done_count_ = 0;                 // guarded by mu_
  bool heartbeat_stop_ = false;        // guarded by mu_: set once every job was handed back
  std::unique_ptr<OwnerLease> lease_;  // guarded by mu_
  // Run's thread only.
  int64_t last_rescue_steady_ms_ = 0;
  bool rescued_once_ = false;
  int64_t last_prune_steady_ms_ = 0;
  bool pruned_once_ = false;
  int64_t waiting_for_job_ = 0;  // the job whose backoff was last announced
  Status error_;                 // see error()
};

}  // namespace nbi
