// Hostile data and files. Output safety: control characters from data (POI and city names, a job's
// error, a file's bad line) never reach a terminal or a log line raw (Printable, and the CLI's
// printing of `score`, `cities list`, `jobs`, `jobs show` and import errors). Regression: escape
// bytes in names retitled the terminal and cleared the screen. Bounded reading: a CSV file is read
// in blocks, and a binary or sparse one is refused at its first bad record (regression: a 2 GB
// sparse file cost 4.2 GB of memory before "expected the header").
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "common/printable.h"
#include "store_test_util.h"
#include "test_util.h"

namespace nbi {
namespace {

// Raw control bytes a terminal acts on: C0 except tab/newline, DEL, and C1 (raw or UTF-8).
bool HasRawControl(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F) return true;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) <= 0x9F)
      return true;
  }
  return false;
}

// Retitles the terminal (OSC 0 ... BEL), clears the screen (CSI 2J), a C1 CSI in UTF-8 and raw.
const std::string kEvil =
    "Evil\x1b]0;pwned\x07\x1b[2J\xc2\x9b"
    "31m\x9b"
    "1m\x7f end";

TEST(Printable, EscapesControlCharactersAndKeepsText) {
  EXPECT_EQ(Printable("Zürich Bäckerei 東京 café\ttab"), "Zürich Bäckerei 東京 café\ttab");
  EXPECT_EQ(Printable(kEvil), "Evil\\e]0;pwned\\x07\\e[2J\\u{9b}31m\\x9b1m\\x7f end");
  EXPECT_EQ(Printable("a\nb\r"), "a\\x0ab\\x0d");
  EXPECT_EQ(Printable("a\nb", true), "a\nb");
  EXPECT_EQ(Printable(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(Printable("\xff\xfe ok"), "\xff\xfe ok");  // invalid, not a control: kept
  EXPECT_FALSE(HasRawControl(Printable(kEvil)));
}

class PrintedData : public ::testing::Test {
 protected:
  // Runs the binary on this test's SQLite store; returns stdout and stderr.
  int Run(const std::string& args, std::string* out) {
    return testing::RunCommand("env DATABASE_URL='" + url_ + "' NBI_TEST_PG_URL= " +
                                   testing::BinaryPath() + " " + args + " 2>&1",
                               out);
  }
  testing::TempDir dir_;
  const std::string url_ = "sqlite:" + dir_.File("nbi.db");
};

TEST_F(PrintedData, NamesAndErrorsReachTheTerminalEscaped) {
  const std::string csv = dir_.File("evil.csv");
  testing::WriteFile(csv, "lat,lng,category,name\n47.1,9.5,groceries,\"" + kEvil + "\"\n");
  std::string out;
  ASSERT_EQ(Run("import " + csv, &out), 0) << out;
  ASSERT_EQ(Run("score 47.1 9.5", &out), 0) << out;
  EXPECT_NE(out.find("Evil\\e]0;pwned"), std::string::npos) << out;
  EXPECT_FALSE(HasRawControl(out)) << out;
  ASSERT_EQ(Run("cities add evil --name \"" + kEvil + "\" --bbox 47,9,47.2,9.6", &out), 0) << out;
  ASSERT_EQ(Run("cities list", &out), 0) << out;
  EXPECT_NE(out.find("Evil\\e"), std::string::npos) << out;
  EXPECT_FALSE(HasRawControl(out)) << out;
  // A file's bad line quoted in an import error.
  const std::string bad = dir_.File("bad.csv");
  testing::WriteFile(bad, "lat,lng,category,name\n47.1,9.5\x1b[2J,groceries,x\n");
  EXPECT_NE(Run("import " + bad, &out), 0) << out;
  EXPECT_NE(out.find("error"), std::string::npos) << out;
  EXPECT_FALSE(HasRawControl(out)) << out;
  // A job's error (an original-app job, or a failure quoting data) in `jobs` and `jobs show`.
  ASSERT_EQ(Run("schedule --bbox 47.1,9.5,47.11,9.51 --grid-step 0.001", &out), 0) << out;
  testing::ExecSql(url_, "UPDATE jobs SET error = '" + kEvil + "', type = 'heatmap\x1b[2J'");
  ASSERT_EQ(Run("jobs", &out), 0) << out;
  EXPECT_NE(out.find("Evil\\e"), std::string::npos) << out;
  EXPECT_FALSE(HasRawControl(out)) << out;
  ASSERT_EQ(Run("jobs show 1", &out), 0) << out;
  EXPECT_NE(out.find("Evil\\e"), std::string::npos) << out;
  EXPECT_FALSE(HasRawControl(out)) << out;
}

// AddressSanitizer's shadow memory and quarantine multiply a process's resident size: there
// the memory bounds are not asserted (the refusals still are).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kMemoryIsMeasured = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kMemoryIsMeasured = false;
#else
constexpr bool kMemoryIsMeasured = true;
#endif
#else
constexpr bool kMemoryIsMeasured = true;
#endif

// The largest resident size of the children this test process has waited for, in MB (each test
// runs in a process of its own under ctest, so that is the one command the test ran).
double ChildrenMaxRssMb() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

TEST_F(PrintedData, ASparseGigabyteCsvIsRefusedAtOnceInBoundedMemory) {
  const std::string path = dir_.File("sparse.csv");
  { std::ofstream f(path); }
  ASSERT_EQ(truncate(path.c_str(), int64_t{1} << 30), 0);  // 1 GiB of NUL bytes, no disk used
  std::string out;
  EXPECT_NE(Run("import " + path, &out), 0) << out;
  EXPECT_NE(out.find("sparse.csv:1: NUL bytes: a binary file"), std::string::npos) << out;
  const double rss = ChildrenMaxRssMb();
  std::printf("import of a 1 GiB sparse CSV: max RSS %.1f MB\n", rss);
  if (kMemoryIsMeasured) EXPECT_LT(rss, 100.0) << "the file was read whole";
}

TEST_F(PrintedData, ALineWithoutEndIsRefusedAfterItsLimit) {
  const std::string path = dir_.File("long.csv");
  {
    std::ofstream f(path);
    f << "lat,lng,category,name\n47.1,9.5,groceries,";
    const std::string block(size_t{1} << 20, 'a');  // a 64 MiB name on a line without end
    for (int i = 0; i < 64; ++i) f << block;
  }
  std::string out;
  EXPECT_NE(Run("import " + path, &out), 0) << out;
  EXPECT_NE(out.find("long.csv:2: record longer than 16777216 bytes"), std::string::npos) << out;
  const double rss = ChildrenMaxRssMb();
  std::printf("import of a CSV with a 64 MiB line: max RSS %.1f MB\n", rss);
  if (kMemoryIsMeasured) EXPECT_LT(rss, 80.0) << "the line was read whole";
}

}  // namespace
}  // namespace nbi
