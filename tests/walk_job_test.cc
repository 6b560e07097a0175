// Walking jobs on both stores (SPEC §4a): a stored street network with a river, jobs of the
// walking models through the worker as one part and as many, through kill -9 of worker
// processes, a job over an area without a network, and the stored point score against the
// cell at the same spot.
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "jobs/model_index.h"
#include "store/testing.h"
#include "walk/walk_index.h"
#include "walk_test_util.h"
#include "worker/worker.h"
#include "worker_fixture.h"

namespace nbi {
namespace {

using testing::StreetGrid;

// The street grid of the test town: 200 x 200 nodes 0.0005 deg apart (11 x 7.6 km) around
// the small city's centre, a river between rows 44 and 45 with bridges at columns 10 and 120.
// It reaches well beyond the windows that jobs and point scores load (twice the radius), so
// the tests see those windows give the result of the whole network.
StreetGrid TownGrid() {
  StreetGrid g(47.06, 9.47, 0.0005, 200, 200);
  g.Connect([](int r, int c, int r2, int c2) {
    if (r == 44 && r2 == 45) return c == c2 && (c == 10 || c == 120);
    return true;
  });
  return g;
}

class WalkJobTest : public WorkerTest {
 protected:
  void SetUp() override {
    WorkerTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    net_ = TownGrid().Build();
    auto stored = store_->UpsertPois({}, net_);
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  }

  // A job over the middle of the town (the river crosses it).
  static HeatmapJobSpec TownJob(HeatModel model, double step) {
    HeatmapJobSpec s = JobOver(47.07, 9.49, 0.025, step);
    s.model = model;
    return s;
  }

  // The cells of `spec` computed here over the whole stored network and every POI.
  std::vector<uint8_t> ExpectedWalk(const HeatmapJobSpec& spec) {
    auto g = GridRegion::Make(spec.bounds, spec.grid_step);
    auto pois = store_->LoadPoiPoints(spec.bounds.Expanded(3 * MaxRadiusMeters()));
    EXPECT_TRUE(pois.ok());
    WalkIndex index(net_, *pois, WalkIndex::ForModel(spec.model));
    std::vector<uint8_t> out(size_t(g->cell_count()));
    ScoreCellsWalk(index, *g, 0, g->cell_count(), spec.model, out.data());
    return out;
  }

  // The stored cells of `spec`, in cell order (-1 where none is stored).
  std::vector<int> Stored(const HeatmapJobSpec& spec) {
    auto g = GridRegion::Make(spec.bounds, spec.grid_step);
    std::vector<int> out(size_t(g->cell_count()), -1);
    auto cells = store_->QueryCells(spec.bounds, spec.grid_step, spec.model, 0, 100'000'000);
    EXPECT_TRUE(cells.ok());
    for (const HeatCell& c : *cells) {
      const int64_t i = NearestGridIndex(c.lat, spec.grid_step) - g->first_row();
      const int64_t j = NearestGridIndex(c.lng, spec.grid_step) - g->first_col();
      if (i < 0 || i >= g->rows() || j < 0 || j >= g->cols()) continue;
      out[size_t(i * g->cols() + j)] = c.score;
    }
    return out;
  }

  void ExpectStoredEqualsExpected(const HeatmapJobSpec& spec) {
    const std::vector<uint8_t> want = ExpectedWalk(spec);
    const std::vector<int> got = Stored(spec);
    int64_t mismatches = 0, missing = 0, nonzero = 0;
    for (size_t n = 0; n < want.size(); ++n) {
      missing += got[n] < 0;
      mismatches += got[n] >= 0 && got[n] != want[n];
      nonzero += want[n] > 0;
    }
    EXPECT_EQ(missing, 0);
    EXPECT_EQ(mismatches, 0);
    EXPECT_GT(nonzero, int64_t(want.size()) / 10) << "the town must score";
  }

  Job RunToEnd(const HeatmapJobSpec& spec, int slots) {
    auto e = store_->EnqueueHeatmap(spec);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    WorkerOptions o;
    o.max_concurrent_jobs = slots;
    o.exit_when_idle = true;
    o.log_polls = false;
    Worker w(store_.get(), testing::TestEnv(), o);
    w.Run();
    return Get(e->job.id);
  }

  WalkNetwork net_;
};

TEST_P(WalkJobTest, OnePartOrManyGiveTheSameCells) {
  HeatmapJobSpec one = TownJob(HeatModel::kGroceryWalk, 0.0002);  // 125 x 125 cells
  Job j = RunToEnd(one, 1);
  ASSERT_EQ(j.status, JobStatus::kCompleted) << j.error.value_or("");
  EXPECT_EQ(j.part_count, 1);
  ExpectStoredEqualsExpected(one);
  const std::vector<int> single = Stored(one);

  ASSERT_TRUE(TruncateCells(store_.get()).ok());
  HeatmapJobSpec many = one;
  many.part_cells = 1000;  // 16 parts, three at a time
  j = RunToEnd(many, 3);
  ASSERT_EQ(j.status, JobStatus::kCompleted) << j.error.value_or("");
  EXPECT_EQ(j.part_count, 16);
  EXPECT_EQ(Stored(many), single);
}

TEST_P(WalkJobTest, BlendWalkJobEqualsTheInProcessScores) {
  const HeatmapJobSpec spec = TownJob(HeatModel::kBlendWalk, 0.0005);
  Job j = RunToEnd(spec, 2);
  ASSERT_EQ(j.status, JobStatus::kCompleted) << j.error.value_or("");
  ExpectStoredEqualsExpected(spec);
}

// Walking and straight-line cells of one place are stored side by side, never over each other.
TEST_P(WalkJobTest, WalkingCellsSitBesideStraightLineCells) {
  const HeatmapJobSpec walk = TownJob(HeatModel::kGroceryWalk, 0.0005);
  HeatmapJobSpec straight = walk;
  straight.model = HeatModel::kGrocery;
  ASSERT_EQ(RunToEnd(walk, 1).status, JobStatus::kCompleted);
  ASSERT_EQ(RunToEnd(straight, 1).status, JobStatus::kCompleted);
  ExpectStoredEqualsExpected(walk);
  ExpectCellsEqual(straight);
  const std::vector<int> w = Stored(walk), s = Stored(straight);
  int lower = 0;
  for (size_t n = 0; n < w.size(); ++n) {
    ASSERT_LE(w[n], s[n]) << "walking is never shorter than a straight line";
    lower += w[n] < s[n];
  }
  EXPECT_GT(lower, 0);
}

TEST_P(WalkJobTest, AJobWithoutANetworkFailsNamingIt) {
  // North of the town's streets by more than twice the radius.
  HeatmapJobSpec spec = JobOver(47.18, 9.50, 0.01, 0.0005);
  spec.model = HeatModel::kGroceryWalk;
  Job j = RunToEnd(spec, 1);
  EXPECT_EQ(j.status, JobStatus::kFailed);
  ASSERT_TRUE(j.error.has_value());
  EXPECT_NE(j.error->find("no walk network"), std::string::npos) << *j.error;
  EXPECT_NE(j.error->find("OSM extract"), std::string::npos) << *j.error;
  EXPECT_EQ(j.attempts, 1) << "a missing network is not retried";
  auto cells = store_->CountCells(spec.grid_step);
  ASSERT_TRUE(cells.ok());
  EXPECT_EQ(*cells, 0) << "nothing half-written";
  // The straight-line model of the same area works.
  spec.model = HeatModel::kGrocery;
  EXPECT_EQ(RunToEnd(spec, 1).status, JobStatus::kCompleted);
}

// The point score (GET /api/score and `score --json`) equals the cell at the same spot.
TEST_P(WalkJobTest, ThePointScoreEqualsTheStoredCell) {
  const HeatmapJobSpec spec = TownJob(HeatModel::kBlendWalk, 0.0005);
  ASSERT_EQ(RunToEnd(spec, 1).status, JobStatus::kCompleted);
  auto g = GridRegion::Make(spec.bounds, spec.grid_step);
  const std::vector<int> stored = Stored(spec);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int64_t> pick(0, g->cell_count() - 1);
  int nonzero = 0;
  for (int k = 0; k < 60; ++k) {
    const int64_t n = pick(rng);
    const LatLng at = g->CellAt(n);
    for (HeatModel m : {HeatModel::kBlendWalk, HeatModel::kGroceryWalk}) {
      auto body = StoredPointScore(store_.get(), at, m);
      ASSERT_TRUE(body.ok()) << body.status().ToString();
      EXPECT_EQ((*body)["distance"], "walking");
      if (m == HeatModel::kBlendWalk) {
        EXPECT_EQ((*body)["cellScore"].get<int>(), stored[size_t(n)]) << at.lat << "," << at.lng;
        nonzero += stored[size_t(n)] > 0;
      }
      for (const auto& c : (*body)["categories"]) {
        for (const auto& p : c["pois"]) {
          // A walk is never shorter than the straight line to the place.
          EXPECT_GE(p["distance"].get<double>() + 0.05,
                    HaversineMeters(at, {p["lat"].get<double>(), p["lng"].get<double>()}));
        }
      }
    }
  }
  EXPECT_GT(nonzero, 10);
}

// kill -9 of worker processes in the middle of a walking job, then `process-jobs`: the cells
// are those of an uninterrupted run.
TEST_P(WalkJobTest, KillNineMidJobThenProcessJobsGivesTheSameCells) {
  HeatmapJobSpec spec = JobOver(47.065, 9.48, 0.035, 0.0001);  // 350 x 350 cells
  spec.model = HeatModel::kGroceryWalk;
  spec.part_cells = 20'000;
  spec.max_attempts = 1000;
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  std::vector<std::unique_ptr<testing::Child>> workers;
  auto start = [&](int n) {
    return std::make_unique<testing::Child>(
        std::vector<std::string>{testing::BinaryPath(), "worker"},
        Env({"WORKER_POLL_INTERVAL=200", "METRICS_ADDR=off", "WORKER_CHUNK_SIZE=100"}),
        dir_.File("worker" + std::to_string(n) + ".log"));
  };
  for (int k = 0; k < 2; ++k) workers.push_back(start(k));
  int kills_mid_job = 0;
  int64_t done_at_last_kill = 0;
  for (int round = 0; round < 4; ++round) {
    // Each kill lands after the job made progress since the last one.
    Job j = WaitForJob(
        e->job.id,
        [&](const Job& job) {
          return job.status == JobStatus::kCompleted ||
                 (job.status == JobStatus::kRunning &&
                  job.last_processed_index() > done_at_last_kill + 2000);
        },
        30'000);
    if (j.status != JobStatus::kRunning) break;
    done_at_last_kill = j.last_processed_index();
    ++kills_mid_job;
    workers[size_t(round % 2)]->Signal(SIGKILL);
    workers[size_t(round % 2)]->Wait(10'000);
    workers[size_t(round % 2)] = start(round + 2);
  }
  for (auto& w : workers) w->Signal(SIGKILL);
  for (auto& w : workers) w->Wait(10'000);
  EXPECT_GE(kills_mid_job, 2) << "the kills did not hit the running job";
  std::string cmd = "env", out;
  for (const std::string& v : Env({"METRICS_ADDR=off"})) cmd += " '" + v + "'";
  ASSERT_EQ(testing::RunCommand(cmd + " " + testing::BinaryPath() + " process-jobs", &out), 0)
      << out;
  ASSERT_EQ(Get(e->job.id).status, JobStatus::kCompleted) << out;
  ExpectStoredEqualsExpected(spec);
}

INSTANTIATE_TEST_SUITE_P(Stores, WalkJobTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace nbi
