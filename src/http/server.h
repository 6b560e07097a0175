// The HTTP API and web pages of `nearbyindex serve` (SPEC §6, §7), over http/transport.h.
//
// Routes (JSON unless noted; errors are {"error": {"code", "message"}}, see http/api.h):
//   GET  /api/config                   map settings (tile URL, grid steps, models)
//   GET  /api/cities                   {"cities": [...]}
//   GET  /api/heatmap?minLat=&minLng=&maxLat=&maxLng=&gridStep=&model=&minScore=
//                                      stored cells of one model (default grocery) in the box;
//                                      400 too_many_cells over the cap
//                                      (&level=auto|N: overview levels, http/tile_routes.h)
//   GET  /api/heatmap/extent?model=    where stored cells are, per offered grid step
//   GET  /api/heatmap/cities?model=&gridStep=
//                                      the cities holding cells of that model and step
//   GET  /tiles/{model}/{gridStep}/{z}/{x}/{y}.png[?low=1]
//                                      heatmap tiles (http/tile_routes.h)
//   GET  /tiles/streets/{z}/{x}/{y}.png
//                                      the offline base layer from the walk network
//   GET  /api/pois?minLat=&minLng=&maxLat=&maxLng=
//                                      {"pois": [...], "truncated": bool}
//   GET  /api/score?lat=&lng=&model=   point score + hasHeatmapCoverage (+ coverageJobId: the
//                                      regional job scheduled or already covering the point)
//   POST /api/heatmap/schedule         201 new job / 200 the equal active job; with "reset":
//                                      true, 409 while the equal job is active ("force": true
//                                      cancels it first)
//   GET  /api/jobs?status=&type=&city=&limit=&cursor=, GET /api/jobs/:id,
//   POST /api/jobs/:id/cancel, POST /api/jobs/:id/retry
//   GET  /api/cron/process-jobs        Bearer CRON_SECRET: runs jobs for a time budget
//   GET  /healthz, /readyz, /metrics   liveness, readiness (store Ping), Prometheus text
//   GET  /api/openapi.json             the OpenAPI 3.1 description of these routes
//   GET  /, /jobs, /static/*, /vendor/leaflet/*   the pages and Leaflet, embedded in the
//                                      program or read from web_dir (http/pages.h)
// Unknown paths get 404 not_found; a known path with another method 405 method_not_allowed
// (with Allow). Writes (schedule, cancel, retry) take a token from the client's bucket: 429
// rate_limited with Retry-After when it is empty. The coverage job of /api/score takes one
// too; without one the score is answered but nothing is scheduled. Cancelling a finished job
// or retrying a job that is not failed/cancelled is 409 conflict.
//
// Before any route: the Host allow-list and the write checks of http/front_door.h (403, 415).
//
// Threads: connections are served asynchronously by the transport (http/transport.h), so
// idle or slow clients hold no thread. Reads of /api/*, /readyz and /metrics run on a pool
// of `threads` handler threads, writes and cron runs on a pool of their own (16), so writes
// stuck on a database lock never hold the threads reads need. At most `store_concurrency`
// reads and as many writes query the store at once (the rest wait up to 2 s, then 503), so
// the store's pooled connections are reused under load. Stop()
// may be called from any thread (a signal thread): the listener and idle connections close
// at once, requests in flight finish (a cron run hands its job back at the next chunk), then
// Serve() returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "http/metrics.h"
#include "jobs/cron.h"
#include "jobs/service.h"
#include "store/store.h"

namespace nbi::http {

struct ServerOptions {
  std::string host = "127.0.0.1";  // HOST
  int port = 8080;                 // PORT; 0 picks a free port (see ApiServer::port())
  std::string web_dir;             // NBI_WEB_DIR: empty serves the embedded pages (http/pages.h)
  std::string cron_secret;         // CRON_SECRET; empty: the cron endpoint answers 404
  std::string tile_url;            // NBI_TILE_URL, for /api/config
  int64_t heatmap_cell_cap = 200'000;  // NBI_HEATMAP_CELL_CAP: cells per /api/heatmap answer
  size_t tile_cache_bytes = 64 << 20;  // NBI_TILE_CACHE_MB: rendered tiles kept (LRU), and a
                                       // quarter again for /api/heatmap answers
  int64_t poi_cap = 20'000;            // POIs per /api/pois answer
  double rate_limit_per_sec = 20;      // NBI_RATE_LIMIT_PER_SEC (0 disables)
  double rate_limit_burst = 40;        // NBI_RATE_LIMIT_BURST (default 2 x rate)
  int threads = 64;                    // NBI_HTTP_THREADS: handlers running at once
  // NBI_HTTP_STORE_CONCURRENCY: handlers in the store at once. 4: on PostgreSQL each is a
  // busy server process, and more of them take the cores from an embedded worker's writes
  // (BENCHMARKS.md, HTTP under load).
  int store_concurrency = 4;
  size_t max_body_bytes = 64 * 1024;       // larger bodies: 413
  int64_t head_timeout_ms = 10'000;        // NBI_HTTP_HEADER_TIMEOUT: a request (head, body) and
                                           // an answer must each move within this
  int64_t idle_timeout_ms = 5'000;         // a kept-alive connection idles at most this long
  int max_connections = 10'000;            // NBI_HTTP_MAX_CONNECTIONS: open connections
  std::vector<std::string> allowed_hosts;  // ALLOWED_HOSTS: Host names besides loopback
  bool access_log = true;                  // NBI_ACCESS_LOG=0 disables the line per request
  // Budget, chunk size and stale timeout of cron runs (NBI_CRON_BUDGET_MS, ...).
  CronOptions cron;
  // What runs them: the worker's loop (worker/cron.h RunCron), handed in by the application
  // since http/ includes nothing of worker/. Unset: the cron endpoint answers 500.
  CronRunner run_cron;
};

class ApiServer {
 public:
  // `jobs` (and its store) and `metrics` (may be null) must outlive the server. Every job
  // rule goes through `jobs`; reads of cities, cells and POIs go to its store. Options are
  // parsed by the application (app/config.h); the server reads no environment.
  ApiServer(JobService* jobs, ServerOptions opts, Metrics* metrics);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds host:port. kTransient when the address cannot be bound (in use, no permission).
  Status Bind();
  // The bound port (after Bind).
  int port() const;
  // Serves until Stop(); returns once requests in flight have finished. Call once, after Bind.
  void Serve();
  // Thread-safe, idempotent; also valid before Serve() (Serve then returns at once).
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nbi::http
