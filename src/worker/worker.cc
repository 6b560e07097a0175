#include "worker/worker.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>

#include "score/scorer.h"

namespace nbi {

namespace {

std::mutex g_log_mu;
std::atomic<bool> g_log_quiet{false};

int64_t EnvOr(const char* name, int64_t def, Status* err) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  auto r = ParseDurationMs(name, v);
  if (!r.ok()) {
    *err = r.status();
    return def;
  }
  return *r;
}

std::string DefaultWorkerId() {
  char host[128] = "host";
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  return fmt::format("{}-{}-{:04x}", host, getpid(), rd() & 0xffff);
}

// Repeats a store call while it fails with kTransient (the store reconnects on the next
// call), with exponential backoff from 50 ms to 5 s. Gives up with the last error once `stop`
// is set and ~5 s of retries have passed, so shutdown is never blocked by a dead database.
template <typename F>
auto RetryTransient(const char* what, const std::atomic<bool>* stop, F&& f) -> decltype(f()) {
  int64_t delay = 50;
  int64_t waited_after_stop = 0;
  for (int attempt = 1;; ++attempt) {
    auto r = f();
    if (r.ok() || r.status().code() != StatusCode::kTransient) return r;
    if (stop && stop->load()) {
      if (waited_after_stop > 5000) return r;
      waited_after_stop += delay;
    }
    if (attempt == 1 || attempt % 10 == 0) {
      WorkerLog(fmt::format("Database error during {} (retrying in {} ms): {}", what, delay,
                            r.status().message()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    delay = std::min<int64_t>(delay * 2, 5000);
  }
}

// Adapts Status-returning calls to RetryTransient's Result interface.
struct Done {};
Result<Done> AsResult(Status s) {
  if (s.ok()) return Done{};
  return s;
}

struct JobParams {
  BBox bounds;
  double step = 0;
  HeatModel model = HeatModel::kGrocery;
};

Result<JobParams> ParseJobParams(const Job& job) {
  const auto& m = job.metadata;
  auto num = [&](const nlohmann::json& o, const char* k) -> std::optional<double> {
    if (!o.is_object() || !o.contains(k) || !o[k].is_number()) return std::nullopt;
    return o[k].get<double>();
  };
  if (!m.contains("bounds"))
    return Status::Invalid(fmt::format("job {}: metadata has no bounds", job.id));
  const auto& b = m["bounds"];
  auto a = num(b, "minLat"), c = num(b, "minLng"), d = num(b, "maxLat"), e = num(b, "maxLng");
  auto step = num(m, "gridStep");
  if (!a || !c || !d || !e || !step) {
    return Status::Invalid(
        fmt::format("job {}: metadata bounds/gridStep missing or not numbers", job.id));
  }
  auto box = BBox::Make(*a, *c, *d, *e);
  if (!box.ok()) return box.status();
  JobParams p{*box, *step, HeatModel::kGrocery};
  if (m.contains("model")) {
    auto model =
        m["model"].is_string() ? ParseHeatModel(m["model"].get<std::string>()) : std::nullopt;
    if (!model)
      return Status::Invalid(fmt::format("job {}: unknown model {}", job.id, m["model"].dump()));
    p.model = *model;
  }
  return p;
}

}  // namespace

Result<int64_t> ParseDurationMs(const std::string& name, const std::string& text) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(text, &pos);
  } catch (...) {
    return Status::Invalid(fmt::format("{}='{}' is not a number", name, text));
  }
  std::string unit = text.substr(pos);
  double mult = 1;
  if (unit.empty() || unit == "ms")
    mult = 1;
  else if (unit == "s")
    mult = 1000;
  else if (unit == "min" || unit == "m")
    mult = 60000;
  else if (unit == "h")
    mult = 3600000;
  else
    return Status::Invalid(
        fmt::format("{}='{}': unknown unit '{}' (use ms, s, min, h)", name, text, unit));
  if (!(v > 0) || v * mult > 1e15) {
    return Status::Invalid(fmt::format("{}='{}' must be a positive amount", name, text));
  }
  return static_cast<int64_t>(v * mult);
}

Result<WorkerOptions> WorkerOptionsFromEnv() {
  WorkerOptions o;
  Status err;
  o.poll_interval_ms = EnvOr("WORKER_POLL_INTERVAL", o.poll_interval_ms, &err);
  o.stale_timeout_ms = EnvOr("STALE_JOB_TIMEOUT", o.stale_timeout_ms, &err);
  // Counts, not durations: plain positive integers.
  for (auto [name, dst] : {std::pair<const char*, int64_t*>{"WORKER_CHUNK_SIZE", &o.chunk_size}}) {
    if (const char* v = std::getenv(name); v && *v) {
      char* end = nullptr;
      long long n = std::strtoll(v, &end, 10);
      if (*end || n <= 0 || n > 10'000'000) {
        err = Status::Invalid(fmt::format("{}='{}' must be a whole number 1..10000000", name, v));
      } else {
        *dst = n;
      }
    }
  }
  if (const char* v = std::getenv("MAX_CONCURRENT_JOBS"); v && *v) {
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (*end || n <= 0 || n > 256) {
      err =
          Status::Invalid(fmt::format("MAX_CONCURRENT_JOBS='{}' must be a whole number 1..256", v));
    } else {
      o.max_concurrent_jobs = int(n);
    }
  }
  if (!err.ok()) return err;
  return o;
}

void SetWorkerLogQuiet(bool quiet) { g_log_quiet = quiet; }

void WorkerLog(const std::string& message) {
  if (g_log_quiet) return;
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  static const bool tty = isatty(STDOUT_FILENO);
  std::lock_guard<std::mutex> l(g_log_mu);
  // On a terminal, first clear a progress bar that may be drawn on the current line.
  if (tty) std::fputs("\r\033[K", stdout);
  std::printf("[%02d:%02d:%02d] %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, message.c_str());
  std::fflush(stdout);
}

JobOutcome RunHeatmapJob(Store* store, const Job& job, const WorkerOptions& opts,
                         const std::atomic<bool>* stop) {
  const std::string& me = opts.worker_id;
  auto fail = [&](const Status& s) {
    bool permanent = s.code() == StatusCode::kInvalidArgument;
    auto r = RetryTransient("fail", stop,
                            [&] { return store->FailAttempt(job.id, me, s.message(), permanent); });
    if (r.ok()) {
      WorkerLog(fmt::format("Job #{} failed (attempt {}/{}){}: {}", job.id, job.attempts,
                            job.max_attempts,
                            r->status == JobStatus::kPending ? ", will retry" : "", s.message()));
    }
    return JobOutcome::kFailed;
  };
  auto hand_back = [&]() {
    auto r = RetryTransient("release", stop, [&] { return store->Release(job.id, me); });
    if (!r.ok()) return JobOutcome::kLostLease;
    if (r->status == JobStatus::kCancelled) {
      WorkerLog(fmt::format("Job #{} cancelled at {}/{} cells", job.id, r->last_processed_index(),
                            job.total_items));
      return JobOutcome::kCancelled;
    }
    WorkerLog(fmt::format("Job #{} handed back at {}/{} cells", job.id, r->last_processed_index(),
                          job.total_items));
    return JobOutcome::kHandedBack;
  };

  if (job.type != kHeatmapJobType) {
    return fail(Status::Invalid(fmt::format("unknown job type '{}'", job.type)));
  }
  auto params = ParseJobParams(job);
  if (!params.ok()) return fail(params.status());
  auto region = GridRegion::Make(params->bounds, params->step);
  if (!region.ok()) return fail(region.status());
  const int64_t total = region->cell_count();
  int64_t next = std::clamp<int64_t>(job.last_processed_index(), 0, total);

  WorkerLog(fmt::format("Started job #{} ({}) - {} items{}", job.id, job.type, total,
                        next > 0 ? fmt::format(" (resuming at {})", next) : ""));
  if (opts.on_job_start) opts.on_job_start(job);
  // The job's own index: POIs of the region plus the largest radius, one query.
  auto pois = RetryTransient(
      "load POIs", stop, [&] { return LoadPoisAround(store, params->bounds, MaxRadiusMeters()); });
  if (!pois.ok()) return fail(pois.status().WithPrefix("loading POIs: "));
  SpatialIndex index(std::move(pois).value());

  const int64_t chunk = std::max<int64_t>(1, opts.chunk_size);
  std::vector<uint8_t> scores(std::min(chunk, total));
  int step = std::max(1, opts.progress_step_percent);
  int last_logged = int(100 * next / total) / step * step;
  while (next < total) {
    if (stop && stop->load()) return hand_back();
    int64_t n = std::min(chunk, total - next);
    const auto chunk_start = std::chrono::steady_clock::now();
    ScoreCells(index, *region, next, next + n, params->model, scores.data());
    Checkpoint cp;
    cp.job_id = job.id;
    cp.worker_id = me;
    cp.region = &*region;
    cp.begin = next;
    cp.scores = scores.data();
    cp.count = n;
    cp.city_id = job.city_id;
    auto r = RetryTransient("checkpoint", stop, [&] { return store->WriteCheckpoint(cp); });
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kConflict) {
        WorkerLog(fmt::format(
            "Job #{} lost its lease (rescued or reset elsewhere); stopping it here", job.id));
        return JobOutcome::kLostLease;
      }
      if (r.status().code() == StatusCode::kTransient) return JobOutcome::kLostLease;  // stopping
      return fail(r.status());
    }
    next += n;
    if (opts.on_chunk) {
      auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - chunk_start);
      opts.on_chunk(job.id, n, took.count());
    }
    if (opts.on_checkpoint) opts.on_checkpoint(job.id, next);
    int pct = int(100 * next / total);
    if (pct / step * step > last_logged && next < total) {
      last_logged = pct / step * step;
      WorkerLog(fmt::format("Job #{} progress: {}% ({}/{} cells)", job.id, pct, next, total));
    }
    if (*r && next < total)
      return hand_back();  // cancel requested (after the last chunk: done anyway)
  }
  auto done =
      RetryTransient("complete", stop, [&] { return AsResult(store->Complete(job.id, me)); });
  if (!done.ok()) {
    if (done.status().code() == StatusCode::kConflict) return JobOutcome::kLostLease;
    return fail(done.status());
  }
  WorkerLog(fmt::format("Job #{} completed - {} cells processed", job.id, total));
  return JobOutcome::kCompleted;
}

Worker::Worker(Store* store, WorkerOptions opts) : store_(store), opts_(std::move(opts)) {
  if (opts_.worker_id.empty()) opts_.worker_id = DefaultWorkerId();
  if (opts_.heartbeat_interval_ms <= 0) {
    opts_.heartbeat_interval_ms = std::clamp<int64_t>(opts_.stale_timeout_ms / 4, 50, 30000);
  }
}

Worker::~Worker() {
  Stop();
  std::unique_lock<std::mutex> l(mu_);
  for (auto& [id, t] : jobs_) {
    if (t.joinable()) t.detach();
  }
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

void Worker::StartJob(Job job) {
  int64_t id = job.id;
  std::lock_guard<std::mutex> l(mu_);
  if (jobs_.count(id)) {
    // The job was reset to pending (force reset, or a rescue after a stall) while our thread
    // still runs it, and we claimed it again: the lease (locked_by) is ours once more, so the
    // running thread simply carries on. A second thread would write the same chunks.
    WorkerLog(
        fmt::format("Job #{} re-claimed while still running here; continuing the current run", id));
    return;
  }
  jobs_[id] = std::thread([this, job = std::move(job)] {
    JobOutcome o = RunHeatmapJob(store_, job, opts_, &stop_);
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
    auto due =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.heartbeat_interval_ms);
    if (cv_.wait_until(l, due, [&] { return stop_.load(); })) break;
    std::vector<int64_t> ids;
    for (auto& [id, _] : jobs_) ids.push_back(id);
    l.unlock();
    for (int64_t id : ids) (void)store_->Heartbeat(id, opts_.worker_id);
    l.lock();
  }
}

int Worker::Run() {
  std::thread heartbeat([this] { HeartbeatLoop(); });
  auto rescue = [&] {
    auto n = store_->RescueStale(opts_.stale_timeout_ms);
    if (n.ok() && *n > 0)
      WorkerLog(fmt::format("Rescued {} stale job(s) (no heartbeat for {} ms)", *n,
                            opts_.stale_timeout_ms));
    if (!n.ok()) WorkerLog("Stale-job check failed: " + n.status().message());
  };
  int64_t backoff = 0;
  auto last_rescue = std::chrono::steady_clock::time_point{};
  while (!stop_) {
    // At start and then at most once a second: wake-ups (which on SQLite include our own
    // commits) must not turn into a write transaction each.
    if (auto now = std::chrono::steady_clock::now(); now - last_rescue >= std::chrono::seconds(1)) {
      rescue();
      last_rescue = now;
    }
    bool claimed_any = false, db_error = false;
    // Fill every free slot with one batched claim.
    if (int free = opts_.max_concurrent_jobs - running(); !stop_ && free > 0) {
      auto c = store_->ClaimBatch(opts_.worker_id, free);
      if (!c.ok()) {
        WorkerLog("Claim failed: " + c.status().message());
        db_error = true;
      } else {
        for (Job& j : *c) StartJob(std::move(j));
        claimed_any = !c->empty();
      }
    }
    backoff = db_error ? std::clamp<int64_t>(backoff * 2, 100, 5000) : 0;
    std::unique_lock<std::mutex> l(mu_);
    for (auto& t : finished_) t.join();
    finished_.clear();
    if (opts_.exit_when_idle && jobs_.empty() && !claimed_any && !db_error) break;
    int64_t wait = db_error ? backoff : opts_.poll_interval_ms;
    bool woken =
        cv_.wait_for(l, std::chrono::milliseconds(wait), [&] { return woken_ || stop_.load(); });
    woken_ = false;
    // One heartbeat line per timer-driven poll (wake-ups are hints, not polls).
    if (!woken && opts_.log_polls) {
      WorkerLog(fmt::format("Worker heartbeat: {} job(s) running, {} finished, polling every {} ms",
                            jobs_.size(), done_count_, opts_.poll_interval_ms));
    }
  }
  // Shutdown: running jobs see stop_, checkpoint the chunk in flight and hand back.
  std::unique_lock<std::mutex> l(mu_);
  while (!jobs_.empty()) cv_.wait_for(l, std::chrono::milliseconds(50));
  for (auto& t : finished_) t.join();
  finished_.clear();
  l.unlock();
  Stop();  // sets the flag under mu_, so the heartbeat thread cannot miss the wake-up
  heartbeat.join();
  return done_count_;
}

}  // namespace nbi
