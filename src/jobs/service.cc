#include "jobs/service.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/time_format.h"

namespace nbi {

HeatmapJobSpec CoverageJobSpec(LatLng at, HeatModel model) {
  constexpr double s = kCoverageGridStep;
  constexpr int64_t half = kCoverageHalfCells;
  // Index windows [c - half, c + half) in grid units, shifted inside the valid range.
  auto window = [&](double v, int64_t limit, int64_t* lo, int64_t* hi) {
    int64_t c = NearestGridIndex(v, s);
    *lo = std::clamp(c - half, -limit, limit - 2 * half);
    *hi = *lo + 2 * half;
  };
  const int64_t lat_limit = std::llround(90 / s), lng_limit = std::llround(180 / s);
  int64_t i0, i1, j0, j1;
  window(at.lat, lat_limit, &i0, &i1);
  window(at.lng, lng_limit, &j0, &j1);
  // Coordinates from integer indices, so equal cells give bit-identical bounds (the dedupe key).
  auto coord = [&](int64_t i, double limit) {
    return std::clamp(static_cast<double>(i) * s, -limit, limit);
  };
  HeatmapJobSpec spec;
  spec.bounds = BBox{coord(i0, 90), coord(j0, 180), coord(i1, 90), coord(j1, 180)};
  spec.grid_step = s;
  spec.model = model;
  return spec;
}

namespace {

// The queue options of a request: 1..100 attempts; a start time from a minute ago (clock
// skew between the client and us) to a year ahead.
Status CheckQueueOptions(const ScheduleRequest& r, int64_t now_ms) {
  if (r.priority < -kMaxJobPriority || r.priority > kMaxJobPriority) {
    return Status::Invalid(fmt::format("priority {} is outside -{}..{}", r.priority,
                                       kMaxJobPriority, kMaxJobPriority));
  }
  if (r.force && !r.reset) return Status::Invalid("force only goes with reset");
  if (r.max_attempts < 1 || r.max_attempts > kMaxJobAttempts) {
    return Status::Invalid(
        fmt::format("maxAttempts {} is outside 1..{}", r.max_attempts, kMaxJobAttempts));
  }
  if (r.run_at_ms && *r.run_at_ms < now_ms - kRunAtPastSlackMs) {
    return Status::Invalid(fmt::format("runAt {} is in the past (now is {})",
                                       FormatTimestamp(*r.run_at_ms, TimeStyle::kIsoUtc),
                                       FormatTimestamp(now_ms, TimeStyle::kIsoUtc)));
  }
  if (r.run_at_ms && *r.run_at_ms > now_ms + kRunAtMaxAheadMs) {
    return Status::Invalid(fmt::format("runAt {} is more than a year ahead",
                                       FormatTimestamp(*r.run_at_ms, TimeStyle::kIsoUtc)));
  }
  return Status::Ok();
}

}  // namespace

JobService::JobService(Store* store, Env env, JobServiceOptions opts,
                       std::function<void()> on_runnable)
    : store_(store), env_(std::move(env)), opts_(opts), on_runnable_(std::move(on_runnable)) {}

Result<HeatmapJobSpec> JobService::Resolve(const ScheduleRequest& r) {
  HeatmapJobSpec spec;
  spec.grid_step = r.grid_step;
  NBI_ASSIGN_OR_RETURN(spec.model, ParseModelName("model", r.model));
  // Start times are the queue's (the database's clock on PostgreSQL), not this machine's.
  const int64_t now = store_->NowMs();
  ScheduleRequest timed = r;
  if (r.delay_ms) timed.run_at_ms = now + *r.delay_ms;
  NBI_RETURN_IF_ERROR(CheckQueueOptions(timed, now));
  spec.priority = static_cast<int>(r.priority);
  spec.max_attempts = r.max_attempts;
  spec.run_at_ms = timed.run_at_ms;
  spec.part_cells = r.part_cells.value_or(opts_.part_cells);
  if (spec.part_cells < 1) return Status::Invalid("part cells must be at least 1");
  if (r.city_slug) {
    NBI_ASSIGN_OR_RETURN(City city, store_->GetCity(*r.city_slug));
    spec.bounds = city.bounds;
    spec.city_id = city.id;
  } else if (r.bounds) {
    spec.bounds = *r.bounds;
  } else {
    return Status::Invalid("give a city slug or bounds");
  }
  NBI_ASSIGN_OR_RETURN(spec.grid_step, CanonicalGridStep(spec.grid_step));
  double cells = GridCellCount(spec.bounds, spec.grid_step);
  if (cells > static_cast<double>(opts_.job_cell_cap)) {
    return Status::Invalid(fmt::format("{} at gridStep {} holds {:.0f} cells, over the job cap "
                                       "of {}",
                                       spec.bounds.ToString(), spec.grid_step, cells,
                                       opts_.job_cell_cap))
        .WithReason("too_many_cells");
  }
  auto region = GridRegion::Make(spec.bounds, spec.grid_step, opts_.job_cell_cap);
  if (!region.ok()) return region.status();
  return spec;
}

Result<ScheduleOutcome> JobService::Submit(const ScheduleRequest& r, const std::string* client) {
  ScheduleOutcome out;
  NBI_ASSIGN_OR_RETURN(out.spec, Resolve(r));
  out.reset = r.reset;
  if (!r.reset) {
    NBI_ASSIGN_OR_RETURN(out.enqueued, Schedule(out.spec, client));
    return out;
  }
  NBI_ASSIGN_OR_RETURN(ResetResult reset, ResetAndSchedule(out.spec, r.force, client));
  out.enqueued = std::move(reset.enqueued);
  out.cells_removed = reset.cells_removed;
  out.cancelled_job = reset.cancelled_job;
  return out;
}

Result<EnqueueResult> JobService::Schedule(const HeatmapJobSpec& spec, const std::string* client) {
  NBI_RETURN_IF_ERROR(Admit(spec, client, true));
  NBI_ASSIGN_OR_RETURN(EnqueueResult e, store_->EnqueueHeatmap(spec));
  Admitted(client, e);
  if (e.is_new) Runnable();
  return e;
}

Status JobService::Admit(const HeatmapJobSpec& spec, const std::string* client, bool dedupes) {
  const AdmissionOptions& caps = opts_.admission;
  const bool per_client = client && caps.client_queued_cells > 0;
  if (!per_client && caps.total_queued_cells <= 0) return Status::Ok();
  if (dedupes) {
    NBI_ASSIGN_OR_RETURN(std::optional<Job> active, store_->ActiveJobFor(spec));
    if (active) return Status::Ok();  // folded into the active job: nothing new is queued
  }
  const auto cells = static_cast<int64_t>(GridCellCount(spec.bounds, spec.grid_step));
  auto refuse = [&](std::string_view whose, int64_t queued, int64_t cap, std::string_view var) {
    return Status::Conflict(fmt::format("{} {} cells queued and not yet computed; this job's {} "
                                        "more would pass the cap of {} ({}); retry once the "
                                        "queue has worked them off",
                                        whose, queued, cells, cap, var))
        .WithReason("queue_full");
  };
  if (per_client) {
    NBI_ASSIGN_OR_RETURN(auto mine, store_->QueuedCellsOf(client_jobs_.Of(*client)));
    std::vector<int64_t> active;
    int64_t queued = 0;
    for (auto [id, left] : mine) {
      active.push_back(id);
      queued += left;
    }
    client_jobs_.Keep(*client, active);  // finished jobs no longer count
    if (queued + cells > caps.client_queued_cells) {
      return refuse("this client has", queued, caps.client_queued_cells, "NBI_QUEUE_CLIENT_CELLS");
    }
  }
  if (caps.total_queued_cells > 0) {
    NBI_ASSIGN_OR_RETURN(int64_t queued, store_->QueuedCells());
    if (queued + cells > caps.total_queued_cells) {
      return refuse("the queue holds", queued, caps.total_queued_cells, "NBI_QUEUE_TOTAL_CELLS");
    }
  }
  return Status::Ok();
}

Result<ResetResult> JobService::ResetAndSchedule(const HeatmapJobSpec& spec, bool force,
                                                 const std::string* client) {
  // A reset always enqueues anew (an equal active job is refused or cancelled first).
  NBI_RETURN_IF_ERROR(Admit(spec, client, false));
  ResetResult out;
  for (int round = 0; round < 5; ++round) {
    auto reset = store_->ResetAndEnqueue(spec);
    if (reset.ok()) {
      out.cells_removed = reset->first;
      out.enqueued = std::move(reset->second);
      Admitted(client, out.enqueued);
      Runnable();
      return out;
    }
    if (reset.status().code() != StatusCode::kConflict || !force) return reset.status();
    NBI_ASSIGN_OR_RETURN(std::optional<Job> active, store_->ActiveJobFor(spec));
    if (!active) continue;  // it ended meanwhile: try again
    NBI_RETURN_IF_ERROR(StopJob(active->id));
    out.cancelled_job = active->id;
  }
  return Status::Conflict("reset: equal jobs kept being scheduled; try again");
}

Status JobService::StopJob(int64_t id) {
  auto cancelled = store_->Cancel(id);
  if (!cancelled.ok() && cancelled.status().code() != StatusCode::kInvalidArgument) {
    return cancelled.status();  // kInvalidArgument: it finished meanwhile
  }
  env_.log->info(fmt::format("Reset: cancelling job #{} and waiting for it to stop", id));
  const int64_t deadline = env_.clock->SteadyMs() + opts_.reset_wait_ms;
  for (int64_t next_rescue = 0;;) {
    NBI_ASSIGN_OR_RETURN(Job job, store_->GetJob(id));
    if (!job.active()) return Status::Ok();
    const int64_t now = env_.clock->SteadyMs();
    if (now >= deadline) {
      return Status::Transient(fmt::format(
          "job #{} was cancelled but has not stopped within {} s (its worker is busy or hung); "
          "try again later",
          id, opts_.reset_wait_ms / 1000));
    }
    if (now >= next_rescue) {
      // An owner that died cannot stop the job itself: rescue ends it (it is cancelled).
      (void)store_->RescueDeadOwners();
      next_rescue = now + 1000;
    }
    env_.clock->SleepFor(50);
  }
}

Result<Job> JobService::Retry(int64_t id) {
  NBI_ASSIGN_OR_RETURN(Job job, store_->Retry(id));
  Runnable();
  return job;
}

Result<int> JobService::ResetRunning() {
  NBI_ASSIGN_OR_RETURN(int n, store_->ResetRunning());
  if (n > 0) Runnable();
  return n;
}

Result<Coverage> JobService::EnsureCoverage(LatLng at, const std::function<bool()>& may_schedule,
                                            HeatModel model, const std::string* client) {
  Coverage out;
  NBI_ASSIGN_OR_RETURN(out.covered, store_->HasCoverage(at.lat, at.lng, kCoverageGridStep, model));
  if (out.covered) return out;
  // The job already covering the point, or a new regional one.
  auto active = store_->FindActiveJobCovering(at.lat, at.lng, kCoverageGridStep, model);
  if (!active.ok()) {
    env_.log->info("Coverage check failed: " + active.status().message());
    return out;
  }
  if (*active) {
    out.job_id = (*active)->id;
    return out;
  }
  if (may_schedule && !may_schedule()) return out;  // e.g. out of write tokens: score only
  const HeatmapJobSpec spec = CoverageJobSpec(at, model);
  // A point read is no way around the caps (a client sweeping the map queues cells too).
  if (Status admit = Admit(spec, client, true); !admit.ok()) {
    env_.log->info("Not scheduling a coverage job: " + admit.message());
    return out;
  }
  auto r = store_->EnqueueHeatmap(spec);
  if (!r.ok()) {
    env_.log->info("Scheduling a coverage job failed: " + r.status().message());
    return out;
  }
  Admitted(client, *r);
  out.job_id = r->job.id;
  if (r->is_new) {
    out.scheduled = true;
    env_.log->info(
        fmt::format("Scheduled coverage job #{} around {},{}", r->job.id, at.lat, at.lng));
    Runnable();
  }
  return out;
}

}  // namespace nbi
