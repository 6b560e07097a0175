#include "config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/duration.h"
#include "store/store.h"
#include "worker/cron.h"

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
    auto model = ParseHeatModel(g.seed_job_model);
    if (!model) {
      return Status::Invalid(fmt::format(
          "SEED_JOB_MODEL='{}': use grocery, blend, grocery-walk or blend-walk", g.seed_job_model));
    }
    SetSeedJobModel(*model);
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

// ---------------------------------------------------------------- serve

void ServeFlags::AddTo(CLI::App* cmd) {
  cmd->add_flag("--no-worker", no_worker_, "API and pages only; jobs run in a separate `worker`");
  cmd->add_option("--host", host_, "listen address (env HOST, default 127.0.0.1)")->envname("HOST");
  cmd->add_option("--port", port_, "listen port (env PORT, default 8080; 0 picks a free one)")
      ->envname("PORT");
  cmd->add_option("--allowed-hosts", allowed_hosts_,
                  "comma-separated Host names served besides localhost, 127.0.0.1 and [::1] "
                  "(env ALLOWED_HOSTS, default unset; when set, or when bound to loopback, other "
                  "Host names get 403)")
      ->envname("ALLOWED_HOSTS");
  cmd->add_option("--web-dir", web_dir_,
                  "read the pages from DIR/public (and Leaflet from DIR/node_modules/leaflet/dist) "
                  "instead of the embedded copies, for development (env NBI_WEB_DIR, default: "
                  "embedded)")
      ->envname("NBI_WEB_DIR");
  // Settings usually given in the environment; each has a flag named after it too.
  struct EnvOption {
    std::string* dst;
    const char* name;
    const char* help;
  };
  for (EnvOption e :
       {EnvOption{&cron_secret_, "CRON_SECRET",
                  "bearer token of /api/cron/process-jobs (default unset: the endpoint "
                  "answers 404)"},
        EnvOption{&tile_url_, "NBI_TILE_URL",
                  "raster tile URL template of the map's base layer (default unset: the "
                  "engine's own streets, from the imported walk network)"},
        EnvOption{&heatmap_cap_, "NBI_HEATMAP_CELL_CAP",
                  "cells per /api/heatmap answer (default 200000)"},
        EnvOption{&tile_cache_mb_, "NBI_TILE_CACHE_MB",
                  "MiB of rendered heat tiles kept in memory, 0 disables (default 64)"},
        EnvOption{&cron_budget_, "NBI_CRON_BUDGET_MS",
                  "milliseconds one cron call runs jobs (default 10000)"},
        EnvOption{&rate_, "NBI_RATE_LIMIT_PER_SEC",
                  "writes per client address per second, 0 disables (default 20)"},
        EnvOption{&burst_, "NBI_RATE_LIMIT_BURST",
                  "writes a client may burst (default twice the rate)"},
        EnvOption{&threads_, "NBI_HTTP_THREADS", "request handler threads (default 64)"},
        EnvOption{&store_slots_, "NBI_HTTP_STORE_CONCURRENCY",
                  "handlers in the store at once, reads and writes each (default 4)"},
        EnvOption{&access_log_, "NBI_ACCESS_LOG", "a log line per request; 0 disables (default 1)"},
        EnvOption{&header_timeout_, "NBI_HTTP_HEADER_TIMEOUT",
                  "a request head, body and answer must each arrive within this (default "
                  "10s)"},
        EnvOption{&max_connections_, "NBI_HTTP_MAX_CONNECTIONS",
                  "open connections at most (default 10000, capped by the descriptor "
                  "limit)"}}) {
    std::string flag = "--";
    for (const char* c = e.name; *c; ++c) flag += *c == '_' ? '-' : char(std::tolower(*c));
    cmd->add_option(flag, *e.dst, fmt::format("{} (env {})", e.help, e.name))->envname(e.name);
  }
}

Result<http::ServerOptions> ServeFlags::Parse(const WorkerOptions& worker) const {
  http::ServerOptions o;
  if (!host_.empty()) o.host = host_;
  if (!port_.empty()) {
    NBI_ASSIGN_OR_RETURN(int64_t p, ParseIntSetting("PORT", port_, 0, 65535));
    o.port = static_cast<int>(p);
  }
  o.web_dir = web_dir_;
  o.cron_secret = cron_secret_;
  o.tile_url = tile_url_;
  if (!heatmap_cap_.empty()) {
    NBI_ASSIGN_OR_RETURN(o.heatmap_cell_cap,
                         ParseIntSetting("NBI_HEATMAP_CELL_CAP", heatmap_cap_, 1, 100'000'000));
  }
  if (!tile_cache_mb_.empty()) {
    NBI_ASSIGN_OR_RETURN(int64_t mb,
                         ParseIntSetting("NBI_TILE_CACHE_MB", tile_cache_mb_, 0, 65536));
    o.tile_cache_bytes = static_cast<size_t>(mb) << 20;
  }
  if (!cron_budget_.empty()) {
    NBI_ASSIGN_OR_RETURN(o.cron.budget_ms,
                         ParseIntSetting("NBI_CRON_BUDGET_MS", cron_budget_, 1, 3'600'000));
  }
  if (!rate_.empty()) {
    NBI_ASSIGN_OR_RETURN(o.rate_limit_per_sec,
                         ParseDoubleSetting("NBI_RATE_LIMIT_PER_SEC", rate_, 0, 1e6));
  }
  o.rate_limit_burst = 2 * o.rate_limit_per_sec;
  if (!burst_.empty()) {
    NBI_ASSIGN_OR_RETURN(o.rate_limit_burst,
                         ParseDoubleSetting("NBI_RATE_LIMIT_BURST", burst_, 1, 1e7));
  }
  if (!threads_.empty()) {
    NBI_ASSIGN_OR_RETURN(int64_t n, ParseIntSetting("NBI_HTTP_THREADS", threads_, 1, 1024));
    o.threads = static_cast<int>(n);
  }
  if (!store_slots_.empty()) {
    NBI_ASSIGN_OR_RETURN(int64_t n,
                         ParseIntSetting("NBI_HTTP_STORE_CONCURRENCY", store_slots_, 1, 1024));
    o.store_concurrency = static_cast<int>(n);
  }
  if (!access_log_.empty()) o.access_log = access_log_ != "0";
  if (!header_timeout_.empty()) {
    NBI_ASSIGN_OR_RETURN(o.head_timeout_ms, ParseDurationMs("NBI_HTTP_HEADER_TIMEOUT",
                                                            header_timeout_, BareNumber::kRefused));
    if (o.head_timeout_ms < 100 || o.head_timeout_ms > 600'000) {
      return Status::Invalid(fmt::format(
          "NBI_HTTP_HEADER_TIMEOUT='{}' is out of range: use 100ms to 10min", header_timeout_));
    }
  }
  if (!max_connections_.empty()) {
    NBI_ASSIGN_OR_RETURN(
        int64_t n, ParseIntSetting("NBI_HTTP_MAX_CONNECTIONS", max_connections_, 16, 1'000'000));
    o.max_connections = static_cast<int>(n);
  }
  for (size_t pos = 0; pos < allowed_hosts_.size();) {
    size_t comma = std::min(allowed_hosts_.find(',', pos), allowed_hosts_.size());
    std::string name = allowed_hosts_.substr(pos, comma - pos);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (!name.empty()) o.allowed_hosts.push_back(name);
    pos = comma + 1;
  }
  o.cron.stale_timeout_ms = worker.stale_timeout_ms;
  o.cron.run = worker;  // chunk size (the hooks are set per run)
  o.run_cron = RunCron;
  return o;
}

}  // namespace nbi::cli
