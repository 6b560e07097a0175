#include "http/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

namespace nbi::http {

namespace {

// Label values are route patterns and status ids; escape anyway (\, ", newline).
std::string EscapeLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double v) {
  size_t b = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  std::lock_guard<std::mutex> l(mu_);
  ++counts_[b];
  sum_ += v;
  ++count_;
}

void Histogram::Render(std::string_view name, std::string_view help, std::string* out) const {
  *out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  RenderSamples(name, "", out);
}

void Histogram::RenderSamples(std::string_view name, std::string_view labels,
                              std::string* out) const {
  const std::string pre = labels.empty() ? std::string() : std::string(labels) + ",";
  const std::string only = labels.empty() ? std::string() : "{" + std::string(labels) + "}";
  std::lock_guard<std::mutex> l(mu_);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    *out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, pre, bounds_[i], cumulative);
  }
  *out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n{}_sum{} {}\n{}_count{} {}\n", name, pre,
                      count_, name, only, sum_, name, only, count_);
}

StoreGauges StoreGauges::Read(JobQueue* queue, int64_t now_ms) {
  StoreGauges g;
  if (auto counts = queue->CountJobsByStatus(); counts.ok()) g.job_counts = std::move(*counts);
  // The pending job with the smallest run_at is the one that has been ready longest.
  if (auto next = queue->NextPending(); next.ok()) {
    g.queue_lag_seconds = *next ? std::max<int64_t>(0, now_ms - (*next)->run_at_ms) / 1000.0 : 0.0;
  }
  return g;
}

Metrics::Metrics()
    : chunk_seconds_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}),
      claim_latency_seconds_({0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600}),
      failed_{{"invalid_job", 0}, {"max_attempts", 0}},
      rescued_{{"dead_owner", 0}, {"stale", 0}} {}

void Metrics::CountRequest(std::string_view route, int http_status) {
  std::lock_guard<std::mutex> l(mu_);
  ++http_[{std::string(route), http_status}];
}

void Metrics::AddPruned(int64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  pruned_ += n;
}

void Metrics::AddCells(int64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  cells_ += n;
}

void Metrics::ObserveChunk(double seconds) { chunk_seconds_.Observe(seconds); }
void Metrics::ObserveClaimLatency(double seconds) { claim_latency_seconds_.Observe(seconds); }

void Metrics::ObserveJobRun(std::string_view outcome, double seconds) {
  Histogram* h;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto& slot = job_seconds_[std::string(outcome)];
    if (!slot) {
      slot = std::make_unique<Histogram>(
          std::vector<double>{0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600});
    }
    h = slot.get();  // never removed: valid after the lock
  }
  h->Observe(seconds);
}

void Metrics::CountAttemptFailed(const Job& after, bool permanent) {
  std::lock_guard<std::mutex> l(mu_);
  if (after.status == JobStatus::kPending) {
    ++retried_;
  } else {
    ++failed_[permanent ? "invalid_job" : "max_attempts"];
  }
}

void Metrics::AddRescued(std::string_view cause, int64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  rescued_[std::string(cause)] += n;
}

void Metrics::PartStarted(int64_t job_id, int part) {
  std::lock_guard<std::mutex> l(mu_);
  ++in_flight_[{job_id, part}];
}

void Metrics::PartEnded(int64_t job_id, int part) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = in_flight_.find({job_id, part});
  if (it != in_flight_.end() && --it->second <= 0) in_flight_.erase(it);
}

int64_t Metrics::parts_in_flight() const {
  std::lock_guard<std::mutex> l(mu_);
  int64_t n = 0;
  for (const auto& [key, runs] : in_flight_) n += runs;
  return n;
}

void Metrics::Instrument(JobRunOptions* opts) {
  auto prev_start = opts->on_job_start;
  opts->on_job_start = [this, prev_start](const Job& job) {
    PartStarted(job.id, job.part);
    // Claim sets heartbeat_at to the claim time; the job was runnable from max(created, run_at).
    if (job.heartbeat_at_ms) {
      int64_t runnable = std::max(job.created_at_ms, job.run_at_ms);
      ObserveClaimLatency(std::max<int64_t>(0, *job.heartbeat_at_ms - runnable) / 1000.0);
    }
    if (prev_start) prev_start(job);
  };
  auto prev_chunk = opts->on_chunk;
  opts->on_chunk = [this, prev_chunk](int64_t job_id, int64_t cells, double seconds) {
    AddCells(cells);
    ObserveChunk(seconds);
    if (prev_chunk) prev_chunk(job_id, cells, seconds);
  };
  auto prev_end = opts->on_job_end;
  opts->on_job_end = [this, prev_end](const Job& job, JobOutcome o, double seconds) {
    PartEnded(job.id, job.part);
    ObserveJobRun(JobOutcomeId(o), seconds);
    if (prev_end) prev_end(job, o, seconds);
  };
  auto prev_failed = opts->on_attempt_failed;
  opts->on_attempt_failed = [this, prev_failed](const Job& after, bool permanent) {
    CountAttemptFailed(after, permanent);
    if (prev_failed) prev_failed(after, permanent);
  };
  auto prev_rescue = opts->on_rescue;
  opts->on_rescue = [this, prev_rescue](std::string_view cause, int n) {
    AddRescued(cause, n);
    if (prev_rescue) prev_rescue(cause, n);
  };
}

namespace {
void Family(std::string* out, std::string_view name, std::string_view type, std::string_view help) {
  *out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}
}  // namespace

std::string Metrics::Render(const StoreGauges& store) const {
  std::string out;
  Family(&out, "nearbyindex_store_up", "gauge", "1 when the store answered this scrape.");
  out += fmt::format("nearbyindex_store_up {}\n", store.job_counts ? 1 : 0);
  if (store.job_counts) {
    Family(&out, "nearbyindex_jobs", "gauge", "Jobs in the store by status.");
    for (JobStatus s : {JobStatus::kPending, JobStatus::kRunning, JobStatus::kCompleted,
                        JobStatus::kFailed, JobStatus::kCancelled}) {
      int64_t n = 0;
      for (const auto& [st, count] : *store.job_counts) n += st == s ? count : 0;
      out += fmt::format("nearbyindex_jobs{{status=\"{}\"}} {}\n", JobStatusId(s), n);
    }
  }
  if (store.queue_lag_seconds) {
    Family(&out, "nearbyindex_queue_lag_seconds", "gauge",
           "Age of the oldest ready pending job (since its run_at); 0 when none waits.");
    out += fmt::format("nearbyindex_queue_lag_seconds {}\n", *store.queue_lag_seconds);
  }
  RenderCounters(&out);
  chunk_seconds_.Render("nearbyindex_chunk_duration_seconds",
                        "Time to score and durably write one chunk of cells.", &out);
  claim_latency_seconds_.Render(
      "nearbyindex_job_claim_latency_seconds",
      "Time from a job becoming runnable (enqueued or retry due) to its claim.", &out);
  return out;
}

void Metrics::RenderCounters(std::string* out) const {
  std::lock_guard<std::mutex> l(mu_);
  Family(out, "nearbyindex_cells_written_total", "counter",
         "Heatmap cells scored and durably written by this process.");
  *out += fmt::format("nearbyindex_cells_written_total {}\n", cells_);
  Family(out, "nearbyindex_cells_computed_total", "counter",
         "Older name of nearbyindex_cells_written_total (same value).");
  *out += fmt::format("nearbyindex_cells_computed_total {}\n", cells_);
  Family(out, "nearbyindex_jobs_failed_total", "counter",
         "Job runs of this process that failed their job for good, by cause (invalid_job: "
         "undecodable or invalid, no retry; max_attempts: the last attempt failed).");
  for (const auto& [cause, n] : failed_) {
    *out += fmt::format("nearbyindex_jobs_failed_total{{cause=\"{}\"}} {}\n", cause, n);
  }
  Family(out, "nearbyindex_jobs_retried_total", "counter",
         "Failed attempts of this process sent back to pending with backoff.");
  *out += fmt::format("nearbyindex_jobs_retried_total {}\n", retried_);
  Family(out, "nearbyindex_jobs_rescued_total", "counter",
         "Running jobs rescued by this process's housekeeping, by cause (dead_owner: the "
         "owner's lease was gone; stale: no heartbeat within STALE_JOB_TIMEOUT).");
  for (const auto& [cause, n] : rescued_) {
    *out += fmt::format("nearbyindex_jobs_rescued_total{{cause=\"{}\"}} {}\n", cause, n);
  }
  Family(out, "nearbyindex_parts_in_flight", "gauge",
         "Job parts running in this process now (a job of one part counts 1).");
  int64_t in_flight = 0;
  for (const auto& [key, runs] : in_flight_) in_flight += runs;
  *out += fmt::format("nearbyindex_parts_in_flight {}\n", in_flight);
  Family(out, "nearbyindex_jobs_pruned_total", "counter",
         "Finished jobs older than JOB_RETENTION deleted by this process.");
  *out += fmt::format("nearbyindex_jobs_pruned_total {}\n", pruned_);
  Family(out, "nearbyindex_job_duration_seconds", "histogram",
         "Wall time of one run of a job in this process (claim to its end), by outcome "
         "(completed, failed, cancelled, handed_back, lost_lease).");
  for (const auto& [outcome, h] : job_seconds_) {
    h->RenderSamples("nearbyindex_job_duration_seconds", fmt::format("outcome=\"{}\"", outcome),
                     out);
  }
  Family(out, "nearbyindex_http_requests_total", "counter",
         "HTTP requests by route pattern and status.");
  for (const auto& [key, n] : http_) {
    *out += fmt::format("nearbyindex_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
                        EscapeLabel(key.first), key.second, n);
  }
}

}  // namespace nbi::http
