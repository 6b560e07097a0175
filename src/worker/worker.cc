#include "worker/worker.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <random>

namespace nbi {

std::string DefaultWorkerId() {
  char host[128] = "host";
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  return fmt::format("{}-{}-{:04x}", host, getpid(), rd() & 0xffff);
}

Worker::Worker(Store* store, Env env, WorkerOptions opts)
    : store_(store), env_(std::move(env)), opts_(std::move(opts)) {
  if (opts_.worker_id.empty()) opts_.worker_id = DefaultWorkerId();
  if (opts_.heartbeat_interval_ms <= 0) {
    opts_.heartbeat_interval_ms = std::clamp<int64_t>(opts_.stale_timeout_ms / 4, 50, 30000);
  }
}

Worker::~Worker() {
  Stop();
  // Job threads capture `this`: wait for them (they hand back at their next chunk).
  std::unique_lock<std::mutex> l(mu_);
  while (!jobs_.empty()) env_.clock->WaitFor(l, cv_, 50, [&] { return jobs_.empty(); });
  JoinFinished();
}

int Worker::running() const {
  std::lock_guard<std::mutex> l(mu_);
  return int(jobs_.size());
}

void Worker::Stop() {
  stop_ = true;
  std::lock_guard<std::mutex> l(mu_);
  woken_ = true;
  cv_.notify_all();
}

void Worker::Wake() {
  std::lock_guard<std::mutex> l(mu_);
  woken_ = true;
  cv_.notify_all();
}

void Worker::JoinFinished() {
  for (auto& t : finished_) t.join();
  finished_.clear();
}

void Worker::StartJob(Job job) {
  int64_t id = job.id;
  std::lock_guard<std::mutex> l(mu_);
  if (jobs_.count(id)) {
    // The job was reset to pending (force reset, or a rescue after a stall) while our thread
    // still runs it, and we claimed it again: the lease (locked_by) is ours once more, so the
    // running thread simply carries on. A second thread would write the same chunks.
    env_.log->info(
        fmt::format("Job #{} re-claimed while still running here; continuing the current run", id));
    return;
  }
  jobs_[id] = std::thread([this, job = std::move(job)] {
    JobOutcome o = RunHeatmapJob(store_, env_, job, opts_, &stop_);
    std::lock_guard<std::mutex> l2(mu_);
    auto it = jobs_.find(job.id);
    if (it != jobs_.end()) {
      finished_.push_back(std::move(it->second));
      jobs_.erase(it);
    }
    if (o == JobOutcome::kCompleted || o == JobOutcome::kFailed || o == JobOutcome::kCancelled)
      ++done_count_;
    woken_ = true;  // a slot is free: look for more work now
    cv_.notify_all();
  });
}

void Worker::HeartbeatLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    if (env_.clock->WaitFor(l, cv_, opts_.heartbeat_interval_ms, [&] { return stop_.load(); })) {
      break;
    }
    std::vector<int64_t> ids;
    for (auto& [id, _] : jobs_) ids.push_back(id);
    l.unlock();
    for (int64_t id : ids) (void)store_->Heartbeat(id, opts_.worker_id);
    l.lock();
  }
}

void Worker::RescueStale() {
  // At start and then at most once a second: wake-ups (which on SQLite include our own
  // commits) must not turn into a write transaction each.
  const int64_t now = env_.clock->SteadyMs();
  if (rescued_once_ && now - last_rescue_steady_ms_ < 1000) return;
  rescued_once_ = true;
  last_rescue_steady_ms_ = now;
  auto n = store_->RescueStale(opts_.stale_timeout_ms);
  if (!n.ok()) {
    env_.log->info("Stale-job check failed: " + n.status().message());
  } else if (*n > 0) {
    env_.log->info(fmt::format("Rescued {} stale job(s) (no heartbeat for {} ms)", *n,
                               opts_.stale_timeout_ms));
  }
}

int Worker::Run() {
  std::thread heartbeat([this] { HeartbeatLoop(); });
  int64_t backoff = 0;
  while (!stop_) {
    RescueStale();
    bool claimed_any = false, db_error = false;
    // Fill every free slot with one batched claim.
    if (int free = opts_.max_concurrent_jobs - running(); !stop_ && free > 0) {
      auto c = store_->ClaimBatch(opts_.worker_id, free);
      if (!c.ok()) {
        env_.log->info("Claim failed: " + c.status().message());
        db_error = true;
      } else {
        for (Job& j : *c) StartJob(std::move(j));
        claimed_any = !c->empty();
      }
    }
    backoff = db_error ? std::clamp<int64_t>(backoff * 2, 100, 5000) : 0;
    std::unique_lock<std::mutex> l(mu_);
    JoinFinished();
    if (opts_.exit_when_idle && jobs_.empty() && !claimed_any && !db_error) break;
    int64_t wait = db_error ? backoff : opts_.poll_interval_ms;
    bool woken = env_.clock->WaitFor(l, cv_, wait, [&] { return woken_ || stop_.load(); });
    woken_ = false;
    // One heartbeat line per timer-driven poll (wake-ups are hints, not polls).
    if (!woken && opts_.log_polls) {
      env_.log->info(
          fmt::format("Worker heartbeat: {} job(s) running, {} finished, polling every {} ms",
                      jobs_.size(), done_count_, opts_.poll_interval_ms));
    }
  }
  // Shutdown: running jobs see stop_, checkpoint the chunk in flight and hand back.
  std::unique_lock<std::mutex> l(mu_);
  while (!jobs_.empty()) env_.clock->WaitFor(l, cv_, 50, [&] { return jobs_.empty(); });
  JoinFinished();
  l.unlock();
  Stop();  // sets the flag under mu_, so the heartbeat thread cannot miss the wake-up
  heartbeat.join();
  return done_count_;
}

}  // namespace nbi
