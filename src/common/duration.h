// Durations as people write them: "600000" (bare: milliseconds), "250ms", "600s", "10min",
// "1h", "7d" (decimal amounts allowed: "1.5h"). One unit per value. Pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace nbi {

// `name` labels the error ("STALE_JOB_TIMEOUT='abc' is not a duration ..."). The amount must
// be positive and at most ~30 years. kInvalidArgument otherwise.
Result<int64_t> ParseDurationMs(const std::string& name, const std::string& text);

}  // namespace nbi
