// Small helpers shared by the tests: temp dirs, the random seed, optional real data.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

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

// The project source dir and the built nearbyindex binary.
std::string SourceDir();
std::string BinaryPath();

// Writes `content` to `path`.
void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);

// Runs a shell command, returns exit status; stdout+stderr captured into *output.
int RunCommand(const std::string& cmd, std::string* output);

}  // namespace nbi::testing
