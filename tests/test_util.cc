#include "test_util.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace nbi::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "nbi-test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

uint64_t TestSeed() {
  if (const char* s = std::getenv("NBI_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return 20261128;
}

std::optional<std::filesystem::path> SharedOsmDir() {
  std::filesystem::path p;
  if (const char* d = std::getenv("NBI_OSM_DATA_DIR")) {
    p = d;
  } else {
    p = std::filesystem::path(SourceDir()) / ".." / "shared" / "data" / "osm";
  }
  if (std::filesystem::exists(p / "porto.osm.pbf")) return std::filesystem::canonical(p);
  return std::nullopt;
}

std::string SourceDir() { return NBI_SOURCE_DIR; }
std::string BinaryPath() { return NBI_BINARY; }

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary);
  f << content;
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int RunCommand(const std::string& cmd, std::string* output) {
  std::string full = cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  std::string out;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = pclose(p);
  if (output) *output = out;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

}  // namespace nbi::testing
