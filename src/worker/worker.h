// The worker: claims heatmap jobs from a Store and runs them chunk by chunk.
//
// A job run (RunHeatmapJob) loads the region's POIs (plus the largest radius as margin) with
// one query into its own SpatialIndex, then repeats: score WORKER_CHUNK_SIZE cells in memory,
// write them with the checkpoint in one transaction. It resumes from
// metadata.lastProcessedIndex, stops at a chunk boundary on cancel or shutdown, and retries
// transient database errors with backoff (reconnecting) instead of failing or spinning.
//
// Worker::Run loops: rescue stale jobs, claim up to max_concurrent_jobs, sleep until woken
// (Wake(): an in-process enqueue or a database notification) or the poll interval passes,
// log a heartbeat line per poll. Stop() (from a signal thread) makes running jobs checkpoint
// and hand themselves back, then Run returns.
//
// Thread-safety: Wake() and Stop() may be called from any thread; Run() from one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/store.h"

namespace nbi {

struct WorkerOptions {
  int64_t poll_interval_ms = 60000;   // WORKER_POLL_INTERVAL
  int64_t chunk_size = 500;           // WORKER_CHUNK_SIZE
  int max_concurrent_jobs = 1;        // MAX_CONCURRENT_JOBS
  int64_t stale_timeout_ms = 600000;  // STALE_JOB_TIMEOUT
  int64_t heartbeat_interval_ms = 0;  // timer heartbeat; 0 = min(30 s, stale/4)
  std::string worker_id;              // empty = host-pid-random
  bool exit_when_idle = false;        // process-jobs: return once nothing is pending
  bool log_polls = true;              // a heartbeat line each poll
  int progress_step_percent = 5;      // a progress line each time progress crosses a step
  // Test hook: called after each committed chunk with (job id, lastProcessedIndex).
  std::function<void(int64_t, int64_t)> on_checkpoint;
  // Metrics hooks (optional; called from the job's thread, so they must be thread-safe):
  // when a claimed job starts running, and after each committed chunk with its cell count and
  // the seconds spent scoring and writing it.
  std::function<void(const Job&)> on_job_start;
  std::function<void(int64_t job_id, int64_t cells, double seconds)> on_chunk;
};

// Reads WORKER_POLL_INTERVAL, WORKER_CHUNK_SIZE, MAX_CONCURRENT_JOBS, STALE_JOB_TIMEOUT
// (milliseconds; "10min"/"600s" suffixes accepted). Bad values are kInvalidArgument.
Result<WorkerOptions> WorkerOptionsFromEnv();
// "600000", "600s", "10min", "1h" -> milliseconds.
Result<int64_t> ParseDurationMs(const std::string& name, const std::string& text);

// One line to the worker log: "[HH:MM:SS] message" (local time), thread-safe.
void WorkerLog(const std::string& message);
// Silences WorkerLog (benchmarks).
void SetWorkerLogQuiet(bool quiet);

enum class JobOutcome { kCompleted, kCancelled, kHandedBack, kFailed, kLostLease };

// Runs one claimed heatmap job to its end (or until *stop becomes true). Never throws.
JobOutcome RunHeatmapJob(Store* store, const Job& job, const WorkerOptions& opts,
                         const std::atomic<bool>* stop);

class Worker {
 public:
  Worker(Store* store, WorkerOptions opts);
  ~Worker();

  // Returns when Stop() was called (after running jobs were handed back) or, with
  // exit_when_idle, when no job is pending and none runs. Returns jobs finished.
  int Run();
  void Stop();
  void Wake();
  const std::string& id() const { return opts_.worker_id; }
  int running() const;

 private:
  void StartJob(Job job);
  void HeartbeatLoop();
  void ListenLoop();

  Store* const store_;
  WorkerOptions opts_;
  std::atomic<bool> stop_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;                   // guarded by mu_
  std::map<int64_t, std::thread> jobs_;  // guarded by mu_: running job threads
  std::vector<std::thread> finished_;    // guarded by mu_: to join
  int done_count_ = 0;                   // guarded by mu_
};

}  // namespace nbi
