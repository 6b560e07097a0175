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

namespace {

// Reads exactly `n` digits at text[*pos]; false when they are not all digits.
bool Digits(std::string_view text, size_t* pos, int n, int* out) {
  if (*pos + n > text.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view text, size_t* pos, std::string_view any_of) {
  if (*pos >= text.size() || any_of.find(text[*pos]) == std::string_view::npos) return false;
  ++*pos;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

std::optional<int64_t> ParseIsoTimestamp(std::string_view t) {
  size_t p = 0;
  int y, mo, d, h, mi, s, ms = 0;
  if (!Digits(t, &p, 4, &y) || !Expect(t, &p, "-") || !Digits(t, &p, 2, &mo) ||
      !Expect(t, &p, "-") || !Digits(t, &p, 2, &d) || !Expect(t, &p, "Tt ") ||
      !Digits(t, &p, 2, &h) || !Expect(t, &p, ":") || !Digits(t, &p, 2, &mi) ||
      !Expect(t, &p, ":") || !Digits(t, &p, 2, &s)) {
    return std::nullopt;
  }
  if (p < t.size() && t[p] == '.') {  // fraction: milliseconds kept, finer digits dropped
    ++p;
    int digits = 0;
    for (; p < t.size() && t[p] >= '0' && t[p] <= '9'; ++p, ++digits) {
      if (digits < 3) ms = ms * 10 + (t[p] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (int k = digits; k < 3; ++k) ms *= 10;
  }
  int offset_min = 0;
  if (Expect(t, &p, "Zz")) {
  } else if (p < t.size() && (t[p] == '+' || t[p] == '-')) {
    const int sign = t[p++] == '-' ? -1 : 1;
    int oh, om;
    if (!Digits(t, &p, 2, &oh) || !Expect(t, &p, ":") || !Digits(t, &p, 2, &om) || oh > 23 ||
        om > 59) {
      return std::nullopt;
    }
    offset_min = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (p != t.size()) return std::nullopt;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 ||
      mi > 59 || s > 60) {
    return std::nullopt;
  }
  if (s == 60) s = 59;  // a leap second: the last millisecond stands in for it
  const int64_t secs = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_min * 60;
  return secs * 1000 + ms;
}

}  // namespace nbi
