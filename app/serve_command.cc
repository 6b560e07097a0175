// `serve`: the HTTP API and web pages plus an embedded worker (unless --no-worker) and the
// cross-process job watch, in one process. SIGTERM/SIGINT: stop accepting connections, let
// requests in flight finish, hand running jobs back, exit 0.
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "commands.h"
#include "http/metrics.h"
#include "http/server.h"
#include "signal_thread.h"
#include "store/job_watch.h"
#include "worker/worker.h"

namespace nbi::cli {

namespace {

struct ServeFlags {
  bool no_worker = false;
  std::string host, port, web_dir;
};

int RunServe(const ServeFlags& flags) {
  auto opts = http::ServerOptionsFromEnv();
  if (!opts.ok()) {
    Fail(opts.status());
    return ExitCode();
  }
  if (!flags.host.empty()) opts->host = flags.host;
  if (!flags.port.empty()) {
    char* end = nullptr;
    long p = std::strtol(flags.port.c_str(), &end, 10);
    if (*end || p < 0 || p > 65535) {
      Fail(Status::Invalid(fmt::format("--port {}: use 0..65535", flags.port)));
      return ExitCode();
    }
    opts->port = int(p);
  }
  if (!flags.web_dir.empty()) opts->web_dir = flags.web_dir;
  if (opts->web_dir.empty()) opts->web_dir = NBI_SOURCE_DIR "/web";
  auto worker_opts = WorkerOptionsFromEnv();
  if (!worker_opts.ok()) {
    Fail(worker_opts.status());
    return ExitCode();
  }
  opts->cron_worker = *worker_opts;

  // Signals first, so every thread started below inherits the blocked mask.
  std::mutex mu;
  bool stop_requested = false;               // guarded by mu
  http::ApiServer* server_target = nullptr;  // guarded by mu
  Worker* worker_target = nullptr;           // guarded by mu
  SignalThread signals([&](int sig) {
    WorkerLog(fmt::format(
        "Received {}: closing the listener, finishing requests in flight, handing jobs back",
        sig == SIGINT ? "SIGINT" : "SIGTERM"));
    std::lock_guard<std::mutex> l(mu);
    stop_requested = true;
    if (server_target) server_target->Stop();
    if (worker_target) worker_target->Stop();
  });

  auto store = OpenConfiguredStore();
  if (!store.ok()) {
    Fail(store.status());
    return ExitCode();
  }
  http::Metrics metrics;
  std::unique_ptr<Worker> worker;
  if (!flags.no_worker) {
    WorkerOptions wo = *worker_opts;
    metrics.Instrument(&wo);
    worker = std::make_unique<Worker>(store->get(), wo);
  }
  http::ApiServer server(store->get(), *opts, &metrics, [&worker] {
    if (worker) worker->Wake();
  });
  if (Status s = server.Bind(); !s.ok()) {
    Fail(s);
    return ExitCode();
  }

  std::printf(
      "NearbyIndex Server\n==================\nListening on: http://%s:%d\nStore: %s\nWeb "
      "directory: %s%s\n"
      "Cron endpoint: %s\n",
      opts->host.c_str(), server.port(), (*store)->Describe().c_str(), opts->web_dir.c_str(),
      std::filesystem::exists(opts->web_dir + "/public/index.html") ? ""
                                                                    : " (no public/index.html)",
      opts->cron_secret.empty() ? "disabled (CRON_SECRET unset)" : "enabled");
  if (worker) {
    const WorkerOptions& o = *worker_opts;
    std::printf(
        "Embedded worker: poll interval %lldms, chunk size %lld, max concurrent jobs %d, stale job "
        "timeout %lldms, worker id %s\n\n",
        (long long)o.poll_interval_ms, (long long)o.chunk_size, o.max_concurrent_jobs,
        (long long)o.stale_timeout_ms, worker->id().c_str());
  } else {
    std::printf("Embedded worker: off (--no-worker)\n\n");
  }
  std::fflush(stdout);

  std::thread worker_thread;
  std::unique_ptr<JobWatch> watch;
  {
    std::lock_guard<std::mutex> l(mu);
    server_target = &server;
    worker_target = worker.get();
    if (stop_requested) {
      server.Stop();
      if (worker) worker->Stop();
    }
  }
  if (worker) {
    worker_thread = std::thread([&] { worker->Run(); });
    watch = StartJobWatch(DatabaseUrlFromEnv(), [&] { worker->Wake(); });
  }

  server.Serve();  // returns after Stop() once requests in flight are done
  if (worker) {
    worker->Stop();  // no-op after a signal; covers Serve returning on its own
    worker_thread.join();
  }
  watch.reset();
  {
    std::lock_guard<std::mutex> l(mu);
    server_target = nullptr;
    worker_target = nullptr;
  }
  WorkerLog("Server stopped");
  return 0;
}

}  // namespace

void RegisterServeCommands(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve", "Run the HTTP API and web pages with an embedded worker");
  cmd->add_flag("--no-worker", flags->no_worker,
                "API and pages only; jobs run in a separate `worker`");
  cmd->add_option("--host", flags->host, "listen address (env HOST, default 127.0.0.1)");
  cmd->add_option("--port", flags->port,
                  "listen port (env PORT, default 8080; 0 picks a free one)");
  cmd->add_option("--web-dir", flags->web_dir,
                  "directory with public/ and node_modules/ (env NBI_WEB_DIR)");
  cmd->callback([flags] { SetExitCode(RunServe(*flags)); });
}

}  // namespace nbi::cli
