#include "common/time_format.h"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>

namespace nbi {

std::string FormatTimestamp(int64_t ms, TimeStyle style) {
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;  // floor, also before 1970
  int millis = static_cast<int>(ms - secs * 1000);
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  bool utc = style == TimeStyle::kIsoUtc || style == TimeStyle::kSqlUtc;
  if (utc) {
    gmtime_r(&t, &tm);
  } else {
    localtime_r(&t, &tm);
  }
  switch (style) {
    case TimeStyle::kIsoUtc:
      return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    case TimeStyle::kSqlUtc:
      return fmt::format("{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}.{:03d}", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    case TimeStyle::kLocalSeconds:
      return fmt::format("{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    case TimeStyle::kLocalClock:
      return fmt::format("{:02d}:{:02d}:{:02d}", tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  return {};
}

std::optional<int64_t> ParseSqlTimestamp(const char* text) {
  if (!text) return std::nullopt;
  std::tm tm{};
  int ms = 0;
  int n = std::sscanf(text, "%d-%d-%d%*c%d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms);
  if (n < 6) return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + (n == 7 ? ms : 0);
}

}  // namespace nbi
