#include "common/duration.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <string_view>

namespace nbi {

Result<int64_t> ParseDurationMs(const std::string& name, const std::string& text, BareNumber bare) {
  std::string_view t(text);
  double v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || end == t.data()) {
    return Status::Invalid(fmt::format("{}='{}' is not a number", name, text));
  }
  std::string_view unit(end, static_cast<size_t>(t.data() + t.size() - end));
  double mult = 1;
  if (unit.empty() && bare == BareNumber::kRefused) {
    return Status::Invalid(
        fmt::format("{}='{}' needs a unit: ms, s, min, h or d (e.g. {}d)", name, text, text));
  }
  if (unit.empty() || unit == "ms") {
    mult = 1;
  } else if (unit == "s") {
    mult = 1000;
  } else if (unit == "min" || unit == "m") {
    mult = 60000;
  } else if (unit == "h") {
    mult = 3600000;
  } else if (unit == "d") {
    mult = 86400000;
  } else {
    return Status::Invalid(
        fmt::format("{}='{}': unknown unit '{}' (use ms, s, min, h, d)", name, text, unit));
  }
  if (!(v > 0) || !std::isfinite(v) || v * mult > 1e12) {
    return Status::Invalid(fmt::format("{}='{}' must be a positive amount", name, text));
  }
  const int64_t ms = static_cast<int64_t>(v * mult);
  if (ms < 1) {
    return Status::Invalid(fmt::format("{}='{}' is shorter than a millisecond", name, text));
  }
  return ms;
}

}  // namespace nbi
