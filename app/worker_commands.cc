// `worker` (long-running) and `process-jobs` (one-shot until the queue is empty).
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>

#include "commands.h"
#include "config.h"
#include "http/metrics.h"
#include "http/ops_server.h"
#include "signal_thread.h"
#include "worker/worker.h"

namespace nbi::cli {

namespace {

void PrintBanner(const WorkerOptions& o, const Store& store, const char* title,
                 const std::string& metrics) {
  std::string underline(std::string(title).size(), '=');
  std::printf(
      "%s\n%s\nPoll interval: %lldms\nChunk size: %lld\nMax concurrent jobs: %d\n"
      "Stale job timeout: %lldms\nStore: %s\nWorker id: %s\nMetrics: %s\n\n",
      title, underline.c_str(), (long long)o.poll_interval_ms, (long long)o.chunk_size,
      o.max_concurrent_jobs, (long long)o.stale_timeout_ms, store.Describe().c_str(),
      o.worker_id.c_str(), metrics.c_str());
  std::fflush(stdout);
}

// process-jobs on a terminal: a live progress bar instead of a line every 5%. Checkpoint
// hooks run on job threads: the bar's state is guarded by its own mutex.
class ProgressBar {
 public:
  explicit ProgressBar(Store* store) : store_(store) {}
  void Update(int64_t id, int64_t done) {
    std::lock_guard<std::mutex> l(mu_);
    if (job_ != id) {
      job_ = id;
      start_ = std::chrono::steady_clock::now();
      auto j = store_->GetJob(id);
      total_ = j.ok() ? j->total_items : 0;
    }
    if (total_ <= 0) return;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    int width = 30, filled = int(width * done / total_);
    std::printf("\r  [%s%s] %3d%%  job #%lld  %lld/%lld cells  %.0f cells/s",
                std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                int(100 * done / total_), (long long)id, (long long)done, (long long)total_,
                secs > 0 ? done / secs : 0.0);
    std::fflush(stdout);
  }

 private:
  Store* const store_;
  std::mutex mu_;
  int64_t job_ = 0, total_ = 0;                    // guarded by mu_
  std::chrono::steady_clock::time_point start_{};  // guarded by mu_
};

// "pending 2, running 1" from the store, or why it could not be read.
std::string JobCounts(Store* store) {
  auto counts = store->CountJobsByStatus();
  if (!counts.ok()) return "job counts unavailable: " + counts.status().message();
  std::string text;
  for (auto [st, n] : *counts) {
    text += fmt::format("{}{} {}", text.empty() ? "" : ", ", JobStatusId(st), n);
  }
  return text.empty() ? "no jobs" : text;
}

// Why process-jobs ended: the queue ran empty, or a signal stopped it with jobs left.
void PrintSummary(Store* store, int done, const char* stopped_by) {
  auto counts = store->CountJobsByStatus();
  int64_t left = 0;
  if (counts.ok()) {
    for (auto [st, n] : *counts) {
      if (st == JobStatus::kPending || st == JobStatus::kRunning) left += n;
    }
  }
  if (stopped_by) {
    std::printf("Stopped by %s: processed %d job(s); %lld job(s) still pending or running.\n",
                stopped_by, done, (long long)left);
  } else {
    std::printf("Processed %d job(s); queue empty.\n", done);
  }
  if (!counts.ok()) return;
  for (auto [st, n] : *counts)
    std::printf("  %-10s %lld\n", std::string(JobStatusId(st)).c_str(), (long long)n);
}

// The METRICS_ADDR endpoint, started; nullptr when off, or (logged) when the default
// address cannot be bound. *text says where it is for the banner.
Result<std::unique_ptr<http::OpsServer>> StartOps(const MetricsAddr& addr, Store* store,
                                                  const http::Metrics* metrics, const Env& env,
                                                  std::string* text) {
  *text = "off (METRICS_ADDR)";
  if (!addr.enabled) return std::unique_ptr<http::OpsServer>();
  auto ops = std::make_unique<http::OpsServer>(store, metrics, env.clock);
  if (Status s = ops->Bind(addr.host, addr.port); !s.ok()) {
    const std::string what =
        fmt::format("cannot serve metrics on {}:{}: {}", addr.host, addr.port, s.message());
    if (!addr.is_default) return Status::Invalid(what + " (METRICS_ADDR)");
    env.log->info("Metrics endpoint off: " + what + "; set METRICS_ADDR to another address");
    *text = "off (default address in use)";
    return std::unique_ptr<http::OpsServer>();
  }
  ops->Start();
  const bool v6 = addr.host.find(':') != std::string::npos;
  *text =
      fmt::format("http://{}{}{}:{}/metrics", v6 ? "[" : "", addr.host, v6 ? "]" : "", ops->port());
  return ops;
}

int RunWorker(bool one_shot, WorkerOptions opts, const MetricsAddr& metrics_addr) {
  auto env = ProcessEnv();
  if (!env.ok()) return Fail(env.status()), ExitCode();
  // Signals first: a worker still waiting for its database stops waiting on SIGTERM.
  std::atomic<Worker*> target{nullptr};
  std::atomic<bool> stop_requested{false};
  std::atomic<const char*> stopped_by{nullptr};
  std::atomic<Store*> status_store{nullptr};
  std::atomic<int> finished{0};
  SignalThread stopper([&](int sig) {
    if (!SignalThread::Stops(sig)) {
      Store* s = status_store.load();
      env->log->info(fmt::format("Received SIGUSR1: {}; {} job(s) finished by this process; {}",
                                 stop_requested ? "stopping" : "working", finished.load(),
                                 s ? JobCounts(s) : "waiting for the database"));
      return;
    }
    env->log->info(fmt::format("Received {}: finishing the chunk in flight, handing jobs back",
                               SignalThread::Name(sig)));
    stopped_by = SignalThread::Name(sig);
    stop_requested = true;
    if (Worker* w = target.load()) w->Stop();
  });
  // `worker` waits for its database forever; `process-jobs` for DB_WAIT_TIMEOUT.
  auto wait_ms = DatabaseWaitMs();
  if (!wait_ms.ok()) return Fail(wait_ms.status()), ExitCode();
  auto store = OpenStoreWaiting(StoreRole::kWorker,
                                DatabaseWait{one_shot ? *wait_ms : -1, &stop_requested}, *env);
  if (stop_requested) return 0;  // stopped while waiting for the database
  if (!store.ok()) return Fail(store.status()), ExitCode();
  opts.exit_when_idle = one_shot;
  http::Metrics metrics;
  metrics.Instrument(&opts);
  opts.on_prune = [&metrics](int n) { metrics.AddPruned(n); };
  std::string metrics_text;
  auto ops = StartOps(metrics_addr, store->get(), &metrics, *env, &metrics_text);
  if (!ops.ok()) return Fail(ops.status()), ExitCode();
  ProgressBar bar(store->get());
  if (one_shot && isatty(STDOUT_FILENO)) {
    opts.progress_step_percent = 100;
    opts.on_checkpoint = [&bar](int64_t id, int64_t done) { bar.Update(id, done); };
  }
  auto on_end = opts.on_job_end;
  opts.on_job_end = [&finished, on_end](const Job& j, JobOutcome o, double seconds) {
    if (o == JobOutcome::kCompleted) ++finished;
    if (on_end) on_end(j, o, seconds);
  };
  Worker worker(store->get(), *env, opts);
  status_store = store->get();
  target = &worker;
  if (stop_requested) worker.Stop();  // a signal between the wait and here
  PrintBanner(worker.options(), **store, one_shot ? "Processing Jobs" : "Background Worker Started",
              metrics_text);
  std::unique_ptr<JobWatch> watch;
  if (!one_shot) watch = (*store)->Watch([&] { worker.Wake(); });
  int done = worker.Run();
  watch.reset();
  if (*ops) (*ops)->Stop();
  target = nullptr;
  status_store = nullptr;
  if (one_shot) {
    PrintSummary(store->get(), done, stopped_by.load());
  } else {
    env->log->info(fmt::format("Worker stopped ({} job(s) finished)", done));
  }
  return 0;
}

}  // namespace

void RegisterWorkerCommands(CLI::App& app) {
  auto flags = std::make_shared<WorkerFlags>();
  auto addr = std::make_shared<MetricsAddrFlag>();
  auto* worker = app.add_subcommand("worker", "Run the long-running background worker");
  flags->AddTo(worker);
  addr->AddTo(worker, "127.0.0.1:9464");
  worker->callback([flags, addr] {
    auto opts = flags->Parse();
    if (!opts.ok()) return Fail(opts.status());
    auto metrics = addr->Parse();
    if (!metrics.ok()) return Fail(metrics.status());
    SetExitCode(RunWorker(false, *opts, *metrics));
  });
  auto once_flags = std::make_shared<WorkerFlags>();
  auto once_addr = std::make_shared<MetricsAddrFlag>();
  auto* once =
      app.add_subcommand("process-jobs", "Process pending jobs until none is left, then exit");
  once_flags->AddTo(once);
  once_addr->AddTo(once, "off");
  once->callback([once_flags, once_addr] {
    auto opts = once_flags->Parse();
    if (!opts.ok()) return Fail(opts.status());
    auto metrics = once_addr->Parse();
    if (!metrics.ok()) return Fail(metrics.status());
    opts->log_polls = false;
    SetExitCode(RunWorker(true, *opts, *metrics));
  });
}

}  // namespace nbi::cli
