#include "worker/cron.h"

#include <fmt/format.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include "worker/worker.h"

namespace nbi {

namespace {

std::string CronWorkerId() {
  static std::atomic<int> runs{0};
  char host[64] = "host";
  gethostname(host, sizeof host - 1);
  return fmt::format("cron-{}-{}-{}", host, getpid(), ++runs);
}

// Stops the run's worker when the run must end: shutdown, the deadline after some progress
// (a committed chunk or a finished job), or 10 s past the deadline regardless (a database
// outage keeps the job retrying; the retries give up a few seconds after the stop).
class Deadline {
 public:
  Deadline(Clock* clock, int64_t budget_ms, const std::atomic<bool>* shutting_down, Worker* worker)
      : clock_(clock),
        deadline_(clock->SteadyMs() + budget_ms),
        shutting_down_(shutting_down),
        worker_(worker),
        watcher_([this] { Watch(); }) {}
  ~Deadline() {
    finished_ = true;
    watcher_.join();
  }
  // After each committed chunk and each finished job: stop at the first one past the budget
  // (the job in flight hands back at this boundary; no further job is claimed).
  void Progressed() {
    progressed_ = true;
    if (clock_->SteadyMs() >= deadline_) Stop();
  }
  bool stopped() const { return stopped_.load(); }

 private:
  void Stop() {
    stopped_ = true;
    worker_->Stop();
  }
  void Watch() {
    while (!finished_.load()) {
      int64_t now = clock_->SteadyMs();
      if ((shutting_down_ && shutting_down_->load()) || (now >= deadline_ && progressed_) ||
          now >= deadline_ + 10'000) {
        Stop();
      }
      clock_->SleepFor(20);
    }
  }

  Clock* const clock_;
  const int64_t deadline_;
  const std::atomic<bool>* const shutting_down_;
  Worker* const worker_;
  std::atomic<bool> stopped_{false}, finished_{false}, progressed_{false};
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
  std::mutex mu;                 // guards report: the hooks run on the worker's threads
  Deadline* deadline = nullptr;  // set before the worker runs
  WorkerOptions w;
  static_cast<JobRunOptions&>(w) = opts.run;
  w.worker_id = CronWorkerId();
  w.max_concurrent_jobs = 1;  // one job after another
  w.stale_timeout_ms = opts.stale_timeout_ms;
  w.job_retention_ms = 0;  // pruning is the workers' housekeeping, not a request's
  w.log_polls = false;
  w.exit_when_none_ready = true;
  w.stop_at_db_error = true;
  w.on_rescue = [&, user = opts.run.on_rescue](std::string_view cause, int n) {
    if (user) user(cause, n);
    std::lock_guard<std::mutex> l(mu);
    report.stale_reset += n;
  };
  w.on_checkpoint = [&, user = opts.run.on_checkpoint](int64_t id, int64_t done) {
    if (user) user(id, done);
    deadline->Progressed();
  };
  w.on_job_end = [&, user = opts.run.on_job_end](const Job& job, JobOutcome o, double s) {
    if (user) user(job, o, s);
    auto after = store->GetJob(job.id);
    std::string status = after.ok() ? std::string(JobStatusId(after->status))
                                    : (o == JobOutcome::kCompleted ? "completed" : "unknown");
    {
      std::lock_guard<std::mutex> l(mu);
      report.jobs.push_back({job.id, std::move(status)});
    }
    deadline->Progressed();
  };
  Worker worker(store, env, w);
  Deadline until(env.clock, opts.budget_ms, shutting_down, &worker);
  deadline = &until;
  worker.Run();
  std::lock_guard<std::mutex> l(mu);
  const Status& error = worker.error();
  if (!error.ok()) {
    if (report.jobs.empty()) return error;
    env.log->info("Cron: " + error.message());
  }
  report.has_more = (until.stopped() || !error.ok()) && PendingLeft(store);
  return report;
}

}  // namespace nbi
