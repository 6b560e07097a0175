#include "worker/worker.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <set>

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
  if (!opts_.index_cache) opts_.index_cache = std::make_shared<IndexCache>();
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

void Worker::DbError(const Status& s) {
  if (!opts_.stop_at_db_error || !error_.ok()) return;
  error_ = s;
  Stop();
}

void Worker::JoinFinished() {
  for (auto& t : finished_) t.join();
  finished_.clear();
}

void Worker::StartJob(Job job) {
  const PartKey id = KeyOf(job);
  std::lock_guard<std::mutex> l(mu_);
  if (jobs_.count(id)) {
    // The job was reset to pending (force reset, or a rescue after a stall) while our thread
    // still has it, and we claimed it again: the lease (locked_by) is ours once more. If the
    // thread is still running it, it carries on (a second thread would write the same
    // chunks); if it is just ending, it starts the job anew (see JobThread).
    env_.log->info(fmt::format(
        "Job #{} re-claimed while its thread still runs here; that thread keeps it", job.id));
    reclaimed_[id] = std::move(job);
    return;
  }
  jobs_[id] = std::thread([this, job = std::move(job)] { JobThread(job); });
}

namespace {
bool Ended(JobOutcome o) {
  return o == JobOutcome::kCompleted || o == JobOutcome::kFailed || o == JobOutcome::kCancelled;
}
}  // namespace

JobOutcome Worker::RunParts(const Job& job, std::vector<Job>* more) {
  if (more->empty()) return RunHeatmapJob(store_, env_, job, opts_, &stop_);
  more->insert(more->begin(), job);
  const std::vector<JobOutcome> outs = RunSmallHeatmapJobs(store_, env_, *more, opts_, &stop_);
  std::lock_guard<std::mutex> g(mu_);
  for (size_t i = 1; i < more->size(); ++i) batch_.erase(KeyOf((*more)[i]));
  more->clear();
  done_count_ += int(std::count_if(outs.begin() + 1, outs.end(), Ended));
  return outs.front();
}

void Worker::JobThread(Job job) {
  std::vector<Job> more;  // parts of the local queue run and written with `job`
  for (;;) {
    const JobOutcome o = RunParts(job, &more);
    std::unique_lock<std::mutex> l(mu_);
    auto again = reclaimed_.find(KeyOf(job));
    if (again != reclaimed_.end()) {
      // Claimed again while this run was ending: the job is running under our id and nobody
      // else runs it. Run it once more (the owner checks of its writes tell if it is not ours
      // after all), or hand it back when stopping.
      Job next = std::move(again->second);
      reclaimed_.erase(again);
      l.unlock();
      auto parts = store_->ListParts(next.id);
      bool ours = !parts.ok();
      if (parts.ok()) {
        for (const JobPart& p : *parts) {
          if (p.part == next.part) {
            ours = p.status == PartStatus::kRunning && p.locked_by == opts_.worker_id;
          }
        }
      }
      if (!stop_ && ours) {
        job = std::move(next);
        continue;
      }
      if (stop_ && ours)
        (void)RetryTransient(env_, "release", &stop_, [&] {
          return store_->ReleasePart(next.id, next.part, opts_.worker_id);
        });
      l.lock();
    }
    if (Ended(o)) ++done_count_;
    if (TakeLocal(KeyOf(job), &more)) {
      job = std::move(more.front());
      more.erase(more.begin());
      continue;  // the slot runs the local queue's next parts: no claim, no thread
    }
    if (std::optional<Job> again = ClaimNext(KeyOf(job), l)) {
      job = std::move(*again);
      continue;
    }
    if (TakeLocal(KeyOf(job), &more)) {  // what ClaimNext claimed: no hand-over to Run's thread
      job = std::move(more.front());
      more.erase(more.begin());
      continue;
    }
    auto it = jobs_.find(KeyOf(job));
    if (it != jobs_.end()) {
      finished_.push_back(std::move(it->second));
      jobs_.erase(it);
    }
    woken_ = true;  // a slot is free: look for more work now
    cv_.notify_all();
    return;
  }
}

bool Worker::IsSmall(const Job& j) const {
  const bool whole = j.part_end < 0;
  const int64_t left = whole ? j.total_items - j.last_processed_index() : j.part_end - j.part_next;
  return left <= SmallPartCells();
}

bool Worker::TakeLocal(const PartKey& finished, std::vector<Job>* next) {
  auto self = jobs_.find(finished);
  if (stop_ || self == jobs_.end()) return false;
  const size_t most = size_t(std::max(1, opts_.local_queue));
  while (!local_.empty() && next->size() < most) {
    Job j = std::move(local_.front());
    local_.pop_front();
    const PartKey key = KeyOf(j);
    if (key != finished && jobs_.count(key)) {
      // Rescued and claimed again for a slot while it waited here: that slot's thread has it.
      reclaimed_[key] = std::move(j);
      continue;
    }
    next->push_back(std::move(j));
  }
  if (next->empty()) return false;
  for (size_t i = 1; i < next->size(); ++i) batch_.insert(KeyOf((*next)[i]));
  std::thread t = std::move(self->second);
  jobs_.erase(self);
  jobs_.emplace(KeyOf(next->front()), std::move(t));
  return true;
}

void Worker::GiveBack(std::vector<Job> parts) {
  for (Job& j : parts) {
    auto r = RetryTransient(env_, "release", &stop_,
                            [&] { return store_->ReleasePart(j.id, j.part, opts_.worker_id); });
    if (r.ok() || r.status().code() == StatusCode::kConflict) continue;  // back, or not ours
    env_.log->info(fmt::format(
        "Job #{} could not be handed back ({}); it is rescued once this worker's lease ends", j.id,
        r.status().message()));
  }
}

void Worker::HeartbeatLoop(int64_t start_steady_ms) {
  std::unique_lock<std::mutex> l(mu_);
  int64_t failures = 0;
  // A fixed schedule from the run's start (no drift, and independent of when this thread
  // first gets to run).
  int64_t next = start_steady_ms + opts_.heartbeat_interval_ms;
  while (!heartbeat_stop_) {
    if (env_.clock->WaitUntil(l, cv_, next, [&] { return heartbeat_stop_; })) break;
    next += opts_.heartbeat_interval_ms;
    const int64_t now = env_.clock->SteadyMs();
    if (next <= now) next = now + opts_.heartbeat_interval_ms;  // fell behind: no burst
    std::set<int64_t> ids;  // one heartbeat per job covers its parts running here
    for (auto& [key, _] : jobs_) ids.insert(key.first);
    for (const Job& j : local_) ids.insert(j.id);             // claimed, waiting for a job thread
    for (const PartKey& key : batch_) ids.insert(key.first);  // in a job thread's batch
    OwnerLease* lease = lease_.get();
    l.unlock();
    if (lease) {
      if (Status s = lease->Check(); !s.ok()) {
        env_.log->info("Owner lease check failed (retrying at the next heartbeat): " + s.message());
      }
    }
    for (int64_t id : ids) {
      auto r = store_->Heartbeat(id, opts_.worker_id);
      if (r.ok()) continue;
      // A lost lease stops the job at its next checkpoint; anything else is retried at the
      // next heartbeat. Either way it is said, not swallowed (first time and every tenth).
      if (failures++ % 10 == 0) {
        env_.log->info(fmt::format("Heartbeat of job #{} failed: {}", id, r.status().message()));
      }
    }
    l.lock();
  }
}

bool Worker::EnsureLease() {
  // Only Run's thread sets lease_, so it may look without the lock; the database round trip
  // (a connect on PostgreSQL) must not hold mu_, which job and heartbeat threads need.
  {
    std::lock_guard<std::mutex> l(mu_);
    if (lease_) return true;
  }
  auto lease = store_->HoldOwnerLease(opts_.worker_id);
  if (!lease.ok()) {
    // Without a lease other processes (and this one) would take this worker's jobs for a dead
    // owner's: claim nothing until it is held.
    env_.log->info("Cannot take the owner lease; claiming nothing until it is held: " +
                   lease.status().message());
    DbError(lease.status());
    return false;
  }
  std::lock_guard<std::mutex> l(mu_);
  lease_ = std::move(lease).value();
  return true;
}

int Worker::Housekeeping() {
  // At start and then at most once a second: wake-ups (which on SQLite include our own
  // commits) must not turn into a write transaction each.
  const int64_t now = env_.clock->SteadyMs();
  if (rescued_once_ && now - last_rescue_steady_ms_ < kHousekeepingMs) return 0;
  rescued_once_ = true;
  last_rescue_steady_ms_ = now;
  int rescued = 0;
  // Our own lease first: after a reconnect (a database restart or failover ended its
  // session) our parts look dead-owned until the lease is taken again. Re-taking it here,
  // not only at the next heartbeat, keeps this worker from rescuing its own parts; while it
  // cannot be taken, no dead-owner rescue runs from here.
  Status own = Status::Ok();
  if (OwnerLease* lease = lease_.get()) own = lease->Check();
  auto dead = own.ok() ? store_->RescueDeadOwners() : Result<int>(own);
  if (!dead.ok()) {
    env_.log->info("Dead-owner check failed: " + dead.status().message());
    DbError(dead.status());
  } else if (*dead > 0) {
    env_.log->info(fmt::format("Rescued {} job(s) whose worker died", *dead));
    rescued += *dead;
    if (opts_.on_rescue) opts_.on_rescue("dead_owner", *dead);
  }
  auto n = store_->RescueStale(opts_.stale_timeout_ms);
  if (!n.ok()) {
    env_.log->info("Stale-job check failed: " + n.status().message());
    DbError(n.status());
  } else if (*n > 0) {
    env_.log->info(fmt::format("Rescued {} stale job(s) (no heartbeat for {} ms)", *n,
                               opts_.stale_timeout_ms));
    rescued += *n;
    if (opts_.on_rescue) opts_.on_rescue("stale", *n);
  }
  Prune();
  return rescued;
}

void Worker::Prune() {
  const int64_t now = env_.clock->SteadyMs();
  if (opts_.job_retention_ms <= 0) return;
  if (pruned_once_ && now - last_prune_steady_ms_ < 3'600'000) return;
  pruned_once_ = true;
  last_prune_steady_ms_ = now;
  auto n = store_->PruneFinished(opts_.job_retention_ms);
  if (!n.ok()) {
    env_.log->info("Pruning finished jobs failed: " + n.status().message());
    return;
  }
  if (*n > 0) {
    env_.log->info(fmt::format("Pruned {} finished job(s) older than {} ms (JOB_RETENTION)", *n,
                               opts_.job_retention_ms));
  }
  if (opts_.on_prune) opts_.on_prune(*n);
}

std::optional<int64_t> Worker::UntilNextRunAt(bool* idle) {
  *idle = false;
  // Busy slots: a finishing job wakes the loop; no run_at matters until then.
  if (running() >= opts_.max_concurrent_jobs) return std::nullopt;
  auto next = store_->NextPending();
  if (!next.ok()) return std::nullopt;
  if (!*next) {
    *idle = running() == 0;
    return std::nullopt;
  }
  const Job& j = **next;
  const int64_t until = j.run_at_ms - store_->NowMs();  // run_at is in the queue's time
  // Ready already: another worker is about to take it, or our next claim will. A short pause
  // keeps a race from turning into a busy loop.
  if (until <= 0) return int64_t{10};
  if (opts_.exit_when_idle && waiting_for_job_ != j.id) {
    waiting_for_job_ = j.id;
    env_.log->info(fmt::format("Waiting for job #{}: it retries in {:.1f} s (attempt {} of {})",
                               j.id, double(until) / 1000.0, j.attempts + 1, j.max_attempts));
  }
  return until;
}

std::optional<Job> Worker::ClaimNext(const PartKey& finished, std::unique_lock<std::mutex>& l) {
  if (stop_ || opts_.local_queue <= 0 || !lease_ || !jobs_.count(finished)) return std::nullopt;
  l.unlock();  // the slot stays ours (its entry in jobs_) while the claim runs
  auto got = ClaimParts(1);
  l.lock();
  if (!got.ok()) {
    env_.log->info("Claim failed: " + got.status().message());  // Run's next claim retries
  } else {
    // The claimed parts go to the front of the local queue: TakeLocal gives them to this
    // thread next (or they are handed back at a stop).
    for (auto it = got->rbegin(); it != got->rend(); ++it) local_.push_front(std::move(*it));
  }
  // While the lock was free, this slot's own part may have been claimed again (a reset or a
  // rescue, then a claim elsewhere in this worker found our entry and parked it): it is ours
  // to run now.
  auto again = reclaimed_.find(finished);
  if (again == reclaimed_.end()) return std::nullopt;
  Job next = std::move(again->second);
  reclaimed_.erase(again);
  return next;
}

bool Worker::ClaimFreeSlots(bool* db_error) {
  if (!EnsureLease()) {
    *db_error = true;
    return false;
  }
  const int free = opts_.max_concurrent_jobs - running();
  if (stop_ || free <= 0) return false;
  // Every free slot with one batched claim; the slots start before the local queue's claim, so
  // a woken worker's first job waits for one claim, not two.
  auto c = store_->ClaimBatch(opts_.worker_id, free);
  if (!c.ok()) {
    env_.log->info("Claim failed: " + c.status().message());
    DbError(c.status());
    *db_error = true;
    return false;
  }
  const bool small = AllSmall(*c);
  for (Job& j : *c) StartJob(std::move(j));
  if (small) {
    QueueSmallParts();
    StartQueued();
  }
  return !c->empty();
}

void Worker::StartQueued() {
  // A job thread leaves only with the local queue empty (under mu_): one whose part ended
  // before the queue filled has gone, and its slot starts the queue's next part here.
  std::vector<Job> start;
  {
    std::lock_guard<std::mutex> l(mu_);
    while (!stop_ && !local_.empty() &&
           int(jobs_.size() + start.size()) < opts_.max_concurrent_jobs) {
      start.push_back(std::move(local_.front()));
      local_.pop_front();
    }
  }
  for (Job& j : start) StartJob(std::move(j));
}

bool Worker::AllSmall(const std::vector<Job>& jobs) const {
  return !jobs.empty() &&
         std::all_of(jobs.begin(), jobs.end(), [&](const Job& j) { return IsSmall(j); });
}

Result<std::vector<Job>> Worker::ClaimParts(int slots) {
  auto got = store_->ClaimBatch(opts_.worker_id, slots);
  if (got.ok() && AllSmall(*got)) QueueSmallParts();
  return got;
}

void Worker::QueueSmallParts() {
  // When the slots run small parts (the queue waits for them: behind small parts only is its
  // wait short) and the queue is empty, small parts for it: the claim passes over larger ones,
  // so no part is claimed only to be given back.
  int extra = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (local_.empty()) extra = std::max(0, opts_.local_queue);
  }
  if (extra == 0) return;
  auto queued = store_->ClaimBatch(opts_.worker_id, extra, SmallPartCells());
  if (!queued.ok()) {
    env_.log->info("Claim for the local queue failed: " + queued.status().message());
    return;  // the slots' parts are claimed: they run
  }
  std::lock_guard<std::mutex> l(mu_);
  for (Job& j : *queued) local_.push_back(std::move(j));
}

int Worker::Run() {
  (void)EnsureLease();
  const int64_t start = env_.clock->SteadyMs();
  std::thread heartbeat([this, start] { HeartbeatLoop(start); });
  int64_t backoff = 0;
  int64_t next_poll = start;  // a claim at start
  bool claim = true;          // a wake-up, a rescue or a run_at says: look at the queue now
  while (!stop_) {
    claim |= Housekeeping() > 0;
    int64_t now = env_.clock->SteadyMs();
    const bool poll = now >= next_poll;
    if (poll) next_poll = now + opts_.poll_interval_ms;
    bool claimed_any = false, db_error = false;
    const bool claimed = claim || poll;
    if (claimed) claimed_any = ClaimFreeSlots(&db_error);
    if (opts_.exit_when_none_ready && claimed && !claimed_any && !db_error && running() == 0) {
      break;  // the heartbeat thread is stopped below
    }
    backoff = db_error ? std::clamp<int64_t>(backoff * 2, 100, 5000) : 0;
    bool idle = false;
    std::optional<int64_t> run_at;
    if (!db_error) run_at = UntilNextRunAt(&idle);
    now = env_.clock->SteadyMs();
    // Wait for the earliest of: the next poll, the next housekeeping (dead owners are found
    // within a second), the earliest run_at of a job in backoff, a database retry.
    int64_t wait = std::min(next_poll - now, last_rescue_steady_ms_ + kHousekeepingMs - now);
    if (run_at) wait = std::min(wait, *run_at);
    if (db_error) wait = std::min(wait, backoff);
    wait = std::max<int64_t>(wait, 1);
    std::unique_lock<std::mutex> l(mu_);
    JoinFinished();
    if (opts_.exit_when_idle && idle && !claimed_any && !db_error && jobs_.empty()) break;
    bool woken = env_.clock->WaitFor(l, cv_, wait, [&] { return woken_ || stop_.load(); });
    woken_ = false;
    claim = woken || (run_at && wait == std::max<int64_t>(*run_at, 1)) || db_error;
    // One heartbeat line per timer-driven poll (wake-ups are hints, not polls).
    if (!woken && opts_.log_polls && env_.clock->SteadyMs() >= next_poll) {
      env_.log->info(
          fmt::format("Worker heartbeat: {} job(s) running, {} finished, polling every {} ms",
                      jobs_.size(), done_count_, opts_.poll_interval_ms));
    }
  }
  // Shutdown: running jobs see stop_, checkpoint the chunk in flight and hand back; the
  // heartbeat thread keeps their leases fresh until they have.
  std::unique_lock<std::mutex> l(mu_);
  while (!jobs_.empty()) env_.clock->WaitFor(l, cv_, 50, [&] { return jobs_.empty(); });
  JoinFinished();
  // Parts still in the local queue go back (ours until then: the heartbeat runs on).
  std::vector<Job> queued(std::make_move_iterator(local_.begin()),
                          std::make_move_iterator(local_.end()));
  local_.clear();
  l.unlock();
  if (!queued.empty()) {
    env_.log->info(fmt::format("Handing back {} queued job part(s)", queued.size()));
    GiveBack(std::move(queued));
  }
  l.lock();
  heartbeat_stop_ = true;
  cv_.notify_all();
  l.unlock();
  heartbeat.join();
  std::lock_guard<std::mutex> g(mu_);
  lease_.reset();  // after every job was handed back
  return done_count_;
}

}  // namespace nbi
