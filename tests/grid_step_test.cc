// One canonical grid step (SPEC §3): steps that differ below 1e-7 degrees are one step, with
// one job (the duplicate key) and one set of cells, whatever float a client sent; and the
// migration that merges the cells such steps wrote before. Runs on SQLite and PostgreSQL,
// through the binary (schedule, process-jobs) and the store.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "geo/geo.h"
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
  size_t CellsOnTheGrid() {
    auto cells = store_->QueryCells(*BBox::Parse(kBox), 0.001, HeatModel::kGrocery, 0, 10'000);
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
};

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

// The migration merges cells written before steps were canonical: the near-equal step's cells
// (computed as row * 0.0010000000474974513) beside the canonical ones. The newer of each pair
// stays, at the canonical coordinates.
TEST_P(GridStepTest, TheMigrationMergesCellsOfNearEqualSteps) {
  const bool pg = GetParam() == Backend::kPostgres;
  std::string sql;
  for (int k = 0; k < 2; ++k) {
    const double step = k == 0 ? 0.001 : kFloat32Step;
    // The canonical cells are older (score 10); the near-equal ones newer (score 20).
    const char* at = k == 0 ? "2026-01-01 00:00:00" : "2026-02-01 00:00:00";
    sql += "INSERT INTO heat_cells (lat, lng, score, grid_step, model, computed_at) VALUES ";
    for (int i = 0; i < 30; ++i) {
      for (int j = 0; j < 30; ++j) {
        char row[200];
        std::snprintf(row, sizeof row, "%s(%.17g, %.17g, %d, %.17g, 'grocery', '%s')",
                      i + j == 0 ? "" : ",", (47100 + i) * step, (9500 + j) * step, 10 * (k + 1),
                      step, at);
        sql += row;
      }
    }
    sql += pg ? " ON CONFLICT DO NOTHING;" : ";";
  }
  testing::ExecSql(url_, sql);
  auto before = store_->CountCells(std::nullopt);
  ASSERT_TRUE(before.ok());
  // SQLite keeps two steps; PostgreSQL one float4 step with some cells an ulp apart.
  if (pg) {
    EXPECT_GT(*before, 900) << "no twin cells: the test would prove nothing";
  } else {
    EXPECT_EQ(*before, 1800);
  }
  // Run the migration (v12) and the later ones again, as on a database made before it.
  const int version = *store_->SchemaVersion();
  testing::ExecSql(url_, "DELETE FROM schema_migrations WHERE version >= 12");
  auto again = OpenStore(url_, &clock_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*(*again)->SchemaVersion(), version);
  EXPECT_EQ(CellsOnTheGrid(), 900u);
  EXPECT_EQ(*store_->CountCells(std::nullopt), 900);
  auto cells = store_->QueryCells(*BBox::Parse(kBox), 0.001, HeatModel::kGrocery, 0, 10'000);
  ASSERT_TRUE(cells.ok());
  int newer = 0;
  for (const HeatCell& c : *cells) newer += c.score == 20;
  if (pg) {
    // Where the two coincided in float4, the insert kept the older; every twin kept the newer.
    EXPECT_EQ(newer, *before - 900);
  } else {
    EXPECT_EQ(newer, 900);
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, GridStepTest, testing::BothBackends(), testing::BackendParamName);

}  // namespace
}  // namespace nbi
