// The fixture of the refresh tests (jobs/refresh.h) on both stores: a fresh store, imports
// of generated towns, the worker, and the cells compared with a computation from scratch.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "http_test_util.h"
#include "jobs/refresh.h"
#include "osm_town.h"
#include "poi/import.h"
#include "score/scorer.h"
#include "score/spatial_index.h"
#include "store_test_util.h"
#include "tiles/streets.h"
#include "walk/walk_index.h"
#include "worker/worker.h"

namespace nbi::refresh_testing {

using testing::Backend;
using testing::OsmTown;

inline constexpr double kStep = 0.002;
inline constexpr HeatModel kModels[] = {HeatModel::kGrocery, HeatModel::kBlend,
                                        HeatModel::kGroceryWalk};

// The area computed before the change: most of the town (the disks of changes near its edge
// reach past it, so the rule must cut them to the stored cells).
inline HeatmapJobSpec AreaJob(HeatModel m) {
  HeatmapJobSpec s;
  s.bounds = {47.104, 9.504, 47.144, 9.544};
  s.grid_step = kStep;
  s.model = m;
  return s;
}

class RefreshFixture : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    NBI_REQUIRE_BACKEND(GetParam());
    auto s = testing::OpenFreshStore(GetParam(), dir_, &clock_, &url_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  ImportRun Import(const OsmTown& town, const std::string& name, bool replace) {
    const std::string path = dir_.File(name);
    town.WritePbf(path);
    return ImportPath(path, replace);
  }
  ImportRun ImportPath(const std::string& path, bool replace) {
    ImportOptions o;
    o.replace = replace;
    auto r = RunImport(store_.get(), path, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : ImportRun{};
  }

  // Runs every runnable job to its end; returns the jobs that ran.
  void RunJobs() {
    WorkerOptions o;
    o.max_concurrent_jobs = 2;
    o.exit_when_idle = true;
    o.log_polls = false;
    Worker w(store_.get(), testing::TestEnv(), o);
    w.Run();
  }

  void ComputeArea() {
    for (HeatModel m : kModels) ASSERT_TRUE(store_->EnqueueHeatmap(AreaJob(m)).ok());
    RunJobs();
  }

  // The street tiles' rows (tiles/streets.h) around `at`: the segments with an end there.
  int StreetSegmentsAt(LatLng at) {
    const int64_t cell = tiles::StreetCellOf(at.lat, at.lng);
    const int64_t row = cell / tiles::kStreetCellCols, col = cell % tiles::kStreetCellCols;
    std::vector<tiles::StreetSegment> segs;
    EXPECT_TRUE(store_->LoadStreetSegments({row - 1, row + 1, col - 1, col + 1}, 0, &segs).ok());
    int n = 0;
    for (const tiles::StreetSegment& g : segs) {
      n += (g.lat1 == at.lat && g.lng1 == at.lng) || (g.lat2 == at.lat && g.lng2 == at.lng);
    }
    return n;
  }

  // Completed heatmap_refresh jobs and the cells they computed.
  std::pair<int, int64_t> RefreshJobsDone() {
    JobFilter f;
    f.type = kHeatmapRefreshJobType;
    f.limit = 100000;
    auto jobs = store_->ListJobs(f);
    EXPECT_TRUE(jobs.ok());
    int n = 0;
    int64_t cells = 0;
    for (const Job& j : *jobs) {
      EXPECT_EQ(j.status, JobStatus::kCompleted) << j.error.value_or("");
      EXPECT_EQ(j.priority, kRefreshPriority);
      ++n;
      cells += j.total_items;
    }
    return {n, cells};
  }

  // The scores of the cells of `spec` computed from scratch on `town`, row-major.
  std::vector<uint8_t> ScoresFromScratch(const OsmTown& town, const HeatmapJobSpec& spec) {
    const std::string path = dir_.File("scratch.osm.pbf");
    town.WritePbf(path);
    WalkNetwork net;
    auto pois = ImportPois(path, nullptr, {}, &net);
    EXPECT_TRUE(pois.ok()) << pois.status().ToString();
    if (!pois.ok()) return {};
    auto g = GridRegion::Make(spec.bounds, spec.grid_step);
    std::vector<uint8_t> want(size_t(g->cell_count()));
    if (IsWalkModel(spec.model)) {
      WalkIndex walk(net, PointsOf(*pois), WalkIndex::ForModel(spec.model));
      ScoreCellsWalk(walk, *g, 0, g->cell_count(), spec.model, want.data());
    } else {
      SpatialIndex straight(*pois);
      ScoreCells(straight, *g, 0, g->cell_count(), spec.model, want.data());
    }
    return want;
  }

  // Every cell of `spec` is stored and equals the score computed from scratch on `town`.
  void ExpectCellsFromScratch(const OsmTown& town, const HeatmapJobSpec& spec) {
    const std::vector<uint8_t> want = ScoresFromScratch(town, spec);
    auto g = GridRegion::Make(spec.bounds, spec.grid_step);
    ASSERT_TRUE(g.ok());
    auto cells = store_->QueryCells(spec.bounds, spec.grid_step, spec.model, 0, 10'000'000);
    ASSERT_TRUE(cells.ok());
    int64_t seen = 0, wrong = 0;
    for (const HeatCell& c : *cells) {
      const int64_t i = NearestGridIndex(c.lat, spec.grid_step) - g->first_row();
      const int64_t j = NearestGridIndex(c.lng, spec.grid_step) - g->first_col();
      if (i < 0 || i >= g->rows() || j < 0 || j >= g->cols()) continue;
      ++seen;
      wrong += c.score != want[size_t(i * g->cols() + j)];
    }
    const std::string what =
        std::string(HeatModelId(spec.model)) + " at " + testing::Shortest(spec.grid_step);
    EXPECT_EQ(seen, g->cell_count()) << what;
    EXPECT_EQ(wrong, 0) << what << ": cells differ from a computation from scratch";
  }
  // The same for the area of every model (AreaJob).
  void ExpectCellsFromScratch(const OsmTown& town) {
    for (HeatModel m : kModels) ExpectCellsFromScratch(town, AreaJob(m));
  }

  // The CLI on this store: its output (stdout and stderr), the exit code checked.
  std::string Cli(const std::string& args, int want_rc = 0) {
    std::string out;
    const int rc = testing::RunCommand(
        "DATABASE_URL='" + url_ + "' " + testing::BinaryPath() + " " + args, &out);
    EXPECT_EQ(rc, want_rc) << args << "\n" << out;
    return out;
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

// The modified town of the issue: 3 groceries removed, 2 added, 1 moved, 1 street cut.
struct Modified {
  OsmTown town;
  std::vector<PoiPoint> changed;  // the groceries' old and new positions
  std::vector<LatLng> cut;        // the ends of the cut street segment
  std::vector<int64_t> removed;
};

inline Modified Modify(const OsmTown& before) {
  Modified m{before, {}, {}, {}};
  const std::vector<int64_t> g = before.GroceryNodes();
  auto grocery = [](const OsmTown::Node& n) {
    return PoiPoint{n.lat, n.lng, Category::kGroceries, HealthSub::kNone};
  };
  for (int k = 0; k < 3; ++k) {
    m.changed.push_back(grocery(m.town.nodes[g[k]]));
    m.removed.push_back(g[k]);
    m.town.nodes.erase(g[k]);
  }
  std::mt19937 rng(99);
  for (int k = 0; k < 2; ++k) {
    const LatLng at = m.town.RandomPosition(&rng);
    m.town.AddPoi(150000 + k, at, "shop", "convenience", "New " + std::to_string(k));
    m.changed.push_back(grocery(m.town.nodes[150000 + k]));
  }
  OsmTown::Node& moved = m.town.nodes[g[3]];
  m.changed.push_back(grocery(moved));
  moved.lat = std::round((moved.lat + 0.0025) * 1e7) / 1e7;
  m.changed.push_back(grocery(moved));
  // The western bridge: the streets north of the river now reach the south by the eastern one.
  const int64_t a = OsmTown::StreetNode(OsmTown::kRiver, OsmTown::kBridges[0]);
  const int64_t b = OsmTown::StreetNode(OsmTown::kRiver + 1, OsmTown::kBridges[0]);
  m.town.CutStreet(a, b, 1900);
  m.cut = {{m.town.nodes[a].lat, m.town.nodes[a].lng}, {m.town.nodes[b].lat, m.town.nodes[b].lng}};
  return m;
}

}  // namespace nbi::refresh_testing
