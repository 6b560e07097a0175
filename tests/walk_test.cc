// The walking models (SPEC §4a) against a brute-force reference written here: every cell
// snaps by scanning all nodes, then runs a Dijkstra over the whole graph; the scores must
// equal WalkIndex's (per-POI searches bounded by the radius over a window of the network).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <random>

#include "common/walk_network.h"
#include "poi/import.h"
#include "score/scorer.h"
#include "score/spatial_index.h"
#include "test_util.h"
#include "walk/walk_index.h"
#include "walk_test_util.h"

namespace nbi {
namespace {

using testing::AddSquare;
using testing::BruteWalk;
using testing::StreetGrid;

// Streets everywhere except across the river between rows 11 and 12, which only columns 2
// and 37 bridge.
bool RiverWithTwoBridges(int r, int c, int r2, int c2) {
  if (r == 11 && r2 == 12) return c == c2 && (c == 2 || c == 37);
  return true;
}

// A street grid north and south of a river crossed by two bridges, plus a small island of
// streets (its own component), with POIs of the three model categories around.
struct RiverTown {
  WalkNetwork net;
  std::vector<PoiPoint> pois;
  BBox box;
};

RiverTown MakeRiverTown(uint32_t seed) {
  RiverTown t;
  // 24 rows x 40 columns of 0.001 deg (~111 m north-south, ~76 m east-west at 47 N). The
  // river runs between rows 11 and 12: only columns 2 and 37 have bridges.
  StreetGrid g(47.0, 9.0, 0.001, 24, 40);
  g.Connect(RiverWithTwoBridges);
  t.net = g.Build();
  // The island: a 2 x 2 square of streets in the river's east, ids above the grid's.
  AddSquare(&t.net, 1000000, 47.0115, 9.045, 0.0004);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> lat(46.999, 47.024), lng(8.999, 9.05);
  for (int i = 0; i < 60; ++i) {
    Category c = i % 3 == 0   ? Category::kRestaurants
                 : i % 3 == 1 ? Category::kGroceries
                              : Category::kParks;
    t.pois.push_back({lat(rng), lng(rng), c, HealthSub::kNone});
  }
  t.pois.push_back({47.0116, 9.0452, Category::kGroceries, HealthSub::kNone});  // on the island
  t.box = BBox{47.0, 9.0, 47.023, 9.049};
  return t;
}

// Every cell of the town's box at `step`, for `model`, by WalkIndex and by the reference.
void ExpectCellsMatchReference(const RiverTown& t, double step, HeatModel model) {
  auto region = GridRegion::Make(t.box, step);
  ASSERT_TRUE(region.ok());
  WalkIndex index(t.net, t.pois, WalkIndex::ForModel(model));
  std::vector<uint8_t> got(size_t(region->cell_count()));
  ScoreCellsWalk(index, *region, 0, region->cell_count(), model, got.data());
  BruteWalk ref(t.net, t.pois);
  int nonzero = 0;
  for (int64_t n = 0; n < region->cell_count(); ++n) {
    const LatLng at = region->CellAt(n);
    const int want = ref.CellScore(at, model);
    ASSERT_EQ(int(got[size_t(n)]), want) << "cell " << n << " at " << at.lat << "," << at.lng;
    nonzero += want > 0;
  }
  EXPECT_GT(nonzero, region->cell_count() / 4) << "the case must exercise the formula";
}

TEST(WalkScorer, GroceryWalkEqualsTheBruteForceReference) {
  ExpectCellsMatchReference(MakeRiverTown(1), 0.0005, HeatModel::kGroceryWalk);
}

TEST(WalkScorer, BlendWalkEqualsTheBruteForceReference) {
  ExpectCellsMatchReference(MakeRiverTown(2), 0.0005, HeatModel::kBlendWalk);
}

// Walking is never shorter than the straight line, so no cell scores higher on foot.
TEST(WalkScorer, NoCellScoresHigherThanInAStraightLine) {
  RiverTown t = MakeRiverTown(3);
  auto region = GridRegion::Make(t.box, 0.0005);
  ASSERT_TRUE(region.ok());
  WalkIndex walk(t.net, t.pois, WalkIndex::ForModel(HeatModel::kBlendWalk));
  SpatialIndex straight(t.pois);
  std::vector<uint8_t> w(size_t(region->cell_count())), s(w.size());
  ScoreCellsWalk(walk, *region, 0, region->cell_count(), HeatModel::kBlendWalk, w.data());
  ScoreCells(straight, *region, 0, region->cell_count(), HeatModel::kBlend, s.data());
  int lower = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    ASSERT_LE(w[i], s[i]) << "cell " << i;
    lower += w[i] < s[i];
  }
  EXPECT_GT(lower, 0) << "walking changes some cells";
}

// A shop 222 m away across the river, ~1.3 km from either bridge: in a straight line it
// counts, on foot it does not (the walk is ~2.9 km).
TEST(WalkScorer, AShopAcrossTheRiverDoesNotCountOnFoot) {
  StreetGrid g(47.0, 9.0, 0.001, 24, 40);
  g.Connect(RiverWithTwoBridges);
  WalkNetwork net = g.Build();
  const LatLng home{47.010, 9.020}, shop{47.012, 9.020};  // rows 10 and 12, column 20
  std::vector<PoiPoint> pois = {{shop.lat, shop.lng, Category::kGroceries, HealthSub::kNone}};
  ASSERT_NEAR(HaversineMeters(home, shop), 222, 1);
  WalkIndex walk(net, pois, WalkIndex::ForModel(HeatModel::kGroceryWalk));
  SpatialIndex straight(pois);
  EXPECT_GT(ScoreCell(straight, home, HeatModel::kGrocery), 0);
  EXPECT_EQ(ScoreCellWalk(walk, home, HeatModel::kGroceryWalk), 0);
  // The reference agrees: the walk is longer than 2.5 km.
  BruteWalk ref(net, pois);
  EXPECT_GT(ref.WalkMeters(home, 0), 2500);
  // On the shop's own bank, the same shop counts.
  const LatLng neighbour{47.013, 9.021};
  EXPECT_GT(ScoreCellWalk(walk, neighbour, HeatModel::kGroceryWalk), 0);
}

// A shop whose nearest node belongs to another component is never reached, however close.
TEST(WalkScorer, AnotherComponentIsNeverReached) {
  StreetGrid g(47.0, 9.0, 0.001, 5, 5);
  g.Connect([](int, int, int, int) { return true; });
  WalkNetwork net = g.Build();
  AddSquare(&net, 1000000, 47.0022, 9.0052, 0.0002);  // 45 m east of the grid's edge
  std::vector<PoiPoint> pois = {{47.0023, 9.0054, Category::kGroceries, HealthSub::kNone}};
  WalkIndex walk(net, pois, WalkIndex::ForModel(HeatModel::kGroceryWalk));
  const LatLng home{47.002, 9.004};  // on the grid, ~110 m from the shop
  EXPECT_EQ(ScoreCellWalk(walk, home, HeatModel::kGroceryWalk), 0);
  SpatialIndex straight(pois);
  EXPECT_GT(ScoreCell(straight, home, HeatModel::kGrocery), 0);
  // On the island itself the shop counts.
  EXPECT_GT(ScoreCellWalk(walk, {47.0022, 9.0053}, HeatModel::kGroceryWalk), 0);
}

// Two nodes at exactly the same distance: the point snaps to the smaller OSM id, whichever
// comes first in space or in the file.
TEST(WalkScorer, SnappingTiesGoToTheSmallestNodeId) {
  for (bool small_west : {true, false}) {
    WalkNetwork net;
    const int64_t west = small_west ? 3 : 7, east = small_west ? 7 : 3;
    net.nodes = {{3, 0, small_west ? -0.001 : 0.001}, {7, 0, small_west ? 0.001 : -0.001}};
    std::sort(net.nodes.begin(), net.nodes.end(),
              [](const WalkNode& a, const WalkNode& b) { return a.id < b.id; });
    net.edges = {{3, 7, HaversineMeters({0, -0.001}, {0, 0.001})}};
    WalkGraph graph(net);
    const WalkGraph::Snapped s = graph.Snap({0, 0}, 1000);
    ASSERT_GE(s.node, 0);
    EXPECT_EQ(graph.id(s.node), 3) << "west " << west << ", east " << east;
    EXPECT_DOUBLE_EQ(s.dist_m, HaversineMeters({0, 0}, {0, -0.001}));
  }
}

// A point farther than the radius from every node snaps to none and counts nothing.
TEST(WalkScorer, APointFarFromTheNetworkSnapsToNoNode) {
  StreetGrid g(47.0, 9.0, 0.001, 3, 3);
  g.Connect([](int, int, int, int) { return true; });
  WalkGraph graph(g.Build());
  EXPECT_LT(graph.Snap({47.02, 9.0}, 800).node, 0);  // ~2 km north
  EXPECT_GE(graph.Snap({47.02, 9.0}, 5000).node, 0);
}

// The point score along the street network and the cell at the same spot agree, over many
// points, and each listed POI carries its walking distance.
TEST(WalkScorer, ThePointScoreEqualsTheCell) {
  RiverTown t = MakeRiverTown(4);
  WalkIndex cells(t.net, t.pois, WalkIndex::ForModel(HeatModel::kBlendWalk));
  BruteWalk ref(t.net, t.pois);
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> lat(47.0, 47.023), lng(9.0, 9.049);
  for (int i = 0; i < 200; ++i) {
    const LatLng at{lat(rng), lng(rng)};
    WalkIndex point(t.net, t.pois, WalkIndex::ForPoint(at));
    const PointScore ps = ScorePointWalk(point, at);
    for (HeatModel m : {HeatModel::kGroceryWalk, HeatModel::kBlendWalk}) {
      ASSERT_EQ(ps.cell_score(m), ScoreCellWalk(cells, at, m)) << at.lat << "," << at.lng;
    }
    const CategoryScoreDetail& g = ps.categories[static_cast<int>(Category::kGroceries)];
    ASSERT_LE(g.nearest.size(), size_t(g.count));
    for (const NearbyPoi& p : g.nearest) {
      EXPECT_NEAR(p.distance_m, ref.WalkMeters(at, p.index), 1e-6);
      EXPECT_LE(p.distance_m, 800);
    }
    if (g.count > 0) {
      EXPECT_DOUBLE_EQ(*g.nearest_m, g.nearest.front().distance_m);
    }
  }
}

// Real extracts: 100 cells in each town centre at 0.001 deg, blend-walk over the whole
// imported network, against the brute-force reference.
TEST(WalkScorer, RealExtractsEqualTheBruteForceReference) {
  NBI_REQUIRE_OSM_DIR(dir);
  struct Place {
    const char* file;
    BBox box;
  };
  for (const Place& place : {Place{"andorra.osm.pbf", {42.503, 1.516, 42.513, 1.526}},
                             Place{"porto.osm.pbf", {41.142, -8.616, 41.152, -8.606}}}) {
    SCOPED_TRACE(place.file);
    WalkNetwork net;
    auto pois = ImportPois((*dir / place.file).string(), nullptr, {}, &net);
    ASSERT_TRUE(pois.ok()) << pois.status().ToString();
    ASSERT_GT(net.nodes.size(), 1000u);
    std::vector<PoiPoint> points;
    for (const Poi& p : *pois) points.push_back({p.lat, p.lng, p.category, p.sub});
    auto region = GridRegion::Make(place.box, 0.001);
    ASSERT_TRUE(region.ok());
    WalkIndex index(net, points, WalkIndex::ForModel(HeatModel::kBlendWalk));
    std::vector<uint8_t> got(size_t(region->cell_count()));
    ScoreCellsWalk(index, *region, 0, region->cell_count(), HeatModel::kBlendWalk, got.data());
    BruteWalk ref(net, points);
    int nonzero = 0;
    for (int64_t n = 0; n < region->cell_count(); ++n) {
      const LatLng at = region->CellAt(n);
      const int want = ref.CellScore(at, HeatModel::kBlendWalk);
      ASSERT_EQ(int(got[size_t(n)]), want) << "cell " << n << " at " << at.lat << "," << at.lng;
      nonzero += want > 0;
    }
    EXPECT_GT(nonzero, 50) << "a town centre scores";
  }
}

}  // namespace
}  // namespace nbi
