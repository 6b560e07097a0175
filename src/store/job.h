// Jobs as values: the typed job row, what a heatmap job computes, and the one codec of the
// job metadata stored as JSON in jobs.metadata.
//
// Plain values, no store logic: the store returns and takes these types, so they live in
// store/ (not jobs/, which sits above the store and uses it). It depends on common/, geo/ and
// score/model.h only, which is also why it cannot sit in common/. The job logic that uses a
// store lives in jobs/ (service.h, runner.h, cron.h).
//
// Metadata (SPEC §2, the seed's shape):
//   {"bounds": {"minLat","minLng","maxLat","maxLng"}, "gridStep": s, "model": "grocery",
//    "lastProcessedIndex": n}
// DecodeHeatmapMetadata is the only reader of that JSON outside the SQL of the stores. Bad
// input (missing fields, wrong types, out-of-range values, an unknown model) is a
// kInvalidArgument Status naming the problem, never an exception.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "geo/geo.h"
#include "score/model.h"

namespace nbi {

enum class JobStatus { kPending, kRunning, kCompleted, kFailed, kCancelled };
std::string_view JobStatusId(JobStatus s);
std::optional<JobStatus> ParseJobStatus(std::string_view s);

inline constexpr const char* kHeatmapJobType = "heatmap_compute";
// A heatmap job that an import enqueued to recompute the stored cells its changes can reach
// (jobs/refresh.h). Computed exactly like heatmap_compute; only its origin differs.
inline constexpr const char* kHeatmapRefreshJobType = "heatmap_refresh";
// True for the job types the runner computes (heatmap_compute, heatmap_refresh).
inline bool IsHeatmapJobType(std::string_view type) {
  return type == kHeatmapJobType || type == kHeatmapRefreshJobType;
}

// One row of the jobs table.
struct Job {
  int64_t id = 0;
  std::string type;
  JobStatus status = JobStatus::kPending;
  std::optional<int64_t> city_id;
  int progress = 0;  // 0..100
  int64_t total_items = 0;
  std::optional<std::string> error;
  // As stored (an object; the store replaces text that is not a JSON object by {}). Read it
  // through DecodeHeatmapMetadata; shown raw by the API and the CLI.
  nlohmann::json metadata = nlohmann::json::object();
  int64_t created_at_ms = 0;
  std::optional<int64_t> started_at_ms, completed_at_ms;
  // Queue columns.
  int attempts = 0, max_attempts = 3, priority = 0;
  int64_t run_at_ms = 0;
  std::optional<int64_t> heartbeat_at_ms;
  std::optional<std::string> locked_by;
  bool cancel_requested = false;
  int part_count = 1;  // the job's parts (store/parts.h); 1 for a job under JOB_PART_CELLS

  // The part a claim handed out (Claim and ClaimBatch fill these; other reads leave them at
  // their defaults, which stand for the whole job). The runner scores cells
  // [part_begin, part_end), resuming at part_next.
  int part = 0;
  int64_t part_begin = 0, part_end = -1, part_next = 0;
  // True when this claim started the job (it was pending, no other part was running): the
  // runner then says "Started job #N" (once per job, not per part).
  bool starts_job = true;

  bool active() const { return status == JobStatus::kPending || status == JobStatus::kRunning; }
  // metadata.lastProcessedIndex when it is a non-negative integer, else 0. Never throws.
  int64_t last_processed_index() const;
};

// What to compute. The duplicate rule compares (bounds, grid_step, model) of active jobs.
struct HeatmapJobSpec {
  std::string type = kHeatmapJobType;  // or kHeatmapRefreshJobType
  BBox bounds;
  double grid_step = 0.0025;
  HeatModel model = HeatModel::kGrocery;
  std::optional<int64_t> city_id;
  int priority = 0;  // higher runs first
  int max_attempts = 3;
  // When the job becomes claimable (epoch ms); nullopt: at once (the enqueue time).
  std::optional<int64_t> run_at_ms;
  // JOB_PART_CELLS: a job over more cells is stored as ceil(cells / part_cells) parts, each
  // claimed and run on its own (by any worker).
  int64_t part_cells = 250'000;
  // Added to the duplicate rule's key when not empty: a job that must not fold into an equal
  // one already begun (a heatmap_refresh behind a job that read the data before its import,
  // jobs/refresh.h) names that job here. Empty for every other job.
  std::string dedupe_tag;
};

// The decoded metadata of a heatmap job.
struct HeatmapMetadata {
  BBox bounds;
  double grid_step = 0;
  HeatModel model = HeatModel::kGrocery;
  int64_t last_processed_index = 0;
};

// The model of a heatmap job whose metadata names none: the jobs the original app enqueues
// (SPEC §2a; its worker computes the blend). SEED_JOB_MODEL, default blend; set once at start
// by the program (a process-wide setting, read by the stores and the runner alike).
HeatModel SeedJobModel();
void SetSeedJobModel(HeatModel model);
// True for a heatmap job whose metadata is an object without "model": one the original app
// enqueued, not yet taken over (JobQueue::Claim pins its model, count and dedupe key).
bool IsSeedJob(const Job& job);

// The metadata a new job of `spec` is stored with (lastProcessedIndex 0).
nlohmann::json EncodeHeatmapMetadata(const HeatmapJobSpec& spec);
// Reads a stored job's metadata; a missing "model" means SeedJobModel() (the original's jobs
// name none).
// kInvalidArgument, naming the job and the field, for anything else that is not right.
Result<HeatmapMetadata> DecodeHeatmapMetadata(const Job& job);

struct EnqueueResult {
  Job job;
  bool is_new = false;  // false: an active job for the same area/step/model was returned
  // The equal active job had a lower priority: it (and so its parts' claim order) was raised
  // to the spec's priority.
  bool priority_raised = false;
};

struct JobFilter {
  std::optional<JobStatus> status;
  int limit = 50;
  std::optional<int64_t> before_id;  // cursor: jobs with id < before_id (newest first)
  std::optional<std::string> type;   // only jobs of this type (heatmap_compute)
  std::optional<int64_t> city_id;    // only jobs of this city
};

// One failed or rescued attempt of a part (the job_attempts table; deleted with its job).
struct JobAttempt {
  int64_t job_id = 0;
  int part = 0;
  int attempt = 0;      // the part's attempt number (1 = first run)
  int64_t at_ms = 0;    // when it ended (epoch ms)
  std::string worker;   // who ran it ("" when unknown)
  std::string error;    // what went wrong
  std::string outcome;  // "retry" (back to pending), "failed" (the job failed), "rescued"
};

// The error of a reset refused because `active` (an equal job) is pending or running.
Status ActiveJobConflict(const Job& active);

// The duplicate rule's key: type, bounds, step and model in shortest round-trip text, then
// "#" and the spec's dedupe_tag when it has one.
std::string DedupeKey(const HeatmapJobSpec& spec);
// Delay before attempt `attempts + 1` after a failure: 5 s, 10 s, 20 s ... capped at 1 h.
int64_t RetryBackoffMs(int attempts);
// Claim order: priority descending, then oldest (lowest id) first.
void SortInClaimOrder(std::vector<Job>* jobs);

}  // namespace nbi
