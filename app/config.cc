#include "config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/duration.h"
#include "store/store.h"

namespace nbi::cli {

namespace {

template <typename T>
Result<T> ParseNumber(const char* name, const std::string& text, T lo, T hi, const char* kind) {
  T out{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || end != text.data() + text.size() || !(out >= lo && out <= hi)) {
    return Status::Invalid(fmt::format("{}='{}' must be {} in {}..{}", name, text, kind, lo, hi));
  }
  return out;
}

}  // namespace

Result<int64_t> ParseIntSetting(const char* name, const std::string& text, int64_t lo, int64_t hi) {
  return ParseNumber<int64_t>(name, text, lo, hi, "a whole number");
}

Result<double> ParseDoubleSetting(const char* name, const std::string& text, double lo, double hi) {
  return ParseNumber<double>(name, text, lo, hi, "a number");
}

GlobalConfig& GlobalSettings() {
  static GlobalConfig config;
  return config;
}

void AddGlobalOptions(CLI::App& app) {
  GlobalConfig& g = GlobalSettings();
  app.add_option("--database-url", g.database_url,
                 "sqlite:PATH or postgresql://... (env DATABASE_URL, default "
                 "sqlite:nearbyindex.db)")
      ->envname("DATABASE_URL");
  app.add_option("--log-format", g.log_format, "text | json (env LOG_FORMAT, default text)")
      ->envname("LOG_FORMAT");
  app.add_option("--job-cell-cap", g.job_cell_cap,
                 "cells per scheduled job (env NBI_JOB_CELL_CAP, default 25000000)")
      ->envname("NBI_JOB_CELL_CAP");
  app.add_option("--job-part-cells", g.job_part_cells,
                 "a job over more cells is split into parts that workers run in parallel (env "
                 "JOB_PART_CELLS, default 250000)")
      ->envname("JOB_PART_CELLS");
  app.add_option("--queue-client-cells", g.queue_client_cells,
                 "API: cells one client may have queued and not yet computed; over it, 429 "
                 "(env NBI_QUEUE_CLIENT_CELLS, default 100000000; 0 turns the cap off)")
      ->envname("NBI_QUEUE_CLIENT_CELLS");
  app.add_option("--queue-total-cells", g.queue_total_cells,
                 "cells all active jobs may have queued and not yet computed; a new job over it "
                 "is refused, from the API (429) and the CLI (env NBI_QUEUE_TOTAL_CELLS, default "
                 "1000000000; 0 turns the cap off)")
      ->envname("NBI_QUEUE_TOTAL_CELLS");
  app.add_option("--db-lock-timeout", g.lock_timeout,
                 "longest wait for a database lock, then 503 / retry (env DB_LOCK_TIMEOUT; "
                 "default 5s for API requests, 30s for workers)")
      ->envname("DB_LOCK_TIMEOUT");
  app.add_option("--db-statement-timeout", g.statement_timeout,
                 "longest PostgreSQL statement (env DB_STATEMENT_TIMEOUT; default 30s for API "
                 "requests, 10min for workers)")
      ->envname("DB_STATEMENT_TIMEOUT");
  app.add_option("--db-wait-timeout", g.wait_timeout,
                 "how long serve and process-jobs wait for the database at start (env "
                 "DB_WAIT_TIMEOUT, default 30s; worker waits forever)")
      ->envname("DB_WAIT_TIMEOUT");
  app.add_option("--seed-job-model", g.seed_job_model,
                 "model of jobs whose metadata names none, as the original app enqueues them "
                 "(env SEED_JOB_MODEL, default blend)")
      ->envname("SEED_JOB_MODEL");
}

Result<StoreOptions> StoreConfig(StoreRole role) {
  StoreOptions o = role == StoreRole::kApi ? kApiStoreOptions : StoreOptions{};
  const GlobalConfig& g = GlobalSettings();
  if (!g.seed_job_model.empty()) {
    NBI_ASSIGN_OR_RETURN(HeatModel model, ParseModelName("SEED_JOB_MODEL", g.seed_job_model));
    SetSeedJobModel(model);
  }
  if (!g.lock_timeout.empty()) {
    NBI_ASSIGN_OR_RETURN(o.lock_timeout_ms,
                         ParseDurationMs("DB_LOCK_TIMEOUT", g.lock_timeout, BareNumber::kRefused));
    if (o.lock_timeout_ms > 24 * 3'600'000) {
      return Status::Invalid(
          fmt::format("DB_LOCK_TIMEOUT='{}' is over a day: use a shorter wait", g.lock_timeout));
    }
  }
  if (!g.statement_timeout.empty()) {
    NBI_ASSIGN_OR_RETURN(
        o.statement_timeout_ms,
        ParseDurationMs("DB_STATEMENT_TIMEOUT", g.statement_timeout, BareNumber::kRefused));
    if (o.statement_timeout_ms > 24 * 3'600'000) {
      return Status::Invalid(fmt::format(
          "DB_STATEMENT_TIMEOUT='{}' is over a day: use a shorter limit", g.statement_timeout));
    }
  }
  return o;
}

Result<int64_t> DatabaseWaitMs() {
  const std::string& w = GlobalSettings().wait_timeout;
  if (w.empty()) return 30'000;
  if (w == "0") return 0;
  return ParseDurationMs("DB_WAIT_TIMEOUT", w, BareNumber::kRefused);
}

std::string DatabaseUrl() {
  const std::string& u = GlobalSettings().database_url;
  return u.empty() ? kDefaultDatabaseUrl : u;
}

Result<Env> ProcessEnv() {
  LogFormat format = LogFormat::kText;
  if (const std::string& f = GlobalSettings().log_format; !f.empty()) {
    auto parsed = ParseLogFormat(f);
    if (!parsed) return Status::Invalid(fmt::format("LOG_FORMAT='{}': use text or json", f));
    format = *parsed;
  }
  return Env{SystemClock::Get(), MakeLogger(format)};
}

Result<JobServiceOptions> JobServiceConfig() {
  JobServiceOptions o;
  if (const std::string& c = GlobalSettings().job_cell_cap; !c.empty()) {
    NBI_ASSIGN_OR_RETURN(o.job_cell_cap,
                         ParseIntSetting("NBI_JOB_CELL_CAP", c, 1, kDefaultCellCap));
  }
  if (const std::string& c = GlobalSettings().job_part_cells; !c.empty()) {
    NBI_ASSIGN_OR_RETURN(o.part_cells, ParseIntSetting("JOB_PART_CELLS", c, 1000, kDefaultCellCap));
  }
  constexpr int64_t kMaxQueuedCells = int64_t{1} << 50;
  if (const std::string& c = GlobalSettings().queue_client_cells; !c.empty()) {
    NBI_ASSIGN_OR_RETURN(o.admission.client_queued_cells,
                         ParseIntSetting("NBI_QUEUE_CLIENT_CELLS", c, 0, kMaxQueuedCells));
  }
  if (const std::string& c = GlobalSettings().queue_total_cells; !c.empty()) {
    NBI_ASSIGN_OR_RETURN(o.admission.total_queued_cells,
                         ParseIntSetting("NBI_QUEUE_TOTAL_CELLS", c, 0, kMaxQueuedCells));
  }
  return o;
}

// ---------------------------------------------------------------- worker

void WorkerFlags::AddTo(CLI::App* cmd) {
  cmd->add_option("--poll-interval", poll_,
                  "between polls: ms or 30s, 1min (env WORKER_POLL_INTERVAL, default 60000)")
      ->envname("WORKER_POLL_INTERVAL");
  cmd->add_option("--chunk-size", chunk_, "cells per chunk (env WORKER_CHUNK_SIZE, default 500)")
      ->envname("WORKER_CHUNK_SIZE");
  cmd->add_option("--max-concurrent-jobs", max_jobs_,
                  "jobs at once (env MAX_CONCURRENT_JOBS, default 1)")
      ->envname("MAX_CONCURRENT_JOBS");
  cmd->add_option("--stale-timeout", stale_,
                  "rescue running jobs without heartbeat for this long (env STALE_JOB_TIMEOUT, "
                  "default 10min)")
      ->envname("STALE_JOB_TIMEOUT");
  cmd->add_option("--heartbeat-interval", heartbeat_,
                  "refresh running jobs' leases this often (env WORKER_HEARTBEAT_INTERVAL, "
                  "default 10s; at most a third of the stale timeout)")
      ->envname("WORKER_HEARTBEAT_INTERVAL");
  cmd->add_option("--job-retention", retention_,
                  "prune finished jobs older than this, hourly (env JOB_RETENTION, default 7d)")
      ->envname("JOB_RETENTION");
}

Result<WorkerOptions> WorkerFlags::Parse() const {
  WorkerOptions o;
  if (!poll_.empty()) {
    NBI_ASSIGN_OR_RETURN(o.poll_interval_ms, ParseDurationMs("WORKER_POLL_INTERVAL", poll_));
  }
  if (!stale_.empty()) {
    NBI_ASSIGN_OR_RETURN(o.stale_timeout_ms, ParseDurationMs("STALE_JOB_TIMEOUT", stale_));
  }
  if (!chunk_.empty()) {
    NBI_ASSIGN_OR_RETURN(o.chunk_size, ParseIntSetting("WORKER_CHUNK_SIZE", chunk_, 1, 10'000'000));
  }
  if (!max_jobs_.empty()) {
    NBI_ASSIGN_OR_RETURN(int64_t n, ParseIntSetting("MAX_CONCURRENT_JOBS", max_jobs_, 1, 256));
    o.max_concurrent_jobs = static_cast<int>(n);
  }
  o.heartbeat_interval_ms = kDefaultHeartbeatMs;
  if (!heartbeat_.empty()) {
    NBI_ASSIGN_OR_RETURN(o.heartbeat_interval_ms,
                         ParseDurationMs("WORKER_HEARTBEAT_INTERVAL", heartbeat_));
  }
  if (!retention_.empty()) {
    NBI_ASSIGN_OR_RETURN(o.job_retention_ms,
                         ParseDurationMs("JOB_RETENTION", retention_, BareNumber::kRefused));
  }
  // A lease must survive a couple of missed heartbeats, or live workers lose their jobs.
  if (o.stale_timeout_ms < 3 * o.heartbeat_interval_ms) {
    return Status::Invalid(fmt::format(
        "STALE_JOB_TIMEOUT={} ms is shorter than three heartbeat intervals (3 x {} ms): jobs of "
        "live workers would be rescued from under them; raise it or lower "
        "WORKER_HEARTBEAT_INTERVAL",
        o.stale_timeout_ms, o.heartbeat_interval_ms));
  }
  return o;
}

// ---------------------------------------------------------------- METRICS_ADDR

void MetricsAddrFlag::AddTo(CLI::App* cmd, std::string default_addr) {
  default_ = std::move(default_addr);
  cmd->add_option("--metrics-addr", text_,
                  fmt::format("serve /metrics, /healthz and /readyz on HOST:PORT (:PORT: every "
                              "address; off: none) (env METRICS_ADDR, default {})",
                              default_))
      ->envname("METRICS_ADDR");
}

Result<MetricsAddr> MetricsAddrFlag::Parse() const {
  MetricsAddr a;
  a.is_default = text_.empty();
  const std::string& t = text_.empty() ? default_ : text_;
  if (t == "off" || t == "none" || t == "0") return a;
  const size_t colon = t.rfind(':');
  std::string host = colon == std::string::npos ? std::string() : t.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (colon == std::string::npos || host.find_first_of("[]") != std::string::npos ||
      (host.find(':') != std::string::npos && t.front() != '[')) {
    return Status::Invalid(fmt::format(
        "METRICS_ADDR='{}': use HOST:PORT (127.0.0.1:9464, [::1]:9464), :PORT or off", t));
  }
  NBI_ASSIGN_OR_RETURN(int64_t port,
                       ParseIntSetting("METRICS_ADDR port", t.substr(colon + 1), 0, 65535));
  a.enabled = true;
  a.host = host.empty() ? "0.0.0.0" : host;
  a.port = static_cast<int>(port);
  return a;
}

}  // namespace nbi::cli
