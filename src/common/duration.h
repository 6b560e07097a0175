// Durations as people write them: "600000" (bare: milliseconds), "250ms", "600s", "10min",
// "1h", "7d" (decimal amounts allowed: "1.5h"). One unit per value. Pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace nbi {

enum class BareNumber {
  kMilliseconds,  // "600000" means 600000 ms (the seed's STALE_JOB_TIMEOUT, WORKER_POLL_INTERVAL)
  kRefused,       // a unit is required ("--older-than 7" is refused, not 7 ms)
};

// `name` labels the error, which quotes the text ("STALE_JOB_TIMEOUT='abc' is not a
// number"). The amount must be positive and at most ~30 years. kInvalidArgument otherwise.
Result<int64_t> ParseDurationMs(const std::string& name, const std::string& text,
                                BareNumber bare = BareNumber::kMilliseconds);

}  // namespace nbi
