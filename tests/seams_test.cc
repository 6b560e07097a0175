// One concept, one seam (issue 24), end to end on each backend through the real binary: the CLI
// (`schedule`, `score`, `heatmap`, `process-jobs`) and the API of `nearbyindex serve` refuse
// the same requests with the same words, because the checks live once below them:
//   - a priority outside -1000..1000 and an unknown model name (JobService::Resolve and
//     ParseModelName in score/model.h);
//   - a walking model where no walk network is stored or given (NoWalkNetwork in
//     jobs/model_index.h), from the stored point score, a POI file and a job;
// and the point score of `score --json` and GET /api/score and the cells a job writes are one
// computation (LoadModelIndex), for the straight-line and the walking models.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "http_test_util.h"
#include "jobs/model_index.h"
#include "store_test_util.h"
#include "test_util.h"

namespace nbi {
namespace {

using json = nlohmann::json;
using testing::Backend;
using testing::HttpTest;
using testing::Reply;
using testing::ServerProcess;
using testing::Shortest;

constexpr char kUnknownModel[] =
    "model 'walking' is unknown: use grocery, blend, grocery-walk or blend-walk";
constexpr char kBox[] = "47.09,9.49,47.11,9.51";

class SeamsTest : public HttpTest {
 protected:
  // `nearbyindex ARGS` on the test's store: its exit code, stdout and stderr in *out.
  int Run(const std::string& args, std::string* out) {
    return testing::RunCommand(
        "METRICS_ADDR=off DATABASE_URL='" + url_ + "' " + testing::BinaryPath() + " " + args, out);
  }
  std::string RunOk(const std::string& args) {
    std::string out;
    EXPECT_EQ(Run(args, &out), 0) << args << "\n" << out;
    return out;
  }
  // `schedule ARGS`: the id of the job it printed.
  int64_t Schedule(const std::string& args) {
    const std::string out = RunOk("schedule " + args);
    const size_t at = out.rfind("{\"jobId\"");
    if (at == std::string::npos) {
      ADD_FAILURE() << out;
      return 0;
    }
    return json::parse(out.substr(at, out.find('\n', at) - at))["jobId"].get<int64_t>();
  }
  // The message of a refusal printed by the CLI ("error: <message>"), exit code 2.
  std::string CliError(const std::string& args) {
    std::string out;
    EXPECT_EQ(Run(args, &out), 2) << args << "\n" << out;
    const size_t at = out.find("error: ");
    if (at == std::string::npos) return "(no error line) " + out;
    return out.substr(at + 7, out.find('\n', at) - at - 7);
  }
  // The message of a 400 answer.
  static std::string ApiError(const Reply& r) {
    EXPECT_EQ(r.status, 400) << r.text;
    return r.body.contains("error") ? r.body["error"].value("message", "") : r.text;
  }
  // A stored cell of `model` at step 0.0025 nearest to `at` (-1: none within half a step).
  static int CellAt(const ServerProcess& s, LatLng at, const std::string& model) {
    Reply r = s.Get(fmt::format("/api/heatmap?minLat={}&minLng={}&maxLat={}&maxLng={}&model={}",
                                Shortest(at.lat - 0.001), Shortest(at.lng - 0.001),
                                Shortest(at.lat + 0.001), Shortest(at.lng + 0.001), model));
    EXPECT_EQ(r.status, 200) << r.text;
    for (const json& c : r.body["cells"]) {
      if (std::abs(c["lat"].get<double>() - at.lat) < 0.00125 &&
          std::abs(c["lng"].get<double>() - at.lng) < 0.00125) {
        return c["score"].get<int>();
      }
    }
    return -1;
  }
  // At each of `points`: `score --json` equals GET /api/score (but for the time and the
  // coverage fields only the API's read adds), and its cellScore the stored cell there.
  // Returns how many cell scores were above 0.
  int ExpectOnePointScore(const ServerProcess& s, const std::string& model,
                          const std::vector<LatLng>& points) {
    auto comparable = [](json score) {
      for (const char* k : {"computedAt", "hasHeatmapCoverage", "coverageJobId"}) score.erase(k);
      return score;
    };
    int nonzero = 0;
    for (LatLng at : points) {
      SCOPED_TRACE(fmt::format("{} at {},{}", model, at.lat, at.lng));
      const std::string where = Shortest(at.lat) + " " + Shortest(at.lng);
      const json cli = json::parse(RunOk("score " + where + " --json --model " + model));
      EXPECT_EQ(cli["distance"], model.ends_with("-walk") ? "walking" : "straight");
      Reply api = s.Get("/api/score?lat=" + Shortest(at.lat) + "&lng=" + Shortest(at.lng) +
                        "&model=" + model);
      EXPECT_EQ(api.status, 200) << api.text;
      EXPECT_EQ(comparable(cli), comparable(api.body));
      EXPECT_EQ(cli["cellScore"].get<int>(), CellAt(s, at, model));
      nonzero += cli["cellScore"].get<int>() > 0;
    }
    return nonzero;
  }
};

// From the issue: `schedule --priority 5000` was accepted (only the API checked the range).
TEST_P(SeamsTest, APriorityOutsideTheRangeIsRefusedByTheCliAsByTheApi) {
  const std::string want = "priority 5000 is outside -1000..1000";
  EXPECT_EQ(CliError(fmt::format("schedule --bbox {} --priority 5000", kBox)), want);
  EXPECT_EQ(CliError(fmt::format("schedule --bbox {} --priority -1001", kBox)),
            "priority -1001 is outside -1000..1000");
  EXPECT_EQ(CliError(fmt::format("schedule --bbox {} --priority 5000 --reset", kBox)), want);
  ServerProcess& s = Start();
  Reply r = s.Post("/api/heatmap/schedule",
                   R"({"bounds": {"minLat": 47.09, "minLng": 9.49, "maxLat": 47.11,
                       "maxLng": 9.51}, "priority": 5000})");
  EXPECT_EQ(ApiError(r), want);
  EXPECT_EQ(s.Get("/api/jobs").body["jobs"].size(), 0u) << "nothing was scheduled";
  // The edges of the range are accepted by both.
  Schedule(fmt::format("--bbox {} --priority 1000", kBox));
  r = s.Post("/api/heatmap/schedule", R"({"citySlug": "monaco", "priority": -1000})");
  EXPECT_TRUE(r.status == 200 || r.status == 201) << r.text;
}

// From the issue: each command and route parsed the model name itself, with its own words.
TEST_P(SeamsTest, ABadModelNameReadsTheSameFromTheCliAndTheApi) {
  EXPECT_EQ(CliError(fmt::format("schedule --bbox {} --model walking", kBox)), kUnknownModel);
  // The commands name their option.
  const std::string option = std::string("--") + kUnknownModel;
  EXPECT_EQ(CliError("score 47.1 9.5 --model walking"), option);
  EXPECT_EQ(CliError(fmt::format("export --bbox {} --model walking --out {}", kBox,
                                 dir_.File("out.csv"))),
            option);
  const std::string csv = dir_.File("pois.csv");
  testing::WriteFile(csv, "lat,lng,category,name\n47.1,9.5,groceries,Shop\n");
  EXPECT_EQ(CliError(fmt::format("heatmap --osm {} --bbox {} --model walking --out {}", csv, kBox,
                                 dir_.File("h.csv"))),
            option);
  EXPECT_EQ(CliError(fmt::format("score --osm {} 47.1 9.5 --model walking", csv)), option);
  ServerProcess& s = Start();
  EXPECT_EQ(ApiError(s.Get("/api/score?lat=47.1&lng=9.5&model=walking")), kUnknownModel);
  EXPECT_EQ(ApiError(s.Get("/api/heatmap?minLat=47.09&minLng=9.49&maxLat=47.11&maxLng=9.51"
                           "&model=walking")),
            kUnknownModel);
  EXPECT_EQ(
      ApiError(s.Post("/api/heatmap/schedule", R"({"citySlug": "monaco", "model": "walking"})")),
      kUnknownModel);
  EXPECT_EQ(ApiError(s.Get("/tiles/walking/0.0025/10/536/358.png")), kUnknownModel);
}

// From the issue: the job, the stored point score and the file score each had their own
// "no walk network" message. (The store of HttpTest holds POIs from CSV: no network.)
TEST_P(SeamsTest, NoWalkNetworkReadsTheSameFromTheCliTheApiAndAJob) {
  const std::string point = "no walk network at 47.100000,9.500000: ";
  const std::string rest =
      "model grocery-walk measures distance along streets; it needs an OSM extract (.osm.pbf, "
      ".osm, .osm.bz2 or .osm.gz) covering the area (GeoJSON and CSV files carry none)";
  EXPECT_EQ(CliError("score 47.1 9.5 --model grocery-walk"), point + rest);
  const std::string csv = dir_.File("pois.csv");
  testing::WriteFile(csv, "lat,lng,category,name\n47.1,9.5,groceries,Shop\n");
  EXPECT_EQ(CliError(fmt::format("score --osm {} 47.1 9.5 --model grocery-walk", csv)),
            "no walk network in " + csv + ": " + rest);
  EXPECT_EQ(CliError(fmt::format("heatmap --osm {} --bbox {} --model grocery-walk --out {}", csv,
                                 kBox, dir_.File("h.csv"))),
            "no walk network in " + csv + ": " + rest);
  const int64_t id = Schedule(fmt::format("--bbox {} --model grocery-walk", kBox));
  RunOk("process-jobs");
  ServerProcess& s = Start();
  const json job = s.Get("/api/jobs/" + std::to_string(id)).body;
  EXPECT_EQ(job["status"], "failed") << job.dump();
  EXPECT_EQ(job["error"], fmt::format("no walk network in {}: {}", kBox, rest)) << job.dump();
  EXPECT_EQ(ApiError(s.Get("/api/score?lat=47.1&lng=9.5&model=grocery-walk")), point + rest);
}

// The point score of `score --json` equals GET /api/score's, and its cellScore the cell that a
// job wrote at the same grid point, for the straight-line models over the CSV city.
TEST_P(SeamsTest, OnePointScoreFromTheCliTheApiAndAJobsCells) {
  const std::vector<LatLng> points = {{47.1, 9.5}, {47.1025, 9.4975}, {47.0975, 9.505}};
  for (const char* model : {"grocery", "blend"}) {
    Schedule(fmt::format("--bbox {} --model {}", kBox, model));
  }
  RunOk("process-jobs");
  ServerProcess& s = Start();
  int nonzero = 0;
  for (const char* model : {"grocery", "blend"}) nonzero += ExpectOnePointScore(s, model, points);
  EXPECT_GT(nonzero, 2);
}

// A street grid with shops and restaurants as an OSM extract (47.09..47.11, 9.49..9.51).
std::string StreetGridExtract() {
  constexpr int n = 41;  // 41 x 41 nodes 0.0005 deg apart: 47.09..47.11, 9.49..9.51
  auto id = [](int r, int c) { return 1000 + r * n + c; };
  std::string xml = "<?xml version=\"1.0\"?>\n<osm version=\"0.6\">\n";
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) {
      xml += fmt::format("  <node id=\"{}\" lat=\"{:.7f}\" lon=\"{:.7f}\"/>\n", id(r, c),
                         47.09 + 0.0005 * r, 9.49 + 0.0005 * c);
    }
  }
  auto way = [&](int64_t wid, const std::vector<int>& refs) {
    xml += fmt::format("  <way id=\"{}\">\n", wid);
    for (int ref : refs) xml += fmt::format("    <nd ref=\"{}\"/>\n", ref);
    xml += "    <tag k=\"highway\" v=\"residential\"/>\n  </way>\n";
  };
  for (int r = 0; r < n; ++r) {
    std::vector<int> row, col;
    for (int c = 0; c < n; ++c) {
      row.push_back(id(r, c));
      col.push_back(id(c, r));
    }
    way(1 + r, row);
    way(100 + r, col);
  }
  const struct {
    double lat, lng;
    const char *k, *v;
  } shops[] = {
      {47.1003, 9.5012, "shop", "supermarket"},   {47.0961, 9.4987, "shop", "supermarket"},
      {47.1042, 9.5055, "shop", "convenience"},   {47.1008, 9.4969, "amenity", "restaurant"},
      {47.0995, 9.5031, "amenity", "restaurant"}, {47.1021, 9.5002, "amenity", "cafe"}};
  int sid = 1;
  for (const auto& p : shops) {
    xml += fmt::format(
        "  <node id=\"{}\" lat=\"{:.7f}\" lon=\"{:.7f}\">\n    <tag k=\"{}\" v=\"{}\"/>\n"
        "    <tag k=\"name\" v=\"Place {}\"/>\n  </node>\n",
        sid, p.lat, p.lng, p.k, p.v, sid);
    ++sid;
  }
  return xml + "</osm>\n";
}

// Imported over the CSV city: the walking point score of `score --json` equals GET /api/score's,
// and its cellScore the cell that a walking job wrote at the same grid point.
TEST_P(SeamsTest, OneWalkingPointScoreFromTheCliTheApiAndAJobsCells) {
  const std::string osm = dir_.File("town.osm");
  testing::WriteFile(osm, StreetGridExtract());
  RunOk("import " + osm);
  const std::vector<LatLng> points = {{47.1, 9.5}, {47.0975, 9.5025}, {47.1025, 9.4975}};
  for (const char* model : {"grocery-walk", "blend-walk"}) {
    Schedule(fmt::format("--bbox 47.095,9.495,47.105,9.505 --model {}", model));
  }
  RunOk("process-jobs");
  ServerProcess& s = Start();
  int nonzero = 0;
  for (const char* model : {"grocery-walk", "blend-walk"}) {
    nonzero += ExpectOnePointScore(s, model, points);
  }
  EXPECT_GT(nonzero, 2);
}

// The one margin rule of LoadModelIndex: the POIs within the largest radius of the categories
// scored plus 100 m, a walking model's network within twice that radius plus 100 m.
TEST(ModelIndexMargins, OneRuleForCellsAndPoints) {
  const double all = MaxRadiusMeters();  // a point score scores every category
  for (HeatModel m : kAllHeatModels) {
    const LoadMargins point = MarginsFor(m, true);
    EXPECT_EQ(point.pois_m, all + kLoadMarginM);
    EXPECT_EQ(point.network_m, IsWalkModel(m) ? 2 * all + kLoadMarginM : 0);
  }
  // Cells: groceries (800 m), or groceries, restaurants and parks (800, 600, 800 m).
  EXPECT_EQ(MarginsFor(HeatModel::kGrocery, false).pois_m, 900);
  EXPECT_EQ(MarginsFor(HeatModel::kGrocery, false).network_m, 0);
  EXPECT_EQ(MarginsFor(HeatModel::kBlendWalk, false).pois_m, 900);
  EXPECT_EQ(MarginsFor(HeatModel::kBlendWalk, false).network_m, 1700);
}

INSTANTIATE_TEST_SUITE_P(Stores, SeamsTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace nbi
