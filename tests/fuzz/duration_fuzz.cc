// ParseDurationMs (src/common/duration.h) on any text, with and without bare numbers.
// Properties: an accepted duration is 1 ms .. 1e12 ms; a bare number accepted with units
// required is impossible; the same text parses the same either way when it has a unit.
#include <string>

#include "common/duration.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(nbi::fuzz::AsText(data, size));
  auto bare = nbi::ParseDurationMs("D", text, nbi::BareNumber::kMilliseconds);
  auto unit = nbi::ParseDurationMs("D", text, nbi::BareNumber::kRefused);
  for (const auto* r : {&bare, &unit}) {
    if (r->ok()) NBI_FUZZ_CHECK(**r >= 1 && **r <= 1'000'000'000'000);
  }
  if (unit.ok()) NBI_FUZZ_CHECK(bare.ok() && *bare == *unit);
  return 0;
}
