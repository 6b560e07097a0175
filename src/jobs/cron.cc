#include "jobs/cron.h"

#include <fmt/format.h>
#include <unistd.h>

#include <thread>

namespace nbi {

namespace {

std::string CronWorkerId() {
  static std::atomic<int> runs{0};
  char host[64] = "host";
  gethostname(host, sizeof host - 1);
  return fmt::format("cron-{}-{}-{}", host, getpid(), ++runs);
}

// Sets `stop` when the run must end: shutdown, the deadline after some progress, or 10 s
// past the deadline regardless (a database outage keeps the job retrying; the retries give
// up a few seconds after `stop`).
class Deadline {
 public:
  Deadline(Clock* clock, int64_t budget_ms, const std::atomic<bool>* shutting_down)
      : clock_(clock),
        deadline_(clock->SteadyMs() + budget_ms),
        shutting_down_(shutting_down),
        watcher_([this] { Watch(); }) {}
  ~Deadline() {
    finished_ = true;
    watcher_.join();
  }
  bool passed() const { return clock_->SteadyMs() >= deadline_; }
  // After each committed chunk: stop exactly at the first boundary past the budget.
  void Progressed() {
    progressed_ = true;
    if (passed()) stop_ = true;
  }
  const std::atomic<bool>* stop() const { return &stop_; }
  bool stopping() const { return stop_.load() || (shutting_down_ && shutting_down_->load()); }

 private:
  void Watch() {
    while (!finished_.load()) {
      int64_t now = clock_->SteadyMs();
      if ((shutting_down_ && shutting_down_->load()) || (now >= deadline_ && progressed_) ||
          now >= deadline_ + 10'000) {
        stop_ = true;
      }
      clock_->SleepFor(20);
    }
  }

  Clock* const clock_;
  const int64_t deadline_;
  const std::atomic<bool>* const shutting_down_;
  std::atomic<bool> stop_{false}, finished_{false}, progressed_{false};
  std::thread watcher_;  // last: started after the fields it reads
};

bool PendingLeft(Store* store) {
  auto counts = store->CountJobsByStatus();
  if (!counts.ok()) return true;  // unknown: report that more may be waiting
  for (const auto& [s, n] : *counts) {
    if (s == JobStatus::kPending && n > 0) return true;
  }
  return false;
}

}  // namespace

Result<CronReport> RunCron(JobService* service, const CronOptions& opts,
                           const std::atomic<bool>* shutting_down) {
  Store* store = service->store();
  const Env& env = service->env();
  CronReport report;
  NBI_ASSIGN_OR_RETURN(report.stale_reset, store->RescueStale(opts.stale_timeout_ms));
  if (opts.run.on_rescue && report.stale_reset > 0) opts.run.on_rescue("stale", report.stale_reset);

  Deadline deadline(env.clock, opts.budget_ms, shutting_down);
  JobRunOptions run = opts.run;
  run.worker_id = CronWorkerId();
  // The run's owner lease: while it holds jobs, other processes see a live owner.
  auto lease = store->HoldOwnerLease(run.worker_id);
  if (!lease.ok()) return lease.status();
  if (auto dead = store->RescueDeadOwners(); dead.ok()) {
    report.stale_reset += *dead;
    if (opts.run.on_rescue && *dead > 0) opts.run.on_rescue("dead_owner", *dead);
  } else {
    return dead.status();
  }
  run.on_checkpoint = [&, user = opts.run.on_checkpoint](int64_t id, int64_t done) {
    if (user) user(id, done);
    deadline.Progressed();
  };
  bool out_of_time = false;
  for (;;) {
    // At least one job per call, however small the budget, so repeated calls make progress.
    if ((!report.jobs.empty() && deadline.passed()) || deadline.stopping()) {
      out_of_time = true;
      break;
    }
    auto claimed = store->Claim(run.worker_id);
    if (!claimed.ok()) {
      if (report.jobs.empty()) return claimed.status();
      env.log->info("Cron: claim failed: " + claimed.status().message());
      out_of_time = true;
      break;
    }
    if (!*claimed) break;
    const Job job = std::move(**claimed);
    JobOutcome outcome = RunHeatmapJob(store, env, job, run, deadline.stop());
    auto after = store->GetJob(job.id);
    std::string status = after.ok() ? std::string(JobStatusId(after->status))
                                    : (outcome == JobOutcome::kCompleted ? "completed" : "unknown");
    report.jobs.push_back({job.id, status});
    if (deadline.stop()->load()) {
      out_of_time = true;
      break;
    }
  }
  report.has_more = out_of_time && PendingLeft(store);
  return report;
}

}  // namespace nbi
