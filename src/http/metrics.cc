#include "http/metrics.h"

#include <fmt/format.h>

#include <algorithm>

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
  std::lock_guard<std::mutex> l(mu_);
  *out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    *out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cumulative);
  }
  *out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count_, name,
                      sum_, name, count_);
}

Metrics::Metrics()
    : chunk_seconds_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}),
      claim_latency_seconds_({0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600}) {
}

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

void Metrics::Instrument(JobRunOptions* opts) {
  auto prev_start = opts->on_job_start;
  opts->on_job_start = [this, prev_start](const Job& job) {
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
}

std::string Metrics::Render(
    const std::optional<std::vector<std::pair<JobStatus, int64_t>>>& job_counts) const {
  std::string out;
  out +=
      "# HELP nearbyindex_store_up 1 when the store answered this scrape.\n"
      "# TYPE nearbyindex_store_up gauge\n";
  out += fmt::format("nearbyindex_store_up {}\n", job_counts ? 1 : 0);
  if (job_counts) {
    out += "# HELP nearbyindex_jobs Jobs in the store by status.\n# TYPE nearbyindex_jobs gauge\n";
    for (JobStatus s : {JobStatus::kPending, JobStatus::kRunning, JobStatus::kCompleted,
                        JobStatus::kFailed, JobStatus::kCancelled}) {
      int64_t n = 0;
      for (const auto& [st, count] : *job_counts) n += st == s ? count : 0;
      out += fmt::format("nearbyindex_jobs{{status=\"{}\"}} {}\n", JobStatusId(s), n);
    }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    out +=
        "# HELP nearbyindex_cells_computed_total Heatmap cells scored and stored by this process.\n"
        "# TYPE nearbyindex_cells_computed_total counter\n";
    out += fmt::format("nearbyindex_cells_computed_total {}\n", cells_);
    out +=
        "# HELP nearbyindex_jobs_pruned_total Finished jobs older than JOB_RETENTION deleted "
        "by this process.\n"
        "# TYPE nearbyindex_jobs_pruned_total counter\n";
    out += fmt::format("nearbyindex_jobs_pruned_total {}\n", pruned_);
    out +=
        "# HELP nearbyindex_http_requests_total HTTP requests by route pattern and status.\n"
        "# TYPE nearbyindex_http_requests_total counter\n";
    for (const auto& [key, n] : http_) {
      out += fmt::format("nearbyindex_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
                         EscapeLabel(key.first), key.second, n);
    }
  }
  chunk_seconds_.Render("nearbyindex_chunk_duration_seconds",
                        "Time to score and durably write one chunk of cells.", &out);
  claim_latency_seconds_.Render(
      "nearbyindex_job_claim_latency_seconds",
      "Time from a job becoming runnable (enqueued or retry due) to its claim.", &out);
  return out;
}

}  // namespace nbi::http
