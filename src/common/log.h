// Logging: one spdlog logger, made by the application and injected into the library through
// Env (common/env.h). The library never writes to stdout itself.
//
// Formats (LOG_FORMAT):
//   kText  "[HH:MM:SS] message" in local time - the seed's worker log format (default).
//   kJson  one JSON object per line: {"time":"...Z","level":"info","msg":"..."}.
// On a terminal the text sink first clears the current line, so a progress bar drawn there
// (process-jobs) is not left half-overwritten.
#pragma once

#include <spdlog/logger.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string_view>

namespace nbi {

enum class LogFormat { kText, kJson };
std::optional<LogFormat> ParseLogFormat(std::string_view s);  // "text" | "json"

// A logger writing to `out` (stdout by default). Thread-safe.
std::shared_ptr<spdlog::logger> MakeLogger(LogFormat format, std::FILE* out = stdout);
// A logger that drops everything (benchmarks, quiet tests).
std::shared_ptr<spdlog::logger> NullLogger();

}  // namespace nbi
