// Helpers of the libFuzzer targets (tests/fuzz/*_fuzz.cc). Each target defines
// LLVMFuzzerTestOneInput; libFuzzer drives it in the fuzz build (scripts/fuzz.sh), and
// replay_main.cc runs the kept inputs (corpus/, regressions/) through it in every build.
//
// A target fails by aborting: NBI_FUZZ_CHECK states a property of the code under test that
// must hold for every input (besides "no crash, no sanitizer report").
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define NBI_FUZZ_CHECK(cond)                                                                \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

namespace nbi::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace nbi::fuzz
