// `serve`: the HTTP API and web pages plus an embedded worker (unless --no-worker) and the
// cross-process job watch, in one process. SIGTERM/SIGINT: stop accepting connections, let
// requests in flight finish, hand running jobs back, exit 0.
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "commands.h"
#include "config.h"
#include "http/metrics.h"
#include "http/server.h"
#include "jobs/service.h"
#include "serve_flags.h"
#include "signal_thread.h"
#include "worker/worker.h"

namespace nbi::cli {

namespace {

void PrintBanner(const http::ServerOptions& opts, const http::ApiServer& server, const Store& store,
                 const Worker* worker) {
  std::printf(
      "NearbyIndex Server\n==================\nListening on: http://%s:%d\nStore: %s\nWeb "
      "pages: %s%s\nCron endpoint: %s\n",
      opts.host.c_str(), server.port(), store.Describe().c_str(),
      opts.web_dir.empty() ? "embedded" : opts.web_dir.c_str(),
      opts.web_dir.empty() || std::filesystem::exists(opts.web_dir + "/public/index.html")
          ? ""
          : " (no public/index.html)",
      opts.cron_secret.empty() ? "disabled (CRON_SECRET unset)" : "enabled");
  if (worker) {
    const WorkerOptions& o = worker->options();
    std::printf(
        "Embedded worker: poll interval %lldms, chunk size %lld, max concurrent jobs %d, stale job "
        "timeout %lldms, worker id %s\n\n",
        (long long)o.poll_interval_ms, (long long)o.chunk_size, o.max_concurrent_jobs,
        (long long)o.stale_timeout_ms, worker->id().c_str());
  } else {
    std::printf("Embedded worker: off (--no-worker)\n\n");
  }
  std::fflush(stdout);
}

// Who a signal must stop; set once they exist, cleared before they are destroyed.
struct StopTargets {
  std::mutex mu;
  std::atomic<bool> requested{false};  // written under mu
  http::ApiServer* server = nullptr;   // guarded by mu
  Worker* worker = nullptr;            // guarded by mu
  void Set(http::ApiServer* s, Worker* w) {
    std::lock_guard<std::mutex> l(mu);
    server = s;
    worker = w;
    if (requested) StopAll();
  }
  void Request() {
    std::lock_guard<std::mutex> l(mu);
    requested = true;
    StopAll();
  }
  void StopAll() {  // mu held
    if (server) server->Stop();
    if (worker) worker->Stop();
  }
};

// Every open connection holds a descriptor: take the hard limit, not the usual soft 1,024.
// Returns the limit now in force.
int64_t RaiseDescriptorLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &r);
    (void)getrlimit(RLIMIT_NOFILE, &r);
  }
  return r.rlim_cur == RLIM_INFINITY ? int64_t{1} << 20 : static_cast<int64_t>(r.rlim_cur);
}

int RunServe(const ServeFlags& flags, const WorkerFlags& worker_flags) {
  const int64_t descriptors = RaiseDescriptorLimit();
  auto env = ProcessEnv();
  if (!env.ok()) return Fail(env.status()), ExitCode();
  auto worker_opts = worker_flags.Parse();
  if (!worker_opts.ok()) return Fail(worker_opts.status()), ExitCode();
  auto opts = flags.Parse(*worker_opts);
  if (!opts.ok()) return Fail(opts.status()), ExitCode();
  // Connections never take the descriptors the stores, files and logs need.
  opts->max_connections = static_cast<int>(
      std::max<int64_t>(16, std::min<int64_t>(opts->max_connections, descriptors - 256)));
  auto job_opts = JobServiceConfig();
  if (!job_opts.ok()) return Fail(job_opts.status()), ExitCode();

  // Signals first, so every thread started below inherits the blocked mask.
  StopTargets targets;
  SignalThread signals([&](int sig) {
    if (!SignalThread::Stops(sig)) {
      env->log->info("Received SIGUSR1: serving");
      return;
    }
    env->log->info(fmt::format(
        "Received {}: closing the listener, finishing requests in flight, handing jobs back",
        SignalThread::Name(sig)));
    targets.Request();
  });

  // Two stores: the API's sessions give up on a lock or a statement within seconds (503),
  // the embedded worker's wait as a worker's do (config.h, StoreRole). Both wait for the
  // database at start, for DB_WAIT_TIMEOUT.
  auto wait_ms = DatabaseWaitMs();
  if (!wait_ms.ok()) return Fail(wait_ms.status()), ExitCode();
  // The worker's store opens first: its sessions have the patience a migration needs.
  auto worker_store =
      OpenStoreWaiting(StoreRole::kWorker, DatabaseWait{*wait_ms, &targets.requested}, *env);
  if (targets.requested) return 0;  // stopped while waiting for the database
  if (!worker_store.ok()) return Fail(worker_store.status()), ExitCode();
  auto store = OpenConfiguredStore(StoreRole::kApi);
  if (!store.ok()) return Fail(store.status()), ExitCode();
  http::Metrics metrics;
  // The embedded worker; with --no-worker a housekeeping-only one (no job slots) still
  // rescues the jobs of dead workers, prunes old jobs and tracks backoffs.
  std::unique_ptr<Worker> worker;
  {
    WorkerOptions wo = *worker_opts;
    if (flags.no_worker()) {
      wo.max_concurrent_jobs = 0;
      wo.log_polls = false;
    }
    metrics.Instrument(&wo);
    wo.on_prune = [&metrics](int n) { metrics.AddPruned(n); };
    worker = std::make_unique<Worker>(worker_store->get(), *env, wo);
  }
  JobService jobs(store->get(), *env, *job_opts, [&worker] {
    if (worker) worker->Wake();
  });
  http::ApiServer server(&jobs, *opts, &metrics);
  if (Status s = server.Bind(); !s.ok()) return Fail(s), ExitCode();
  PrintBanner(*opts, server, **store, flags.no_worker() ? nullptr : worker.get());

  targets.Set(&server, worker.get());
  std::thread worker_thread;
  std::unique_ptr<JobWatch> watch;
  if (worker) {
    worker_thread = std::thread([&] { worker->Run(); });
    watch = (*worker_store)->Watch([&] { worker->Wake(); });
  }
  server.Serve();  // returns after Stop() once requests in flight are done
  if (worker) {
    worker->Stop();  // no-op after a signal; covers Serve returning on its own
    worker_thread.join();
  }
  watch.reset();
  targets.Set(nullptr, nullptr);
  env->log->info("Server stopped");
  return 0;
}

}  // namespace

void RegisterServeCommands(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto worker_flags = std::make_shared<WorkerFlags>();
  auto* cmd = app.add_subcommand("serve", "Run the HTTP API and web pages with an embedded worker");
  flags->AddTo(cmd);
  worker_flags->AddTo(cmd);
  cmd->callback([flags, worker_flags] { SetExitCode(RunServe(*flags, *worker_flags)); });
}

}  // namespace nbi::cli
