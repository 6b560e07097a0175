// Configuration: every setting is read here, once, from a flag or its environment variable
// (CLI11 envname; the flag wins), checked (ranges, units) and handed to the library as
// structs. The library itself never reads the environment.
//
// Global settings (any subcommand): --database-url / DATABASE_URL, --log-format /
// LOG_FORMAT (text | json), --job-cell-cap / NBI_JOB_CELL_CAP, --db-lock-timeout /
// DB_LOCK_TIMEOUT, --db-statement-timeout / DB_STATEMENT_TIMEOUT, --db-wait-timeout /
// DB_WAIT_TIMEOUT, --seed-job-model / SEED_JOB_MODEL.
// Worker settings (worker, process-jobs, serve): WorkerFlags. Server settings (serve):
// ServeFlags (serve_flags.h: only `serve` includes the HTTP server). A bad value is a
// kInvalidArgument naming the variable and quoting the value (exit 2).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "common/env.h"
#include "common/log.h"
#include "common/status.h"
#include "jobs/service.h"
#include "worker/worker.h"

namespace nbi::cli {

struct GlobalConfig {
  std::string database_url;                     // DATABASE_URL; empty: sqlite:nearbyindex.db
  std::string log_format;                       // LOG_FORMAT
  std::string job_cell_cap;                     // NBI_JOB_CELL_CAP
  std::string job_part_cells;                   // JOB_PART_CELLS
  std::string queue_client_cells;               // NBI_QUEUE_CLIENT_CELLS
  std::string queue_total_cells;                // NBI_QUEUE_TOTAL_CELLS
  std::string lock_timeout, statement_timeout;  // DB_LOCK_TIMEOUT, DB_STATEMENT_TIMEOUT
  std::string wait_timeout;                     // DB_WAIT_TIMEOUT
  std::string seed_job_model;                   // SEED_JOB_MODEL; empty: blend
};

// Who opens the store: its session limits (StoreOptions) differ.
//   kApi:    the HTTP API of `serve`: lock 5 s, statement 30 s (a request answers within
//            seconds, 503 at worst).
//   kWorker: workers and every other command: lock 30 s, statement 10 min.
// DB_LOCK_TIMEOUT and DB_STATEMENT_TIMEOUT override both. It also applies SEED_JOB_MODEL
// (SetSeedJobModel), which every store of the process reads.
enum class StoreRole { kApi, kWorker };
Result<StoreOptions> StoreConfig(StoreRole role);
// DB_WAIT_TIMEOUT (default 30 s): how long `serve` and `process-jobs` wait for the database
// at start.
Result<int64_t> DatabaseWaitMs();
// Adds the global options to the top-level app; values land in GlobalSettings().
void AddGlobalOptions(CLI::App& app);
GlobalConfig& GlobalSettings();

// The database URL to open (DATABASE_URL or the default).
std::string DatabaseUrl();
// The Env of this process: SystemClock and a logger of LOG_FORMAT. Fails on a bad
// LOG_FORMAT.
Result<Env> ProcessEnv();
Result<JobServiceOptions> JobServiceConfig();

// Worker options of `worker`, `process-jobs` and the embedded worker of `serve`.
class WorkerFlags {
 public:
  void AddTo(CLI::App* cmd);
  Result<WorkerOptions> Parse() const;

 private:
  std::string poll_, chunk_, max_jobs_, stale_, heartbeat_, retention_;
};

// METRICS_ADDR of `worker` and `process-jobs`: where /metrics, /healthz and /readyz are
// served (http/ops_server.h). "HOST:PORT", "[V6]:PORT", ":PORT" (every address) or "off".
struct MetricsAddr {
  bool enabled = false;
  bool is_default = true;  // not set by flag or environment: a failed bind only warns
  std::string host;
  int port = 0;  // 0 picks a free port
};
class MetricsAddrFlag {
 public:
  // `default_addr`: "127.0.0.1:9464" (worker) or "off" (process-jobs).
  void AddTo(CLI::App* cmd, std::string default_addr);
  Result<MetricsAddr> Parse() const;

 private:
  std::string text_, default_;
};

// "NAME='text'" parsed as a whole decimal number in [lo, hi].
Result<int64_t> ParseIntSetting(const char* name, const std::string& text, int64_t lo, int64_t hi);
Result<double> ParseDoubleSetting(const char* name, const std::string& text, double lo, double hi);

}  // namespace nbi::cli
