// JobService: the one home of job logic. The HTTP API, the CLI and the worker's embedders all
// call it instead of the store directly for anything with a rule in it:
//   - schedule resolution: a city slug or bounds + grid step + model + priority -> a checked
//     HeatmapJobSpec, with the per-job cell cap applied (the same cap everywhere);
//   - enqueueing with the duplicate rule (DedupeKey in store/job.h), waking the local worker
//     when a job became runnable (new job, retry);
//   - the coverage rule of /api/score (SPEC §5): a point without stored cells at step 0.0025
//     within one step gets a 0.15° regional job, unless an active job already covers it;
//   - the cron runner (cron.h), which runs jobs for a time budget inside a request.
//
// Thread-safe: every method may be called from any thread (the store is thread-safe).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/env.h"
#include "common/status.h"
#include "geo/geo.h"
#include "jobs/admission.h"
#include "store/job.h"
#include "store/store.h"

namespace nbi {

// What a user asks to schedule, read by the CLI or the API but not yet checked: either a city
// slug or bounds, plus grid step, model and priority. JobService::Resolve checks every field,
// so `schedule` and POST /api/heatmap/schedule refuse the same requests with the same words.
inline constexpr int kMaxJobAttempts = 100;
inline constexpr int64_t kMaxJobPriority = 1000;                    // priorities are -1000..1000
inline constexpr int64_t kRunAtPastSlackMs = 60'000;                // runAt may lag now by 1 min
inline constexpr int64_t kRunAtMaxAheadMs = 366LL * 24 * 3600'000;  // and lead it by a year

struct ScheduleRequest {
  std::optional<std::string> city_slug;
  std::optional<BBox> bounds;
  double grid_step = 0.0025;
  std::string model = "grocery";      // a model name (ParseModelName, score/model.h)
  int64_t priority = 0;               // -kMaxJobPriority..kMaxJobPriority
  int max_attempts = 3;               // 1..100
  std::optional<int64_t> run_at_ms;   // not before now - 1 min, at most a year ahead
  std::optional<int64_t> delay_ms;    // instead of run_at_ms: from now, the queue's time
  std::optional<int64_t> part_cells;  // cells per part; default JobServiceOptions::part_cells
  bool reset = false;  // first delete the area's cells of this step and model (see Reset...)
  bool force = false;  // with reset: cancel an equal active job first instead of refusing
};

struct JobServiceOptions {
  int64_t job_cell_cap = kDefaultCellCap;  // NBI_JOB_CELL_CAP: cells per scheduled job
  int64_t part_cells = kDefaultPartCells;  // JOB_PART_CELLS: a larger job is split in parts
  // reset --force: how long to wait for the cancelled job to stop before giving up.
  int64_t reset_wait_ms = 120'000;
  AdmissionOptions admission;  // caps on queued cells (jobs/admission.h)
};

// What Submit did: the job it enqueued (or the equal active one), and with reset what it
// removed and cancelled first.
struct ScheduleOutcome {
  HeatmapJobSpec spec;
  EnqueueResult enqueued;
  bool reset = false;
  int64_t cells_removed = 0;             // reset: cells deleted
  std::optional<int64_t> cancelled_job;  // reset with force: the active job stopped first
};

struct ResetResult {
  int64_t cells_removed = 0;
  EnqueueResult enqueued;
  std::optional<int64_t> cancelled_job;  // --force: the active job that was stopped first
};

// The coverage rule's regional job for a point (SPEC §5): 0.15° x 0.15° at step 0.0025,
// model grocery, centred on the grid point nearest to `at` (so every point of one cell yields
// the identical spec and the duplicate rule folds concurrent requests into one job). Near the
// poles / antimeridian the window is shifted to stay in range.
inline constexpr double kCoverageGridStep = 0.0025;
inline constexpr int kCoverageHalfCells = 30;  // 0.15° = 60 cells of 0.0025°
HeatmapJobSpec CoverageJobSpec(LatLng at, HeatModel model = HeatModel::kGrocery);

struct Coverage {
  bool covered = false;           // a cell of step 0.0025 lies within one step
  std::optional<int64_t> job_id;  // the job covering the point (new or already active)
  bool scheduled = false;         // job_id was enqueued by this call
};

class JobService {
 public:
  // `store` must outlive the service. `on_runnable` (may be empty) is called after a call
  // made a job runnable: Worker::Wake of an embedded worker.
  JobService(Store* store, Env env, JobServiceOptions opts, std::function<void()> on_runnable = {});

  // A checked spec: a known model name, a priority in -1000..1000, force only with reset, the
  // queue options, the city's bounds and id for a slug (kNotFound), a valid grid step, and at
  // most opts.job_cell_cap cells (else kInvalidArgument with reason "too_many_cells").
  Result<HeatmapJobSpec> Resolve(const ScheduleRequest& request);
  // What `schedule` and POST /api/heatmap/schedule do: Resolve, then ResetAndSchedule when the
  // request asks for a reset, else Schedule. `client` as for Schedule.
  Result<ScheduleOutcome> Submit(const ScheduleRequest& request,
                                 const std::string* client = nullptr);
  // Enqueues (or returns the equal active job); wakes the local worker for a new job. A new
  // job must fit the admission caps (jobs/admission.h): the total one always, the client's
  // one when `client` is given (the API passes the peer's address; the CLI none).
  Result<EnqueueResult> Schedule(const HeatmapJobSpec& spec, const std::string* client = nullptr);
  // `schedule --reset`: in one transaction, deletes the cells of the spec's area, step and
  // model and its finished jobs (nothing of other steps or models), and enqueues the spec.
  // While an equal job is active it refuses (kConflict naming the job); with `force` it
  // cancels that job, waits until it has stopped (rescuing it when its owner died), then
  // resets. Afterwards the area holds exactly the cells the new job writes.
  Result<ResetResult> ResetAndSchedule(const HeatmapJobSpec& spec, bool force,
                                       const std::string* client = nullptr);

  Result<Job> Get(int64_t id) { return store_->GetJob(id); }
  Result<std::vector<Job>> List(const JobFilter& filter) { return store_->ListJobs(filter); }
  Result<std::vector<JobAttempt>> Attempts(int64_t id) { return store_->ListAttempts(id); }
  Result<Job> Cancel(int64_t id) { return store_->Cancel(id); }
  // failed/cancelled -> pending; wakes the local worker.
  Result<Job> Retry(int64_t id);
  Result<int> ResetRunning();
  Result<int> PruneFinished(int64_t age_ms) { return store_->PruneFinished(age_ms); }

  // The coverage rule for a point. `may_schedule` is asked only when a new job would be
  // enqueued (the HTTP API takes a rate-limit token there); false: report, schedule nothing.
  // The job must fit the admission caps as Schedule's (`client` as there): over one, nothing
  // is scheduled either.
  // A failure to look up or schedule the job is logged, not returned: the caller's answer
  // (a score) does not depend on it. Only the coverage check itself can fail.
  // Of `model`'s cells: a point read for a walking model covers (and schedules) walking cells.
  Result<Coverage> EnsureCoverage(LatLng at, const std::function<bool()>& may_schedule,
                                  HeatModel model = HeatModel::kGrocery,
                                  const std::string* client = nullptr);

  Store* store() const { return store_; }
  const Env& env() const { return env_; }
  const JobServiceOptions& options() const { return opts_; }

 private:
  // Cancels the job and waits until it is no longer active.
  Status StopJob(int64_t id);
  // The admission caps for a new job of `spec` (nothing to check when an equal job is active
  // and `dedupes`: the duplicate rule returns it). kConflict, reason "queue_full", when over.
  Status Admit(const HeatmapJobSpec& spec, const std::string* client, bool dedupes);
  void Admitted(const std::string* client, const EnqueueResult& e) {
    if (client && e.is_new) client_jobs_.Record(*client, e.job.id);
  }
  void Runnable() const {
    if (on_runnable_) on_runnable_();
  }

  Store* const store_;
  const Env env_;
  const JobServiceOptions opts_;
  const std::function<void()> on_runnable_;
  ClientJobs client_jobs_;
};

}  // namespace nbi
