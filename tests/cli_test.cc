// End-to-end runs of the nearbyindex binary on small fixtures.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "http_test_util.h"
#include "poi/poi.h"
#include "store/store.h"
#include "store_fixture.h"
#include "test_util.h"

namespace nbi {
namespace {

using testing::BinaryPath;
using testing::RunCommand;

// A tiny city: three groceries around (47.100, 9.500), one far away.
std::string WriteFixture(const testing::TempDir& dir) {
  std::string csv = dir.File("city.csv");
  testing::WriteFile(csv,
                     "lat,lng,category,name\n"
                     "47.1000,9.5000,groceries,Alpha\n"
                     "47.1010,9.5010,groceries,Beta\n"
                     "47.0990,9.4985,groceries,\"Gamma, the third\"\n"
                     "47.2000,9.6000,groceries,Far\n"
                     "47.1002,9.5003,restaurants,Cafe\n");
  return csv;
}

TEST(Cli, ScorePrintsPointScoreJson) {
  testing::TempDir dir;
  std::string csv = WriteFixture(dir);
  std::string out;
  ASSERT_EQ(RunCommand(BinaryPath() + " score --osm " + csv + " 47.1 9.5", &out), 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["lat"], 47.1);
  auto& g = j["categories"][0];
  EXPECT_EQ(g["id"], "groceries");
  EXPECT_EQ(g["count"], 3);
  EXPECT_EQ(g["nearestDistance"], 0.0);
  EXPECT_EQ(g["pois"].size(), 3u);
  EXPECT_EQ(g["pois"][0]["name"], "Alpha");
  EXPECT_GT(g["score"].get<int>(), 30);
  EXPECT_EQ(j["categories"].size(), 8u);
  EXPECT_TRUE(j.contains("computedAt"));
}

// The walking models from an OSM file: the point score's cellScore equals the heatmap's cell
// (both along the file's own network); a file without a network and a bad model are refused.
TEST(Cli, WalkingScoreAndHeatmapFromAnOsmFileAgree) {
  NBI_REQUIRE_OSM_DIR(data);
  testing::TempDir dir;
  const std::string osm = (*data / "monaco.osm.pbf").string(), cells = dir.File("walk.csv");
  std::string out;
  ASSERT_EQ(RunCommand(BinaryPath() + " heatmap --osm " + osm +
                           " --bbox 43.733,7.416,43.743,7.426 --grid-step 0.001 --model blend-walk"
                           " --out " +
                           cells,
                       &out),
            0)
      << out;
  // Every 23rd cell of the CSV (lat,lng,score, as printed), scored again as a point.
  std::istringstream lines(testing::ReadFile(cells));
  std::string line;
  std::getline(lines, line);  // header
  int compared = 0, nonzero = 0;
  for (int n = 0; std::getline(lines, line); ++n) {
    if (n % 23 != 0) continue;
    const size_t c1 = line.find(','), c2 = line.find(',', c1 + 1);
    ASSERT_NE(c2, std::string::npos) << line;
    const int cell = std::stoi(line.substr(c2 + 1));
    ASSERT_EQ(RunCommand(BinaryPath() + " score --osm " + osm + " " + line.substr(0, c1) + " " +
                             line.substr(c1 + 1, c2 - c1 - 1) + " --model blend-walk",
                         &out),
              0)
        << out;
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["distance"], "walking");
    EXPECT_EQ(j["cellScore"].get<int>(), cell) << line;
    ++compared;
    nonzero += cell > 0;
  }
  EXPECT_EQ(compared, 5);  // 100 cells
  EXPECT_GT(nonzero, 0);
  const std::string csv = WriteFixture(dir);
  EXPECT_EQ(
      RunCommand(BinaryPath() + " score --osm " + csv + " 47.1 9.5 --model grocery-walk", &out), 2)
      << out;
  EXPECT_NE(out.find("no walk network"), std::string::npos) << out;
  EXPECT_EQ(RunCommand(BinaryPath() + " score --osm " + csv + " 47.1 9.5 --model bogus", &out), 2)
      << out;
  EXPECT_NE(out.find("is unknown"), std::string::npos) << out;
}

TEST(Cli, HeatmapWritesCsvAndGeoJsonThatAgreeWithScore) {
  testing::TempDir dir;
  std::string csv = WriteFixture(dir);
  std::string out;
  std::string cells = dir.File("cells.csv");
  ASSERT_EQ(RunCommand(BinaryPath() + " heatmap --osm " + csv +
                           " --bbox 47.09,9.49,47.11,9.51 --grid-step 0.001 --out " + cells,
                       &out),
            0)
      << out;
  EXPECT_NE(out.find("400 cells"), std::string::npos) << out;
  EXPECT_NE(out.find(cells), std::string::npos);
  std::string body = testing::ReadFile(cells);
  EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), 401);
  EXPECT_EQ(body.rfind("lat,lng,score\n", 0), 0u);
  // The cell at (47.1, 9.5) equals the point score's grocery score there.
  auto pos = body.find("\n47.1,9.5,");
  ASSERT_NE(pos, std::string::npos);
  int cell = std::stoi(body.substr(pos + 10));
  ASSERT_EQ(RunCommand(BinaryPath() + " score --osm " + csv + " 47.1 9.5", &out), 0);
  EXPECT_EQ(cell, nlohmann::json::parse(out)["categories"][0]["score"].get<int>());

  std::string gj = dir.File("cells.geojson");
  ASSERT_EQ(
      RunCommand(BinaryPath() + " heatmap --osm " + csv +
                     " --bbox 47.09,9.49,47.11,9.51 --grid-step 0.001 --model blend --out " + gj,
                 &out),
      0)
      << out;
  auto fc = nlohmann::json::parse(testing::ReadFile(gj));
  EXPECT_EQ(fc["features"].size(), 400u);
  EXPECT_EQ(fc["features"][0]["geometry"]["coordinates"][1], 47.09);
}

TEST(Cli, ErrorsNameTheProblem) {
  testing::TempDir dir;
  std::string csv = WriteFixture(dir);
  struct Case {
    std::string args, want;
  } cases[] = {
      {"score --osm " + csv + " 95 9.5", "latitude"},
      {"score --osm " + dir.File("missing.osm.pbf") + " 47 9.5", "missing.osm.pbf"},
      {"heatmap --osm " + csv + " --bbox 47.2,9.49,47.1,9.51 --out x.csv", "minLat"},
      {"heatmap --osm " + csv + " --bbox 47,9 --out x.csv", "bbox"},
      {"heatmap --osm " + csv + " --bbox 47.09,9.49,47.11,9.51 --grid-step 0.5 --out x.csv",
       "gridStep"},
      {"heatmap --osm " + csv + " --bbox 47.09,9.49,47.11,9.51 --model fancy --out x.csv", "model"},
      {"heatmap --osm " + csv + " --bbox 47.09,9.49,47.11,9.51 --out " + dir.File("x.txt"), ".csv"},
      {"heatmap --osm " + csv + " --bbox 0,0,60,60 --grid-step 0.0001 --out x.csv", "cap"},
      {"score --osm " + csv, "lat"},
  };
  for (const auto& c : cases) {
    std::string out;
    int rc = RunCommand(BinaryPath() + " " + c.args, &out);
    EXPECT_NE(rc, 0) << c.args;
    EXPECT_LT(rc, 128) << "crashed: " << c.args << "\n" << out;
    EXPECT_NE(out.find(c.want), std::string::npos) << c.args << "\n" << out;
  }
}

TEST(Cli, HelpEverywhere) {
  for (std::string sub : {"", " score", " heatmap"}) {
    std::string out;
    EXPECT_EQ(RunCommand(BinaryPath() + sub + " --help", &out), 0) << sub;
    EXPECT_NE(out.find("Usage"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace nbi

namespace nbi {
namespace {

// The store commands against a real SQLite file, as a user runs them.
class StoreCli : public ::testing::Test {
 protected:
  std::string Run(const std::string& args, int want_rc = 0) {
    std::string out;
    int rc = testing::RunCommand(
        "DATABASE_URL=sqlite:" + dir_.File("cli.db") + " " + BinaryPath() + " " + args, &out);
    EXPECT_EQ(rc, want_rc) << args << "\n" << out;
    return out;
  }
  testing::TempDir dir_;
};

TEST_F(StoreCli, ImportIsIdempotentAndAllOrNothing) {
  std::string csv = WriteFixture(dir_);
  std::string out = Run("import " + csv);
  EXPECT_NE(out.find("5 POIs"), std::string::npos) << out;
  EXPECT_NE(out.find("5 new, 0 updated"), std::string::npos) << out;
  EXPECT_NE(out.find("groceries"), std::string::npos);
  out = Run("import " + csv);
  EXPECT_NE(out.find("0 new, 5 updated"), std::string::npos) << out;
  // A broken file (bad row at the end) fails naming file and line, and stores nothing.
  std::string bad = dir_.File("bad.csv");
  testing::WriteFile(
      bad,
      "lat,lng,category\n47.3,9.6,groceries\n47.4,9.7,groceries\nnot-a-number,9.8,groceries\n");
  out = Run("import " + bad, 2);
  EXPECT_NE(out.find("bad.csv"), std::string::npos) << out;
  EXPECT_NE(out.find("4"), std::string::npos) << out;  // the line number
  out = Run("export --bbox 47.25,9.55,47.5,9.9 --grid-step 0.01 --out " + dir_.File("x.csv"));
  EXPECT_NE(out.find(" 0 POIs in the area"), std::string::npos) << out;
  Run("import " + dir_.File("nope.osm.pbf"), 2);
}

TEST_F(StoreCli, CitiesScheduleProcessJobsAndExport) {
  Run("import " + WriteFixture(dir_));
  std::string out = Run("cities add tinytown --name 'Tiny Town' --bbox 47.09,9.49,47.11,9.51");
  EXPECT_NE(out.find("tinytown"), std::string::npos);
  out = Run("cities list");
  EXPECT_NE(out.find("Tiny Town"), std::string::npos);
  EXPECT_NE(out.find("cancun"), std::string::npos);
  Run("cities add 'Bad Slug' --bbox 47.09,9.49,47.11,9.51", 2);
  Run("cities add x --bbox 47.2,9.49,47.1,9.51", 2);

  out = Run("schedule --city tinytown --grid-step 0.001");
  EXPECT_NE(out.find("\"isNew\": true"), std::string::npos) << out;
  EXPECT_NE(out.find("400 cells"), std::string::npos) << out;
  out = Run("schedule --city tinytown --grid-step 0.001");
  EXPECT_NE(out.find("\"isNew\": false"), std::string::npos) << out;
  Run("schedule --city atlantis", 2);
  // The job cell cap holds for the CLI as for the API (flag or NBI_JOB_CELL_CAP).
  out = Run("--job-cell-cap 100 schedule --city tinytown --grid-step 0.0005", 2);
  EXPECT_NE(out.find("over the job cap of 100"), std::string::npos) << out;
  {
    std::string capped;
    EXPECT_EQ(
        testing::RunCommand("NBI_JOB_CELL_CAP=100 DATABASE_URL=sqlite:" + dir_.File("cli.db") +
                                " " + BinaryPath() + " schedule --city tinytown --grid-step 0.0002",
                            &capped),
        2);
    EXPECT_NE(capped.find("over the job cap of 100"), std::string::npos) << capped;
  }
  Run("schedule --bbox 47.09,9.49,47.11,9.51 --grid-step 5", 2);
  Run("schedule", 2);

  out = Run("jobs");
  EXPECT_NE(out.find("heatmap_compute"), std::string::npos);
  EXPECT_NE(out.find("pending"), std::string::npos);
  out = Run("process-jobs");
  EXPECT_NE(out.find("Started job #1 (heatmap_compute) - 400 items"), std::string::npos) << out;
  EXPECT_NE(out.find("Job #1 completed - 400 cells processed"), std::string::npos) << out;
  out = Run("jobs show 1");
  EXPECT_NE(out.find("completed"), std::string::npos) << out;
  Run("jobs show 99", 2);
  Run("jobs show abc", 2);
  Run("jobs cancel 1", 2);  // finished jobs cannot be cancelled
  Run("jobs reset-running", 2);
  EXPECT_NE(Run("jobs reset-running --yes").find("Reset 0"), std::string::npos);

  out = Run("export --city tinytown --grid-step 0.001 --out " + dir_.File("t.csv"));
  EXPECT_NE(out.find("400 cells"), std::string::npos) << out;
  std::string exported = testing::ReadFile(dir_.File("t.csv"));
  EXPECT_EQ(std::count(exported.begin(), exported.end(), '\n'), 401);

  // --reset drops the area's cells and finished jobs, then schedules anew.
  out = Run("schedule --city tinytown --grid-step 0.001 --reset");
  EXPECT_NE(out.find("removed 400 cells"), std::string::npos) << out;
  EXPECT_NE(out.find("\"isNew\": true"), std::string::npos) << out;
  out = Run("jobs cancel 2");
  EXPECT_NE(out.find("cancelled"), std::string::npos) << out;
  out = Run("jobs retry 2");
  EXPECT_NE(out.find("pending"), std::string::npos) << out;
  Run("jobs --status bogus", 2);
}

// A job over more than --part-cells (or JOB_PART_CELLS) cells is scheduled in parts, runs
// with one "Started" and one "completed" line, and `jobs show` lists its parts.
TEST_F(StoreCli, ScheduleInPartsAndShowThem) {
  Run("import " + WriteFixture(dir_));
  std::string out =
      Run("schedule --bbox 47.09,9.49,47.11,9.51 --grid-step 0.0002 --part-cells 1000");
  EXPECT_NE(out.find("10000 cells, 10 parts"), std::string::npos) << out;
  Run("schedule --bbox 47.09,9.49,47.11,9.51 --grid-step 0.0002 --part-cells 10", 2);
  Run("--job-part-cells 0 schedule --bbox 47.09,9.49,47.11,9.51 --grid-step 0.001", 2);
  out = Run("jobs show 1");
  EXPECT_NE(out.find("parts:       10: 0 completed, 0 running, 10 pending"), std::string::npos)
      << out;
  out = Run("process-jobs");
  ASSERT_NE(out.find("Started job #1 "), std::string::npos) << out;
  EXPECT_EQ(out.find("Started job #1 "), out.rfind("Started job #1 ")) << "once per job: " << out;
  EXPECT_NE(out.find("Job #1 part 1 of 10 done (cells 0-999)"), std::string::npos) << out;
  EXPECT_NE(out.find("Job #1 completed - 10000 cells processed"), std::string::npos) << out;
  out = Run("jobs show 1");
  EXPECT_NE(out.find("parts:       10: 10 completed, 0 running, 0 pending"), std::string::npos)
      << out;
}

TEST_F(StoreCli, BadDatabaseUrlAndWorkerSettingsAreClearErrors) {
  std::string out;
  EXPECT_EQ(testing::RunCommand("DATABASE_URL=mysql://x " + BinaryPath() + " jobs", &out), 2);
  EXPECT_NE(out.find("DATABASE_URL"), std::string::npos) << out;
  // A typo in a URL with a password: the error names the problem, never the password.
  for (const char* url :
       {"postgresq://nbi:s3cretpw@localhost/db", "postgresql://nbi:s3cretpw@localhost:54x32/db",
        "postgresql://localhost/db?password=s3cretpw&port=54x32",
        "postgresql://nbi:s3cretpw@x@localhost:54x32/db",
        "postgresql://nbi:s3cretpw%zz@localhost/db", "postgresql://nbi:s3cretpw/zz@localhost/db"}) {
    // 2 for a URL not understood, 1 when libpq refuses it on connecting: never 0, never a crash.
    int rc = testing::RunCommand(
        std::string("DATABASE_URL='") + url + "' " + BinaryPath() + " jobs", &out);
    EXPECT_TRUE(rc == 1 || rc == 2) << url << "\n" << out;
    EXPECT_EQ(out.find("s3cret"), std::string::npos) << url << "\n" << out;
    EXPECT_NE(out.find("error:"), std::string::npos) << out;
  }
  // Durations: a bare --older-than is refused (not read as milliseconds), garbage is quoted.
  const std::string db = "DATABASE_URL=sqlite:" + dir_.File("w.db") + " " + BinaryPath();
  EXPECT_EQ(testing::RunCommand(db + " jobs prune --older-than 7", &out), 2) << out;
  EXPECT_NE(out.find("needs a unit"), std::string::npos) << out;
  EXPECT_EQ(testing::RunCommand(db + " jobs prune --older-than 5xd", &out), 2) << out;
  EXPECT_NE(out.find("'5xd'"), std::string::npos) << out;
  EXPECT_EQ(testing::RunCommand(db + " jobs prune --older-than abcd", &out), 2) << out;
  EXPECT_NE(out.find("'abcd' is not a number"), std::string::npos) << out;
  EXPECT_EQ(testing::RunCommand(db + " jobs prune --older-than 7d", &out), 0) << out;
  // A stale timeout shorter than three heartbeats would steal live workers' jobs.
  EXPECT_EQ(testing::RunCommand("STALE_JOB_TIMEOUT=10 " + db + " process-jobs", &out), 2) << out;
  EXPECT_NE(out.find("shorter than three heartbeat intervals"), std::string::npos) << out;
  EXPECT_EQ(testing::RunCommand("DATABASE_URL=sqlite:" + dir_.File("w.db") +
                                    " WORKER_CHUNK_SIZE=abc " + BinaryPath() + " process-jobs",
                                &out),
            2);
  EXPECT_NE(out.find("WORKER_CHUNK_SIZE"), std::string::npos) << out;
  EXPECT_EQ(testing::RunCommand("DATABASE_URL=sqlite:" + dir_.File("w.db") +
                                    " STALE_JOB_TIMEOUT=10parsecs " + BinaryPath() + " worker",
                                &out),
            2);
  EXPECT_NE(out.find("STALE_JOB_TIMEOUT"), std::string::npos) << out;
}

}  // namespace
}  // namespace nbi

namespace nbi {
namespace {

// `nearbyindex import` on a fresh store of each backend, as a user runs it: what a POI's
// source id and name become (poi/poi.h).
class ImportCli : public ::testing::TestWithParam<testing::Backend> {
 protected:
  void SetUp() override {
    NBI_REQUIRE_BACKEND(GetParam());
    url_ = testing::FreshStoreUrl(GetParam(), dir_);
  }
  // Writes `content` to `name` under the test's directory (sub-directories too); its path.
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_.File(name);
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    testing::WriteFile(path, content);
    return path;
  }
  std::string Import(const std::string& path, int want_rc = 0) {
    std::string out;
    const int rc =
        RunCommand("DATABASE_URL='" + url_ + "' " + BinaryPath() + " import '" + path + "'", &out);
    EXPECT_EQ(rc, want_rc) << out.substr(0, 2000);
    return out;
  }
  std::vector<Poi> StoredPois() {
    auto store = OpenStore(url_);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return {};
    auto pois = (*store)->LoadPois({-90, -180, 90, 180}, -1);
    EXPECT_TRUE(pois.ok()) << pois.status().ToString();
    return pois.ok() ? *pois : std::vector<Poi>{};
  }

  testing::TempDir dir_;
  std::string url_;
};

// Two files named pois.csv in two directories used to give "0 new, 3 updated": the second
// overwrote the first's POIs, whose ids were "pois.csv:csv:<line>".
TEST_P(ImportCli, SameNamedFilesInTwoDirectoriesBothAdd) {
  const std::string d1 = Write("d1/pois.csv",
                               "lat,lng,category,name\n"
                               "47.1000,9.5000,groceries,Alpha\n"
                               "47.1010,9.5010,groceries,Beta\n"
                               "47.1020,9.5020,parks,Park\n");
  const std::string d2 = Write("d2/pois.csv",
                               "lat,lng,category,name\n"
                               "47.2000,9.6000,groceries,Gamma\n"
                               "47.2010,9.6010,restaurants,Cafe\n"
                               "47.2020,9.6020,transit,Stop\n");
  std::string out = Import(d1);
  EXPECT_NE(out.find("3 POIs (3 from nodes, 0 from ways), 3 new, 0 updated"), std::string::npos)
      << out;
  out = Import(d2);
  EXPECT_NE(out.find("3 new, 0 updated"), std::string::npos) << out;
  // Re-importing is idempotent, and so is importing the same rows from another file, in
  // another order.
  out = Import(d1);
  EXPECT_NE(out.find("0 new, 3 updated"), std::string::npos) << out;
  out = Import(Write("copy.csv",
                     "47.1020,9.5020,parks,Park\n\n47.1000,9.5000,groceries,Alpha\n"
                     "47.1010,9.5010,groceries,Beta\n"));
  EXPECT_NE(out.find("0 new, 3 updated"), std::string::npos) << out;
  std::set<std::string> names;
  for (const Poi& p : StoredPois()) names.insert(p.name);
  EXPECT_EQ(names, (std::set<std::string>{"Alpha", "Beta", "Park", "Gamma", "Cafe", "Stop"}));
}

TEST_P(ImportCli, IdenticalRowsAreOnePoiAndTheSummarySaysSo) {
  const std::string csv = Write("dup.csv",
                                "47.1,9.5,groceries,Alpha\n"
                                "47.2,9.6,parks,Park\n"
                                "47.1,9.5,groceries,Alpha\n");
  std::string out = Import(csv);
  EXPECT_NE(out.find("2 POIs (3 from nodes, 0 from ways, 1 duplicate merged), 2 new, 0 updated"),
            std::string::npos)
      << out;
  EXPECT_EQ(StoredPois().size(), 2u);
}

// The same OSM node from Overpass JSON and from GeoJSON is one POI "n42", whatever the files
// are called (ids used to carry the file name: "a.json:n42", "b.geojson:n42").
TEST_P(ImportCli, OsmIdsHoldAcrossFilesAndFormats) {
  std::string out = Import(Write("d1/a.json", R"({"elements": [{"type": "node", "id": 42,
      "lat": 47.1, "lon": 9.5, "tags": {"shop": "supermarket", "name": "Old"}}]})"));
  EXPECT_NE(out.find("1 new, 0 updated"), std::string::npos) << out;
  out = Import(Write("d2/b.geojson", R"({"type": "FeatureCollection", "features": [
      {"type": "Feature", "id": "node/42", "geometry": {"type": "Point", "coordinates": [9.5, 47.1]},
       "properties": {"shop": "supermarket", "name": "New"}}]})"));
  EXPECT_NE(out.find("0 new, 1 updated"), std::string::npos) << out;
  std::vector<Poi> pois = StoredPois();
  ASSERT_EQ(pois.size(), 1u);
  EXPECT_EQ(pois[0].source_id, "n42");
  EXPECT_EQ(pois[0].name, "New");
}

// A NUL or an invalid UTF-8 byte in a name made PostgreSQL refuse the whole file (SQLite
// stored it), and a 10 MB name went into every /api/score answer near it.
TEST_P(ImportCli, BadNamesImportAndStoredNamesAreShortValidUtf8) {
  using namespace std::string_literals;
  const std::string csv = Write("names.csv",
                                "lat,lng,category,name\n"
                                "47.1000,9.5000,groceries,\"Nul\0Byte\"\n"s
                                "47.1001,9.5001,groceries,Caf\xE9\n"
                                "47.1002,9.5002,groceries," +
                                    std::string(10 << 20, 'x') + "\n");
  std::string out = Import(csv);
  EXPECT_NE(out.find("3 new, 0 updated"), std::string::npos) << out.substr(0, 2000);
  std::vector<Poi> pois = StoredPois();
  ASSERT_EQ(pois.size(), 3u);
  std::set<std::string> names;
  for (const Poi& p : pois) {
    EXPECT_LE(p.name.size(), kMaxPoiNameBytes);
    EXPECT_TRUE(IsValidUtf8(p.name)) << p.name;
    names.insert(p.name);
  }
  EXPECT_EQ(names, (std::set<std::string>{"NulByte", "Caf\xEF\xBF\xBD",
                                          std::string(kMaxPoiNameBytes, 'x')}));

  // The point score next to them names them, briefly.
  testing::ServerProcess serve(dir_.File("serve.log"), {{"DATABASE_URL", url_}}, {"--no-worker"});
  ASSERT_TRUE(serve.running()) << serve.Log();
  testing::Reply r = serve.Get("/api/score?lat=47.1&lng=9.5");
  EXPECT_EQ(r.status, 200) << r.text.substr(0, 2000);
  EXPECT_LT(r.text.size(), 16u << 10);
  ASSERT_TRUE(r.body.is_object()) << r.text.substr(0, 2000);
  EXPECT_EQ(r.body["categories"][0]["pois"].size(), 3u) << r.text.substr(0, 2000);
  EXPECT_EQ(serve.Terminate(), 0) << serve.Log();
}

INSTANTIATE_TEST_SUITE_P(Stores, ImportCli, testing::BothBackends(), testing::BackendParamName);

}  // namespace
}  // namespace nbi
