// The one timestamp formatter. Every timestamp the product prints or stores as text goes
// through FormatTimestamp, in one of these styles:
//   kIsoUtc        2026-11-28T21:05:00.123Z   API JSON
//   kSqlUtc        2026-11-28 21:05:00.123    SQLite TIMESTAMP columns (UTC)
//   kLocalSeconds  2026-11-28 22:05:00        CLI tables (local time)
//   kLocalClock    22:05:00                   log lines (local time)
// Milliseconds before 1970 are floored, so -1 is 1969-12-31T23:59:59.999Z.
// ParseSqlTimestamp reads kSqlUtc back (and the seed's "YYYY-MM-DD HH:MM:SS" without
// milliseconds); nullopt for anything else. Thread-safe (no static buffers).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nbi {

enum class TimeStyle { kIsoUtc, kSqlUtc, kLocalSeconds, kLocalClock };

std::string FormatTimestamp(int64_t ms_since_epoch, TimeStyle style);
std::optional<int64_t> ParseSqlTimestamp(const char* text);
// An ISO 8601 / RFC 3339 date-time with a zone: "2026-12-01T08:00:00Z",
// "2026-12-01T09:00:00.250+01:00" ('t', 'z' and a space for 'T' are accepted too). nullopt for
// anything else (no zone, out-of-range fields).
std::optional<int64_t> ParseIsoTimestamp(std::string_view text);

}  // namespace nbi
