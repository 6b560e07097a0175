// `worker` (long-running) and `process-jobs` (one-shot until the queue is empty).
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include "commands.h"
#include "signal_thread.h"
#include "store/job_watch.h"
#include "worker/worker.h"

namespace nbi::cli {

namespace {

void PrintBanner(const WorkerOptions& o, const Store& store, const char* title) {
  std::string underline(std::string(title).size(), '=');
  std::printf(
      "%s\n%s\nPoll interval: %lldms\nChunk size: %lld\nMax concurrent jobs: %d\n"
      "Stale job timeout: %lldms\nStore: %s\nWorker id: %s\n\n",
      title, underline.c_str(), (long long)o.poll_interval_ms, (long long)o.chunk_size,
      o.max_concurrent_jobs, (long long)o.stale_timeout_ms, store.Describe().c_str(),
      o.worker_id.c_str());
  std::fflush(stdout);
}

int RunWorker(bool one_shot, WorkerOptions opts) {
  auto store = OpenConfiguredStore();
  if (!store.ok()) {
    Fail(store.status());
    return ExitCode();
  }
  opts.exit_when_idle = one_shot;
  // process-jobs on a terminal: a live progress bar instead of a line every 5%.
  if (one_shot && isatty(STDOUT_FILENO)) {
    opts.progress_step_percent = 100;
    auto start =
        std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    auto last_job = std::make_shared<int64_t>(0);
    opts.on_checkpoint = [start, last_job, &store](int64_t id, int64_t done) {
      if (*last_job != id) {
        *last_job = id;
        *start = std::chrono::steady_clock::now();
      }
      static int64_t total_cache_id = 0, total = 0;
      if (total_cache_id != id) {
        auto j = (*store)->GetJob(id);
        total = j.ok() ? j->total_items : 0;
        total_cache_id = id;
      }
      if (total <= 0) return;
      double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - *start).count();
      int width = 30, filled = int(width * done / total);
      std::printf("\r  [%s%s] %3d%%  job #%lld  %lld/%lld cells  %.0f cells/s",
                  std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                  int(100 * done / total), (long long)id, (long long)done, (long long)total,
                  secs > 0 ? done / secs : 0.0);
      std::fflush(stdout);
    };
  }
  std::unique_ptr<Worker> worker;
  std::atomic<Worker*> target{nullptr};
  SignalThread stopper([&](int sig) {
    WorkerLog(fmt::format("Received {}: finishing the chunk in flight, handing jobs back",
                          sig == SIGINT ? "SIGINT" : "SIGTERM"));
    if (Worker* w = target.load()) w->Stop();
  });
  worker = std::make_unique<Worker>(store->get(), opts);
  target = worker.get();
  opts.worker_id = worker->id();
  PrintBanner(opts, **store, one_shot ? "Processing Jobs" : "Background Worker Started");
  std::unique_ptr<JobWatch> watch;
  if (!one_shot) watch = StartJobWatch(DatabaseUrlFromEnv(), [&] { worker->Wake(); });
  int done = worker->Run();
  watch.reset();
  target = nullptr;
  if (one_shot) {
    auto counts = (*store)->CountJobsByStatus();
    std::printf("Processed %d job(s); queue empty.\n", done);
    if (counts.ok()) {
      for (auto [st, n] : *counts)
        std::printf("  %-10s %lld\n", std::string(JobStatusId(st)).c_str(), (long long)n);
    }
  } else {
    WorkerLog(fmt::format("Worker stopped ({} job(s) finished)", done));
  }
  return 0;
}

}  // namespace

void RegisterWorkerCommands(CLI::App& app) {
  struct Opts {
    std::string poll, chunk, max_jobs, stale;
  };
  auto o = std::make_shared<Opts>();
  auto options = [o](CLI::App* cmd) {
    cmd->add_option("--poll-interval", o->poll,
                    "ms between polls (env WORKER_POLL_INTERVAL, default 60000)");
    cmd->add_option("--chunk-size", o->chunk,
                    "cells per chunk (env WORKER_CHUNK_SIZE, default 500)");
    cmd->add_option("--max-concurrent-jobs", o->max_jobs,
                    "jobs at once (env MAX_CONCURRENT_JOBS, default 1)");
    cmd->add_option("--stale-timeout", o->stale,
                    "rescue running jobs without heartbeat for this long (env STALE_JOB_TIMEOUT, "
                    "default 10min)");
  };
  auto resolve = [o]() -> Result<WorkerOptions> {
    // Flags override the environment.
    if (!o->poll.empty()) setenv("WORKER_POLL_INTERVAL", o->poll.c_str(), 1);
    if (!o->chunk.empty()) setenv("WORKER_CHUNK_SIZE", o->chunk.c_str(), 1);
    if (!o->max_jobs.empty()) setenv("MAX_CONCURRENT_JOBS", o->max_jobs.c_str(), 1);
    if (!o->stale.empty()) setenv("STALE_JOB_TIMEOUT", o->stale.c_str(), 1);
    return WorkerOptionsFromEnv();
  };
  auto* worker = app.add_subcommand("worker", "Run the long-running background worker");
  options(worker);
  worker->callback([resolve] {
    auto opts = resolve();
    if (!opts.ok()) return Fail(opts.status());
    SetExitCode(RunWorker(false, *opts));
  });
  auto* once =
      app.add_subcommand("process-jobs", "Process pending jobs until none is left, then exit");
  options(once);
  once->callback([resolve] {
    auto opts = resolve();
    if (!opts.ok()) return Fail(opts.status());
    opts->log_polls = false;
    SetExitCode(RunWorker(true, *opts));
  });
}

}  // namespace nbi::cli
