// The settings of `serve` (see config.h for how settings are read and checked). Apart from
// config.h so that only `serve` includes the HTTP server: the other commands call the library's
// services directly.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "common/status.h"
#include "config.h"
#include "http/server.h"

namespace nbi::cli {

// Options of `serve`.
class ServeFlags {
 public:
  void AddTo(CLI::App* cmd);
  // `worker` supplies the cron runs' chunk size and stale timeout.
  Result<http::ServerOptions> Parse(const WorkerOptions& worker) const;
  bool no_worker() const { return no_worker_; }

 private:
  bool no_worker_ = false;
  std::string host_, port_, web_dir_, cron_secret_, tile_url_, heatmap_cap_, tile_cache_mb_,
      cron_budget_, rate_, burst_, threads_, store_slots_, access_log_, header_timeout_,
      max_connections_, allowed_hosts_;
};

}  // namespace nbi::cli
