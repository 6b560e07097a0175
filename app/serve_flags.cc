#include "serve_flags.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "common/duration.h"
#include "worker/cron.h"

namespace nbi::cli {

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
