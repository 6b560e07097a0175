// One canonical grid step (SPEC §3): steps that differ below 1e-7 degrees are one step, with
// one job (the duplicate key) and one set of cells, whatever float a client sent; and the
// migration that merges the cells such steps wrote before. Runs on SQLite and PostgreSQL,
// through the binary (schedule, process-jobs, serve's API) and the store.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "geo/geo.h"
#include "http_test_util.h"
#include "store/store.h"
#include "store_fixture.h"
#include "store_test_util.h"
#include "test_util.h"

namespace nbi {
namespace {

using testing::Backend;

// What a float32 client sends for 0.001.
const double kFloat32Step = static_cast<double>(0.001f);  // 0.0010000000474974513

// A 30 x 30 box of the 0.001 grid.
constexpr const char* kBox = "47.1,9.5,47.13,9.53";

class GridStepTest : public testing::StoreTest {
 protected:
  // Runs the binary on this test's store; returns its output, expecting exit 0.
  std::string Run(const std::string& args) {
    std::string out;
    const int rc =
        testing::RunCommand("env DATABASE_URL='" + url_ + "' NBI_TEST_PG_URL= METRICS_ADDR=off " +
                                testing::BinaryPath() + " " + args + " 2>&1",
                            &out);
    EXPECT_EQ(rc, 0) << args << "\n" << out;
    return out;
  }
  std::string Schedule(double step) {
    char s[64];
    std::snprintf(s, sizeof s, "%.17g", step);
    return Run(std::string("schedule --bbox ") + kBox + " --grid-step " + s);
  }
  // The distinct cells of the box at the canonical step, and that none is outside the grid.
  size_t CellsOnTheGrid(const char* box = kBox) {
    auto cells = store_->QueryCells(*BBox::Parse(box), 0.001, HeatModel::kGrocery, 0, 10'000);
    EXPECT_TRUE(cells.ok()) << cells.status().ToString();
    std::set<std::pair<int64_t, int64_t>> at;
    for (const HeatCell& c : *cells) {
      const int64_t i = std::llround(c.lat / 0.001), j = std::llround(c.lng / 0.001);
      // The coordinates the store writes for the canonical step (float4 on PostgreSQL).
      const double want_lat = static_cast<double>(i) * 0.001, want_lng = j * 0.001;
      if (GetParam() == Backend::kPostgres) {
        EXPECT_EQ(static_cast<float>(c.lat), static_cast<float>(want_lat)) << c.lat;
        EXPECT_EQ(static_cast<float>(c.lng), static_cast<float>(want_lng)) << c.lng;
      } else {
        EXPECT_EQ(c.lat, want_lat);
        EXPECT_EQ(c.lng, want_lng);
      }
      at.insert({i, j});
    }
    EXPECT_EQ(at.size(), cells->size()) << "two cells at one grid point";
    return cells->size();
  }
  // An INSERT of rows x cols grocery cells from grid point (row0, col0), each computed as
  // index * `step` (as a job of that step wrote them before steps were canonical).
  std::string Cells(int row0, int col0, int rows, int cols, double step, int score,
                    const char* at) const {
    std::string sql =
        "INSERT INTO heat_cells (lat, lng, score, grid_step, model, computed_at) VALUES ";
    for (int i = 0; i < rows; ++i) {
      for (int j = 0; j < cols; ++j) {
        char row[200];
        std::snprintf(row, sizeof row, "%s(%.17g, %.17g, %d, %.17g, 'grocery', '%s')",
                      i + j == 0 ? "" : ",", (row0 + i) * step, (col0 + j) * step, score, step, at);
        sql += row;
      }
    }
    return sql + (GetParam() == Backend::kPostgres ? " ON CONFLICT DO NOTHING;" : ";");
  }
  // Runs the migrations from `version` on again, as on a database made before it.
  void MigrateAgainFrom(int version) {
    const int latest = *store_->SchemaVersion();
    testing::ExecSql(url_,
                     "DELETE FROM schema_migrations WHERE version >= " + std::to_string(version));
    auto again = OpenStore(url_, &clock_);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(*(*again)->SchemaVersion(), latest);
  }
  // PostgreSQL: the float32-step cells of the box that lie off the canonical grid.
  int64_t OffTheGrid(const char* min_lat, const char* max_lat) {
    return std::stoll(testing::QuerySql(
        url_, std::string("SELECT count(*) FROM heat_cells WHERE lat BETWEEN ") + min_lat +
                  " AND " + max_lat +
                  " AND (lat <> (round(lat::float8 / 0.001) * 0.001)::real OR lng <> "
                  "(round(lng::float8 / 0.001) * 0.001)::real)"));
  }
};

// The twin-less cells (below) and the PostgreSQL migration that moves them (v17, pg_sql.h).
constexpr const char* kLoneBox = "47.2,9.6,47.21,9.61";
constexpr int kMoveMigration = 17;

TEST(CanonicalGridStep, RoundsToATenMillionthOfADegreeAndValidates) {
  EXPECT_EQ(*CanonicalGridStep(kFloat32Step), 0.001);
  EXPECT_EQ(*CanonicalGridStep(0.001 + 4e-9), 0.001);
  EXPECT_EQ(*CanonicalGridStep(0.0025), 0.0025);
  EXPECT_EQ(*CanonicalGridStep(0.00123456789), 0.0012346);
  EXPECT_FALSE(CanonicalGridStep(0.00001).ok());
  EXPECT_FALSE(CanonicalGridStep(std::nan("")).ok());
  // A region takes the canonical step: its cells do not depend on the float sent.
  auto a = GridRegion::Make(*BBox::Parse(kBox), 0.001);
  auto b = GridRegion::Make(*BBox::Parse(kBox), kFloat32Step);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->step(), 0.001);
  EXPECT_EQ(a->cell_count(), 900);
  EXPECT_EQ(b->cell_count(), 900);
  for (int64_t n : {0, 1, 451, 899}) {
    EXPECT_EQ(a->CellAt(n).lat, b->CellAt(n).lat);
    EXPECT_EQ(a->CellAt(n).lng, b->CellAt(n).lng);
  }
}

// Regression: a float32 client's 0.001 was another job (SQLite: another 900 cells; PostgreSQL:
// 87 more cells at float4 coordinates one ulp away).
TEST_P(GridStepTest, NearEqualStepsAreOneJobAndOneSetOfCells) {
  const std::string first = Schedule(0.001);
  EXPECT_NE(first.find("scheduled"), std::string::npos) << first;
  for (double step : {kFloat32Step, 0.001 + 3e-9, 0.001 - 3e-9}) {
    const std::string again = Schedule(step);
    EXPECT_NE(again.find("already"), std::string::npos) << again;
  }
  auto jobs = store_->ListJobs({});
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->size(), 1u);
  Run("process-jobs");
  // Once more, after the first completed: a new job that rewrites the same cells.
  Schedule(kFloat32Step);
  Run("process-jobs");
  EXPECT_EQ(CellsOnTheGrid(), 900u);
  EXPECT_EQ(*store_->CountCells(std::nullopt), 900);
  EXPECT_EQ(*store_->CountCells(0.001), 900);
}

// The same through the API: a float32 client's 0.001 (as JSON text) and 0.001 are one job
// (201, then 200 with its id) and, once computed, one set of cells.
TEST_P(GridStepTest, TheApiTakesNearEqualStepsAsOneJob) {
  testing::ServerProcess serve(dir_.File("serve.log"),
                               {{"DATABASE_URL", url_}, {"METRICS_ADDR", "off"}}, {"--no-worker"});
  ASSERT_TRUE(serve.running()) << serve.Log();
  const std::string bounds =
      R"({"bounds": {"minLat": 47.1, "minLng": 9.5, "maxLat": 47.13, "maxLng": 9.53}, )";
  testing::Reply a = serve.Post("/api/heatmap/schedule", bounds + R"("gridStep": 0.00100000004})");
  ASSERT_EQ(a.status, 201) << a.text;
  testing::Reply b = serve.Post("/api/heatmap/schedule", bounds + R"("gridStep": 0.001})");
  ASSERT_EQ(b.status, 200) << b.text;
  EXPECT_EQ(b.body["isNew"], false);
  EXPECT_EQ(b.body["jobId"], a.body["jobId"]);
  Run("process-jobs");
  EXPECT_EQ(CellsOnTheGrid(), 900u);
  EXPECT_EQ(*store_->CountCells(std::nullopt), 900);
  EXPECT_EQ(serve.Terminate(), 0) << serve.Log();
}

// The migration merges cells written before steps were canonical: the near-equal step's cells
// (computed as row * 0.0010000000474974513) beside the canonical ones. The newer of each pair
// stays, at the canonical coordinates. Cells of a near-equal step with no canonical twin move
// onto the grid too (regression, PostgreSQL: they stayed off it), the newest where several
// land on one point; a cell a fraction of a step off the grid (the original app's grid of a
// box not on the global one, SPEC §2a) stays as it is.
TEST_P(GridStepTest, TheMigrationMergesCellsOfNearEqualSteps) {
  const bool pg = GetParam() == Backend::kPostgres;
  // The canonical cells are older (score 10); the near-equal ones newer (score 20).
  std::string sql = Cells(47100, 9500, 30, 30, 0.001, 10, "2026-01-01 00:00:00") +
                    Cells(47100, 9500, 30, 30, kFloat32Step, 20, "2026-02-01 00:00:00");
  // No twin: 10 x 10 float32-step cells (score 30), half of them also computed at another
  // near-equal step later (score 40; inserted first, so that no row order picks it).
  sql += Cells(47200, 9600, 5, 10, 0.001 + 2e-9, 40, "2026-04-01 00:00:00") +
         Cells(47200, 9600, 10, 10, kFloat32Step, 30, "2026-03-01 00:00:00");
  sql +=
      "INSERT INTO heat_cells (lat, lng, score, grid_step, model, computed_at) VALUES "
      "(47.2504, 9.6003, 50, 0.001, 'grocery', '2026-01-01 00:00:00');";
  testing::ExecSql(url_, sql);
  auto before = store_->CountCells(std::nullopt);
  ASSERT_TRUE(before.ok());
  // SQLite keeps two steps; PostgreSQL one float4 step with some cells an ulp apart.
  if (pg) {
    EXPECT_GT(*before, 900 + 150 + 1) << "no twin cells: the test would prove nothing";
    EXPECT_GT(OffTheGrid("47.19", "47.22"), 0) << "no cell off the grid: it would prove nothing";
  } else {
    EXPECT_EQ(*before, 1800 + 150 + 1);
  }
  MigrateAgainFrom(12);  // the step (v12) and the later ones (PostgreSQL: v17 too)
  EXPECT_EQ(CellsOnTheGrid(), 900u);
  EXPECT_EQ(CellsOnTheGrid(kLoneBox), 100u);
  EXPECT_EQ(*store_->CountCells(std::nullopt), 900 + 100 + 1);
  auto cells = store_->QueryCells(*BBox::Parse(kBox), 0.001, HeatModel::kGrocery, 0, 10'000);
  ASSERT_TRUE(cells.ok());
  int newer = 0;
  for (const HeatCell& c : *cells) newer += c.score == 20;
  if (pg) {
    // Where the two coincided in float4, the insert kept the older; every twin kept the newer.
    EXPECT_EQ(newer, *before - 151 - 900);
  } else {
    EXPECT_EQ(newer, 900);
  }
  auto lone = store_->QueryCells(*BBox::Parse(kLoneBox), 0.001, HeatModel::kGrocery, 0, 10'000);
  ASSERT_TRUE(lone.ok());
  for (const HeatCell& c : *lone) {
    EXPECT_EQ(c.score, std::llround(c.lat / 0.001) < 47205 ? 40 : 30) << c.lat << "," << c.lng;
  }
  auto off =
      store_->QueryCells(*BBox::Parse("47.25,9.6,47.251,9.601"), 0.001, HeatModel::kGrocery, 0, 10);
  ASSERT_TRUE(off.ok());
  ASSERT_EQ(off->size(), 1u);
  EXPECT_EQ(static_cast<float>(off->front().lat), 47.2504f);
  EXPECT_EQ(static_cast<float>(off->front().lng), 9.6003f);
}

// PostgreSQL: a database that ran v12 before v17 existed gets the twin-less cells moved by v17.
TEST_P(GridStepTest, ADatabaseThatRanTheFirstStepGetsTheRestToo) {
  if (GetParam() != Backend::kPostgres) GTEST_SKIP() << "SQLite's v12 moves every such cell";
  testing::ExecSql(url_, Cells(47200, 9600, 10, 10, kFloat32Step, 30, "2026-03-01 00:00:00"));
  ASSERT_GT(OffTheGrid("47.19", "47.22"), 0) << "no cell off the grid: it would prove nothing";
  MigrateAgainFrom(kMoveMigration);
  EXPECT_EQ(OffTheGrid("47.19", "47.22"), 0);
  EXPECT_EQ(CellsOnTheGrid(kLoneBox), 100u);
  EXPECT_EQ(*store_->CountCells(std::nullopt), 100);
}

INSTANTIATE_TEST_SUITE_P(Stores, GridStepTest, testing::BothBackends(), testing::BackendParamName);

}  // namespace
}  // namespace nbi
