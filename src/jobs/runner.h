// Running one claimed heatmap job: the chunk loop shared by the worker and the cron runner.
//
// A claimed Job names one part (Job::part_begin .. part_end; part_end < 0: the whole job,
// resuming at its lastProcessedIndex). RunHeatmapJob decodes the job's metadata once (a job that
// cannot be decoded fails permanently with the decoder's message), loads the index of its model
// over the region (LoadModelIndex, jobs/model_index.h: the POIs, and for a walking model the
// walk network, within the margins of its rule), then repeats: score
// `chunk_size` cells in memory, write them with the checkpoint in one transaction
// (JobQueue::StageCheckpoint, then Commit). Chunk n+1 is scored while chunk n is written, and
// is sent to the database while chunk n commits (two writer threads, a connection each), so
// at most two chunks are in flight; they commit in order, and a crash loses at most those two.
// It resumes from lastProcessedIndex, stops at a chunk boundary on cancel or `*stop`,
// and retries transient database errors with backoff (on the Env's clock) instead of failing or
// spinning.
//
// Thread-safety: RunHeatmapJob may run on many threads at once (one job each); the hooks in
// JobRunOptions are called from the job's thread and must be thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "jobs/model_index.h"
#include "store/job.h"
#include "store/store.h"

namespace nbi {

// One index per job per process: the parts of a job that run here at once share it
// (read-only). An index lives while a part of its job runs, and the last one built also
// until its job ends here (Forget), another job's index is built, or a minute passes without
// a part of its job asking for it: the next part of the
// same job, claimed a moment later, reuses it instead of loading the POIs (and a walking
// model's network) again. Thread-safe.
class IndexCache {
 public:
  using Build = std::function<Result<std::shared_ptr<const ModelIndex>>()>;
  // The index of `job_id`, built by `build` unless a running part or the last build holds it.
  // A failed build is not kept.
  Result<std::shared_ptr<const ModelIndex>> Get(int64_t job_id, const Build& build);
  // The job ended (completed, failed or cancelled): its index need not be kept.
  void Forget(int64_t job_id);

 private:
  std::mutex mu_;  // held while building: a second part of the job waits for the first build
  std::map<int64_t, std::weak_ptr<const ModelIndex>> cache_;
  // The last index built, kept while parts of its job keep asking for it within kKeepLast.
  static constexpr std::chrono::seconds kKeepLast{60};
  int64_t last_job_ = 0;                             // guarded by mu_
  std::shared_ptr<const ModelIndex> last_;           // guarded by mu_
  std::chrono::steady_clock::time_point last_used_;  // guarded by mu_
};

enum class JobOutcome { kCompleted, kCancelled, kHandedBack, kFailed, kLostLease };
// "completed", "cancelled", "handed_back", "failed", "lost_lease" (metric labels).
std::string_view JobOutcomeId(JobOutcome o);

struct JobRunOptions {
  std::string worker_id;          // the lease owner written to jobs.locked_by
  int64_t chunk_size = 500;       // WORKER_CHUNK_SIZE: cells per checkpoint transaction
  int progress_step_percent = 5;  // a progress line each time progress crosses a step
  // Test hook: called after each committed chunk with (job id, lastProcessedIndex).
  std::function<void(int64_t, int64_t)> on_checkpoint;
  // Test hook: after the parts of a batch (RunSmallHeatmapJobs) were written together, with
  // how many were.
  std::function<void(size_t parts)> on_batch_written;
  // Metrics hooks (optional): when a claimed job starts running, and after each committed
  // chunk with its cell count and the seconds spent scoring and writing it.
  std::function<void(const Job&)> on_job_start;
  std::function<void(int64_t job_id, int64_t cells, double seconds)> on_chunk;
  // Shared by the runs of one process (the worker sets it); null: each run builds its own.
  std::shared_ptr<IndexCache> index_cache;
  // Metrics hooks of how runs end (optional): when a run ends, with its wall time; when a
  // failed attempt was recorded (`after` is the job as stored: pending = retried with backoff,
  // failed = final; `permanent`: the job was invalid); when housekeeping (a worker's or a cron
  // run's) rescued jobs: cause "dead_owner" (the owner's lease was gone) or "stale" (no
  // heartbeat within the stale timeout).
  std::function<void(const Job& job, JobOutcome outcome, double seconds)> on_job_end;
  std::function<void(const Job& after, bool permanent)> on_attempt_failed;
  std::function<void(std::string_view cause, int jobs)> on_rescue;
};

// Runs one claimed heatmap job to its end (or until *stop becomes true). Never throws.
// `stop` may be null.
JobOutcome RunHeatmapJob(Store* store, const Env& env, const Job& job, const JobRunOptions& opts,
                         const std::atomic<bool>* stop);

// Runs claimed parts that each fit in one chunk (a worker's local queue) as RunHeatmapJob
// would, one after another, but writes their cells and completions together
// (JobQueue::WriteCheckpoints: one transaction where the store can). A part the batch cannot
// take, or whose write fails other than by a lost lease or a moved position, runs alone.
// Returns each part's outcome, in order.
std::vector<JobOutcome> RunSmallHeatmapJobs(Store* store, const Env& env, std::span<const Job> jobs,
                                            const JobRunOptions& opts,
                                            const std::atomic<bool>* stop);

// Repeats `f` (returning a Result<T>) while it fails with kTransient (the store reconnects on
// the next call), with exponential backoff from 50 ms to 5 s measured on env.clock. Gives up
// with the last error once `*stop` is set and ~5 s of retries have passed, so shutdown is
// never blocked by a dead database. Logs the first failure and every tenth.
template <typename F>
auto RetryTransient(const Env& env, std::string_view what, const std::atomic<bool>* stop, F&& f)
    -> decltype(f());

// ---------------------------------------------------------------- implementation
void LogTransientRetry(const Env& env, std::string_view what, int64_t delay_ms, const Status& s);

template <typename F>
auto RetryTransient(const Env& env, std::string_view what, const std::atomic<bool>* stop, F&& f)
    -> decltype(f()) {
  int64_t delay = 50;
  int64_t waited_after_stop = 0;
  for (int attempt = 1;; ++attempt) {
    auto r = f();
    if (r.ok() || r.status().code() != StatusCode::kTransient) return r;
    if (stop && stop->load()) {
      if (waited_after_stop > 5000) return r;
      waited_after_stop += delay;
    }
    if (attempt == 1 || attempt % 10 == 0) LogTransientRetry(env, what, delay, r.status());
    env.clock->SleepFor(delay);
    delay = std::min<int64_t>(delay * 2, 5000);
  }
}

}  // namespace nbi
