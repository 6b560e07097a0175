// Subcommand registration. Each Register* adds one subcommand whose callback runs the command
// and records its exit code (0 ok, 1 runtime failure, 2 bad input).
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "config.h"
#include "store/store.h"

namespace nbi::cli {

void RegisterCommands(CLI::App& app);
int ExitCode();
void SetExitCode(int code);

// Prints "error: <message>" to stderr and sets the exit code from the status (2 for invalid
// input / not found, 1 otherwise).
void Fail(const Status& s);

// `j` as the JSON that --json prints (indented): invalid UTF-8 replaced, and every control
// character escaped, C1 and DEL too (common/printable.h EscapeJsonControls).
std::string TerminalJson(const nlohmann::json& j);
#define NBI_STATUS_OR_FAIL(expr)               \
  do {                                         \
    ::nbi::Status s_ = (expr);                 \
    if (!s_.ok()) return ::nbi::cli::Fail(s_); \
  } while (0)

void RegisterScoreCommands(CLI::App& app);   // score, heatmap
void RegisterStoreCommands(CLI::App& app);   // migrate, import, cities, export (+ job commands)
void RegisterJobCommands(CLI::App& app);     // jobs, schedule
void RegisterWorkerCommands(CLI::App& app);  // worker, process-jobs
void RegisterServeCommands(CLI::App& app);   // serve

// The store named by DATABASE_URL (default sqlite:nearbyindex.db), migrated, with the
// session limits of `role` (config.h).
Result<std::unique_ptr<Store>> OpenConfiguredStore(StoreRole role = StoreRole::kWorker);

// How a long-running command waits for its database at start.
struct DatabaseWait {
  int64_t timeout_ms = 0;                   // < 0: forever
  const std::atomic<bool>* stop = nullptr;  // set (by a signal): stop waiting
};
// OpenConfiguredStore, retried while the database is unreachable or locked (kTransient):
// each attempt is logged, with a backoff from 0.25 s to 5 s, until `wait` runs out.
Result<std::unique_ptr<Store>> OpenStoreWaiting(StoreRole role, const DatabaseWait& wait,
                                                const Env& env);
void PrintJobTable(const std::vector<Job>& jobs);
// Writes cells as CSV (lat,lng,score) or GeoJSON points, chosen by the file's extension;
// written to a temp file and renamed, so a failed write leaves no half file.
Status WriteCellList(const std::string& out, const std::vector<HeatCell>& cells);
void PrintScoreSummary(const std::vector<uint8_t>& scores, std::FILE* to);

}  // namespace nbi::cli
