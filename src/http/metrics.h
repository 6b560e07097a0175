// Process metrics in the Prometheus text format (GET /metrics of `serve`, and of `worker` and
// `process-jobs` on METRICS_ADDR). Names follow Prometheus conventions: counters end in
// _total, times are in seconds. Every metric is listed in docs/http.md ("Metrics and health"):
//
//   nearbyindex_store_up 1                                    1 when the store answered
//   nearbyindex_jobs{status="pending"} 3                      gauge, from the store at scrape
//   nearbyindex_queue_lag_seconds 0.4                         gauge: age of the oldest ready
//                                                             pending job (0: none waits)
//   nearbyindex_cells_written_total 120000                    cells scored and stored here
//   nearbyindex_cells_computed_total 120000                   the same (older name)
//   nearbyindex_jobs_failed_total{cause="max_attempts"} 1     runs that failed a job for good
//   nearbyindex_jobs_retried_total 2                          failed attempts sent to backoff
//   nearbyindex_jobs_rescued_total{cause="dead_owner"} 1      jobs rescued by housekeeping
//   nearbyindex_parts_in_flight 2                             gauge: job parts running in
//                                                             this process now
//   nearbyindex_jobs_pruned_total 12                          finished jobs past JOB_RETENTION
//   nearbyindex_job_duration_seconds_bucket{outcome="completed",le="1"} 3
//                                                             histogram: one run of a job
//   nearbyindex_chunk_duration_seconds_bucket{le="0.01"} 7    histogram: score + write a chunk
//   nearbyindex_job_claim_latency_seconds_bucket{le="0.005"}  histogram: a job runnable
//                                                             (enqueued / retry due) -> claimed
//   nearbyindex_http_requests_total{route="/api/jobs/:id",status="200"} 42
//
// Job-side figures come from the job hooks (Instrument); the cron endpoint's runs count too.
// Routes are labelled by their pattern, never the raw path, so labels stay few.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jobs/runner.h"
#include "store/store.h"

namespace nbi::http {

// A cumulative histogram with fixed upper bounds (seconds). Thread-safe.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  // Appends the # HELP / # TYPE lines and the _bucket / _sum / _count lines of `name`.
  void Render(std::string_view name, std::string_view help, std::string* out) const;
  // The sample lines only, each with `labels` (`outcome="completed"`) before `le`.
  void RenderSamples(std::string_view name, std::string_view labels, std::string* out) const;

 private:
  const std::vector<double> bounds_;  // constant after construction, ascending
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // guarded by mu_: per bucket (not cumulative), + overflow
  double sum_ = 0;                // guarded by mu_
  uint64_t count_ = 0;            // guarded by mu_
};

// What the store says at scrape time; a field is nullopt when its read failed.
struct StoreGauges {
  std::optional<std::vector<std::pair<JobStatus, int64_t>>> job_counts;
  std::optional<double> queue_lag_seconds;
  // Reads both from `queue` (CountJobsByStatus, NextPending) at wall time `now_ms`.
  static StoreGauges Read(JobQueue* queue, int64_t now_ms);
};

class Metrics {
 public:
  Metrics();

  void CountRequest(std::string_view route, int http_status);
  void AddCells(int64_t n);
  void AddPruned(int64_t n);
  void ObserveChunk(double seconds);
  void ObserveClaimLatency(double seconds);
  void ObserveJobRun(std::string_view outcome, double seconds);
  // A failed attempt: `after.status` pending counts as retried, failed as failed (cause
  // "invalid_job" when permanent, else "max_attempts").
  void CountAttemptFailed(const Job& after, bool permanent);
  void AddRescued(std::string_view cause, int64_t n);
  // A run of a part starts / ends in this process (the parts-in-flight gauge). An end without
  // its start (a run that failed before starting) changes nothing.
  void PartStarted(int64_t job_id, int part);
  void PartEnded(int64_t job_id, int part);
  int64_t parts_in_flight() const;

  // Adds the job hooks (on_job_start, on_chunk, on_job_end, on_attempt_failed, on_rescue)
  // to `opts`, keeping hooks already set.
  void Instrument(JobRunOptions* opts);

  // The whole exposition. Without job counts (the store failed) the job gauges are omitted
  // and nearbyindex_store_up is 0.
  std::string Render(const StoreGauges& store) const;

 private:
  void RenderCounters(std::string* out) const;

  Histogram chunk_seconds_, claim_latency_seconds_;
  mutable std::mutex mu_;
  int64_t cells_ = 0;                                              // guarded by mu_
  int64_t pruned_ = 0;                                             // guarded by mu_
  int64_t retried_ = 0;                                            // guarded by mu_
  std::map<std::string, int64_t> failed_;                          // guarded by mu_: by cause
  std::map<std::string, int64_t> rescued_;                         // guarded by mu_: by cause
  std::map<std::pair<int64_t, int>, int> in_flight_;               // guarded by mu_: runs
  std::map<std::string, std::unique_ptr<Histogram>> job_seconds_;  // guarded by mu_: by outcome
  std::map<std::pair<std::string, int>, int64_t> http_;            // guarded by mu_
};

}  // namespace nbi::http
