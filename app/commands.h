// Subcommand registration. Each Register* adds one subcommand whose callback runs the command
// and records its exit code (0 ok, 1 runtime failure, 2 bad input).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/store.h"

namespace nbi::cli {

void RegisterCommands(CLI::App& app);
int ExitCode();
void SetExitCode(int code);

// Prints "error: <message>" to stderr and sets the exit code from the status (2 for invalid
// input / not found, 1 otherwise).
void Fail(const Status& s);
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

// The store named by DATABASE_URL (default sqlite:nearbyindex.db), migrated.
Result<std::unique_ptr<Store>> OpenConfiguredStore();
void PrintJobTable(const std::vector<Job>& jobs);
// Writes cells as CSV (lat,lng,score) or GeoJSON points, chosen by the file's extension;
// written to a temp file and renamed, so a failed write leaves no half file.
Status WriteCellList(const std::string& out, const std::vector<HeatCell>& cells);
void PrintScoreSummary(const std::vector<uint8_t>& scores, std::FILE* to);

}  // namespace nbi::cli
