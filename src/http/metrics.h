// Process metrics in the Prometheus text format (GET /metrics):
//
//   nearbyindex_jobs{status="pending"} 3                      gauge, from the store at scrape
//   nearbyindex_cells_computed_total 120000                   cells written by this process
//   nearbyindex_jobs_pruned_total 12                          finished jobs past JOB_RETENTION
//                                                             deleted by this process
//   nearbyindex_chunk_duration_seconds_bucket{le="0.01"} 7    histogram: score + write a chunk
//   nearbyindex_job_claim_latency_seconds_bucket{le="0.005"}  histogram: a job runnable
//                                                             (enqueued / retry due) -> claimed
//   nearbyindex_http_requests_total{route="/api/jobs/:id",status="200"} 42
//
// Job-side figures come from the worker hooks (Instrument); the cron endpoint's runs count
// too. Routes are labelled by their pattern, never the raw path, so labels stay few.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
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
  // Appends the _bucket / _sum / _count lines of metric `name`.
  void Render(std::string_view name, std::string_view help, std::string* out) const;

 private:
  const std::vector<double> bounds_;  // constant after construction, ascending
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // guarded by mu_: per bucket (not cumulative), + overflow
  double sum_ = 0;                // guarded by mu_
  uint64_t count_ = 0;            // guarded by mu_
};

class Metrics {
 public:
  Metrics();

  void CountRequest(std::string_view route, int http_status);
  void AddCells(int64_t n);
  void AddPruned(int64_t n);
  void ObserveChunk(double seconds);
  void ObserveClaimLatency(double seconds);

  // Adds the job hooks (on_job_start, on_chunk) to `opts`, keeping hooks already set.
  void Instrument(JobRunOptions* opts);

  // The whole exposition. `job_counts` comes from Store::CountJobsByStatus at scrape time;
  // nullopt (the store failed) omits the job gauge and reports nearbyindex_store_up 0.
  std::string Render(
      const std::optional<std::vector<std::pair<JobStatus, int64_t>>>& job_counts) const;

 private:
  Histogram chunk_seconds_, claim_latency_seconds_;
  mutable std::mutex mu_;
  int64_t cells_ = 0;                                    // guarded by mu_
  int64_t pruned_ = 0;                                   // guarded by mu_
  std::map<std::pair<std::string, int>, int64_t> http_;  // guarded by mu_
};

}  // namespace nbi::http
