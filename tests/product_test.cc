// What a new user meets first, end to end with the real binary: `nearbyindex score LAT LNG`
// reads the store and prints what GET /api/score answers (both stores), `--version` names
// the schema each store kind migrates to, and every command's --help shows its environment
// variables with their defaults.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "http_test_util.h"
#include "store/store.h"
#include "store_test_util.h"
#include "test_util.h"

namespace nbi {
namespace {

using json = nlohmann::json;
using testing::Reply;

class ScoreCommandTest : public testing::HttpTest {
 protected:
  int Cli(const std::string& args, std::string* out) {
    return testing::RunCommand(
        fmt::format("DATABASE_URL='{}' {} {} 2>&1", url_, testing::BinaryPath(), args), out);
  }
  // `score ... --json` parsed; computedAt (the time of the call) removed.
  json CliScore(const std::string& args) {
    std::string out;
    EXPECT_EQ(Cli("score " + args + " --json", &out), 0) << out;
    json j = json::parse(out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << out;
    if (j.is_object()) j.erase("computedAt");
    return j;
  }
  static json WithoutTime(json j) {
    j.erase("computedAt");
    return j;
  }
};

TEST_P(ScoreCommandTest, PrintsWhatTheApiAnswersForTheSamePoint) {
  // No embedded worker: the point stays uncovered while the API's coverage job waits.
  testing::ServerProcess& s = Start({}, {"--no-worker"});
  for (const char* model : {"grocery", "blend"}) {
    SCOPED_TRACE(model);
    json cli = CliScore(fmt::format("47.1 9.5 --model {}", model));
    Reply api = s.Get(fmt::format("/api/score?lat=47.1&lng=9.5&model={}", model));
    ASSERT_EQ(api.status, 200) << api.text;
    EXPECT_TRUE(api.body.contains("coverageJobId")) << api.text;
    json a = WithoutTime(api.body);
    a.erase("coverageJobId");  // the API's coverage job: a read command schedules none
    EXPECT_EQ(cli, a);
    EXPECT_EQ(cli["model"], model);
    EXPECT_EQ(cli["hasHeatmapCoverage"], false);
    EXPECT_GT(cli["overall"].get<int>(), 0);
  }
  // Once the coverage job has run, both say the point is covered, and agree again.
  std::string out;
  ASSERT_EQ(Cli("process-jobs", &out), 0) << out;
  for (const char* model : {"grocery", "blend"}) {
    SCOPED_TRACE(model);
    Reply covered = s.Get(fmt::format("/api/score?lat=47.1&lng=9.5&model={}", model));
    ASSERT_EQ(covered.status, 200) << covered.text;
    EXPECT_EQ(covered.body["hasHeatmapCoverage"], true) << covered.text;
    EXPECT_EQ(CliScore(fmt::format("47.1 9.5 --model {}", model)), WithoutTime(covered.body));
  }
  // The cell score equals the stored heatmap cell at that grid point.
  Reply cells = s.Get("/api/heatmap?minLat=47.0999&minLng=9.4999&maxLat=47.1001&maxLng=9.5001");
  ASSERT_EQ(cells.body["count"], 1) << cells.text;
  EXPECT_EQ(cells.body["cells"][0]["score"], CliScore("47.1 9.5")["cellScore"]) << cells.text;
}

TEST_P(ScoreCommandTest, PrintsATableAndRefusesBadInput) {
  std::string out;
  ASSERT_EQ(Cli("score 47.1 9.5", &out), 0) << out;
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(Score at 47\.1, 9\.5: \d+ overall; grocery heatmap cell \d+)")))
      << out;
  EXPECT_NE(out.find("groceries"), std::string::npos) << out;
  EXPECT_NE(out.find("Heatmap coverage: no"), std::string::npos) << out;
  EXPECT_EQ(Cli("score 95 9.5", &out), 2) << out;
  EXPECT_NE(out.find("latitude"), std::string::npos) << out;
  EXPECT_EQ(Cli("score 47.1 9.5 --model walking", &out), 2) << out;
  EXPECT_NE(
      out.find("--model 'walking' is unknown: use grocery, blend, grocery-walk or blend-walk"),
      std::string::npos)
      << out;
  // A walking model where no walk network is stored says so (the city's POIs came from CSV).
  EXPECT_EQ(Cli("score 47.1 9.5 --model grocery-walk", &out), 2) << out;
  EXPECT_NE(out.find("no walk network"), std::string::npos) << out;
  EXPECT_EQ(Cli("score 47.1", &out), 106) << out;  // CLI11: a required positional missing
  EXPECT_NE(out.find("lng"), std::string::npos) << out;
}

TEST_P(ScoreCommandTest, VersionNamesTheSchemaEachStoreMigratesTo) {
  std::string out;
  ASSERT_EQ(testing::RunCommand(testing::BinaryPath() + " --version", &out), 0) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(^nearbyindex \d+\.\d+\.\d+\n)"))) << out;
  EXPECT_NE(out.find("stores compiled in: sqlite, postgresql"), std::string::npos) << out;
  auto store = OpenStore(url_);
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto version = (*store)->SchemaVersion();
  ASSERT_TRUE(version.ok());
  const char* kind = GetParam() == testing::Backend::kSqlite ? "sqlite" : "postgresql";
  EXPECT_NE(out.find(fmt::format(" {} {}", kind, *version)), std::string::npos)
      << out << " (the " << kind << " store is at " << *version << ")";
}

INSTANTIATE_TEST_SUITE_P(Stores, ScoreCommandTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         [](const auto& i) { return testing::BackendName(i.param); });

// The subcommands listed under "Subcommands:" of a help text.
std::vector<std::string> Subcommands(const std::string& help) {
  std::vector<std::string> out;
  size_t at = help.find("\nSubcommands:\n");
  if (at == std::string::npos) return out;
  std::istringstream in(help.substr(at + 14));
  std::string line;
  while (std::getline(in, line) && line.rfind("  ", 0) == 0) {
    std::istringstream words(line);
    std::string name;
    words >> name;
    out.push_back(name);
  }
  return out;
}

TEST(HelpTest, EveryCommandShowsItsEnvironmentVariablesAndDefaults) {
  const std::vector<std::string> globals = {"DATABASE_URL",         "LOG_FORMAT",
                                            "NBI_JOB_CELL_CAP",     "DB_LOCK_TIMEOUT",
                                            "DB_STATEMENT_TIMEOUT", "DB_WAIT_TIMEOUT"};
  std::map<std::string, std::vector<std::string>> own = {
      {"worker",
       {"WORKER_POLL_INTERVAL", "WORKER_CHUNK_SIZE", "MAX_CONCURRENT_JOBS", "STALE_JOB_TIMEOUT",
        "WORKER_HEARTBEAT_INTERVAL", "JOB_RETENTION", "METRICS_ADDR"}},
      {"process-jobs", {"WORKER_CHUNK_SIZE", "METRICS_ADDR"}},
      {"serve",
       {"HOST", "PORT", "ALLOWED_HOSTS", "NBI_WEB_DIR", "CRON_SECRET", "NBI_TILE_URL",
        "NBI_HEATMAP_CELL_CAP", "NBI_CRON_BUDGET_MS", "NBI_RATE_LIMIT_PER_SEC",
        "NBI_RATE_LIMIT_BURST", "NBI_HTTP_THREADS", "NBI_HTTP_STORE_CONCURRENCY", "NBI_ACCESS_LOG",
        "NBI_HTTP_HEADER_TIMEOUT", "NBI_HTTP_MAX_CONNECTIONS", "WORKER_POLL_INTERVAL"}}};
  std::string top;
  ASSERT_EQ(testing::RunCommand(testing::BinaryPath() + " --help", &top), 0) << top;
  std::vector<std::string> commands = Subcommands(top);
  ASSERT_GE(commands.size(), 12u) << top;
  size_t checked = 0;
  for (size_t i = 0; i < commands.size(); ++i) {
    SCOPED_TRACE(commands[i]);
    std::string help;
    ASSERT_EQ(testing::RunCommand(testing::BinaryPath() + " " + commands[i] + " --help", &help), 0)
        << help;
    for (const std::string& sub : Subcommands(help)) commands.push_back(commands[i] + " " + sub);
    for (const std::string& name : globals) {
      EXPECT_NE(help.find(name), std::string::npos) << name << " missing:\n" << help;
    }
    for (const std::string& name : own[commands[i]]) {
      EXPECT_NE(help.find("(Env:" + name + ")"), std::string::npos) << name << ":\n" << help;
    }
    // Each option read from the environment says its default in its description.
    const std::regex env_option(R"(\(Env:([A-Z_]+)\)\s+([^\n]*))");
    for (auto it = std::sregex_iterator(help.begin(), help.end(), env_option);
         it != std::sregex_iterator(); ++it) {
      EXPECT_NE((*it)[2].str().find("default"), std::string::npos)
          << (*it)[1] << " has no default in: " << (*it)[2];
    }
    ++checked;
  }
  EXPECT_GE(checked, 15u);
}

}  // namespace
}  // namespace nbi
