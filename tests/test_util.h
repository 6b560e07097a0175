// Small helpers shared by the tests: temp dirs, the random seed, optional real data.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "common/env.h"

namespace nbi::testing {

// A fresh directory removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The seed for randomized tests: NBI_TEST_SEED if set, else a fixed default. Tests print it
// on failure (SCOPED_TRACE) so a failing case can be replayed.
uint64_t TestSeed();

// Directory of the real OSM extracts (../shared/data/osm relative to the source tree, or
// NBI_OSM_DATA_DIR), or nullopt when absent (tests then GTEST_SKIP with a message).
std::optional<std::filesystem::path> SharedOsmDir();

// Sanitizer builds (scripts/sanitize.sh) run the suite several times slower.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
inline constexpr bool kThreadSanitizer = __has_feature(thread_sanitizer);
#else
inline constexpr bool kThreadSanitizer = false;
#endif
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
inline constexpr bool kAddressSanitizer = __has_feature(address_sanitizer);
#else
inline constexpr bool kAddressSanitizer = false;
#endif

// The bound of an assertion about promptness ("answered within 1 s"): `normal_ms` on a plain
// build, ten times that under AddressSanitizer, and none under ThreadSanitizer (nullopt: the
// test checks only that the thing happened). Speed itself is measured by the benchmarks.
inline std::optional<int64_t> PromptnessBoundMs(int64_t normal_ms) {
  if (kThreadSanitizer) return std::nullopt;
  return kAddressSanitizer ? normal_ms * 10 : normal_ms;
}

// Waits until the file at `path` contains `text` (a log line a child process prints once it
// is ready), polling every 10 ms; false after `timeout_ms`.
bool WaitForFileText(const std::string& path, const std::string& text, int timeout_ms);

// Declares `var`, the directory of the real OSM extracts (SharedOsmDir). Without them the test
// is skipped saying so, or fails when NBI_REQUIRE_OSM is set (CI), as NBI_REQUIRE_BACKEND does
// for PostgreSQL: a machine without the data must not pass the suite silently.
#define NBI_REQUIRE_OSM_DIR(var)                                                          \
  const std::optional<std::filesystem::path> var = ::nbi::testing::SharedOsmDir();        \
  if (!var) {                                                                             \
    if (std::getenv("NBI_REQUIRE_OSM"))                                                   \
      FAIL() << "NBI_REQUIRE_OSM set but the real OSM extracts are missing "              \
                "(../shared/data/osm, or NBI_OSM_DATA_DIR)";                              \
    GTEST_SKIP() << "../shared/data/osm not found: real-extract checks skipped"           \
                    " (NBI_OSM_DATA_DIR names another place; CI sets NBI_REQUIRE_OSM=1)"; \
  }

// The project source dir and the built nearbyindex binary.
std::string SourceDir();
std::string BinaryPath();

// Writes `content` to `path`.
void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);

// Runs a shell command, returns exit status; stdout+stderr captured into *output.
int RunCommand(const std::string& cmd, std::string* output);

// The Env of in-process components under test: the system clock (or `clock`) and a text
// logger on stdout, so a failing test shows the component's log.
Env TestEnv(Clock* clock = SystemClock::Get());

}  // namespace nbi::testing

#include <sys/types.h>

#include <vector>

namespace nbi::testing {

// A child process of the test (the real nearbyindex binary), stdout+stderr to `log_path`.
// `env` entries "NAME=value" are set on top of the test's environment ("NAME=" unsets).
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& env,
        const std::string& log_path);
  ~Child();  // SIGKILLs a child still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Exit code (128+signal when killed), or -1 if still running after timeout_ms.
  int Wait(int timeout_ms);
  bool Running();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
};

}  // namespace nbi::testing
