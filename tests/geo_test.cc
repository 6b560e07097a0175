#include "geo/geo.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "test_util.h"

namespace nbi {
namespace {

TEST(LatLng, AcceptsRangeAndRejectsOutside) {
  EXPECT_TRUE(LatLng::Make(90, 180).ok());
  EXPECT_TRUE(LatLng::Make(-90, -180).ok());
  EXPECT_FALSE(LatLng::Make(90.0001, 0).ok());
  EXPECT_FALSE(LatLng::Make(0, -180.5).ok());
  EXPECT_FALSE(LatLng::Make(NAN, 0).ok());
  EXPECT_FALSE(LatLng::Make(0, INFINITY).ok());
  auto r = LatLng::Make(91, 0, "lat param");
  EXPECT_NE(r.status().message().find("lat param"), std::string::npos) << r.status().message();
}

TEST(Haversine, KnownDistances) {
  // One degree of latitude is R * pi / 180.
  EXPECT_NEAR(HaversineMeters({0, 0}, {1, 0}), 6371000.0 * kPi / 180, 1e-6);
  EXPECT_NEAR(HaversineMeters({0, 0}, {0, 180}), 6371000.0 * kPi, 1e-3);
  EXPECT_EQ(HaversineMeters({47.1, 9.5}, {47.1, 9.5}), 0);
  // Paris - London, about 343.5 km on this sphere.
  EXPECT_NEAR(HaversineMeters({48.8566, 2.3522}, {51.5074, -0.1278}), 343'556, 100);
}

TEST(Haversine, ChordFormMatchesHaversine) {
  std::mt19937_64 rng(testing::TestSeed());
  SCOPED_TRACE("seed " + std::to_string(testing::TestSeed()));
  std::uniform_real_distribution<double> lat(-89, 89), lng(-180, 180), off(-0.05, 0.05);
  for (int i = 0; i < 10000; ++i) {
    double a = lat(rng), b = lng(rng);
    double c = std::clamp(a + off(rng), -90.0, 90.0), d = b + off(rng);
    double h = HaversineMeters({a, b}, {c, d});
    double ch = MetersForChordSquared(Chord2(ToUnitVec(a, b), ToUnitVec(c, d)));
    ASSERT_NEAR(h, ch, 1e-6 + h * 1e-9);
  }
  EXPECT_NEAR(MetersForChordSquared(ChordSquaredForMeters(800)), 800, 1e-6);
}

TEST(BBox, ParseAndValidate) {
  auto b = BBox::Parse("47.0,9.4, 47.3,9.7");
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(*b, (BBox{47.0, 9.4, 47.3, 9.7}));
  EXPECT_FALSE(BBox::Parse("47,9.4,47.3").ok());
  EXPECT_FALSE(BBox::Parse("47,9.4,47.3,x").ok());
  EXPECT_FALSE(BBox::Parse("47,9.4,47.3,9.7,1").ok());
  EXPECT_FALSE(BBox::Parse("").ok());
  EXPECT_FALSE(BBox::Parse("47.3,9.4,47.0,9.7").ok());  // minLat >= maxLat
  EXPECT_FALSE(BBox::Parse("47,9.4,47,9.7").ok());
  EXPECT_FALSE(BBox::Parse("47,9.7,47.3,9.4").ok());
  EXPECT_FALSE(BBox::Parse("-95,9.4,47.3,9.7").ok());
  EXPECT_FALSE(BBox::Parse("nan,9.4,47.3,9.7").ok());
}

TEST(BBox, ExpandedWrappedCoversTheAntimeridianAndPoles) {
  auto one = BBox{47.0, 9.0, 47.1, 9.1}.ExpandedWrapped(1500);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], (BBox{47.0, 9.0, 47.1, 9.1}.Expanded(1500)));
  auto east = BBox{-17.8, 179.98, -17.7, 180}.ExpandedWrapped(1500);
  ASSERT_EQ(east.size(), 2u);
  EXPECT_EQ(east[0].max_lng, 180);
  EXPECT_EQ(east[1].min_lng, -180);
  EXPECT_GT(east[1].max_lng, -179.99);  // ~0.014 degrees past the line
  auto west = BBox{-17.8, -180, -17.7, -179.99}.ExpandedWrapped(1500);
  ASSERT_EQ(west.size(), 2u);
  EXPECT_EQ(west[1].max_lng, 180);
  EXPECT_LT(west[1].min_lng, 180);
  auto pole = BBox{89.95, 0, 89.99, 1}.ExpandedWrapped(1500);
  ASSERT_EQ(pole.size(), 1u);
  EXPECT_EQ(pole[0].min_lng, -180);
  EXPECT_EQ(pole[0].max_lng, 180);
}

TEST(Grid, StepRange) {
  EXPECT_TRUE(ValidateGridStep(0.0001).ok());
  EXPECT_TRUE(ValidateGridStep(0.1).ok());
  EXPECT_FALSE(ValidateGridStep(0.00009).ok());
  EXPECT_FALSE(ValidateGridStep(0.11).ok());
  EXPECT_FALSE(ValidateGridStep(0).ok());
  EXPECT_FALSE(ValidateGridStep(-0.01).ok());
  EXPECT_FALSE(ValidateGridStep(NAN).ok());
}

// The seed's table: a 0.15 degree square holds 225 / 900 / 3,600 / 22,500 cells.
TEST(Grid, SeedCellCountTableAtRandomAlignments) {
  std::mt19937_64 rng(testing::TestSeed());
  SCOPED_TRACE("seed " + std::to_string(testing::TestSeed()));
  std::uniform_real_distribution<double> lat(-60, 60), lng(-179, 179);
  const std::pair<double, int64_t> table[] = {
      {0.01, 225}, {0.005, 900}, {0.0025, 3600}, {0.001, 22500}};
  for (int i = 0; i < 5000; ++i) {
    double a = lat(rng), b = lng(rng);
    if (i % 10 == 0) a = std::round(a * 100) / 100;  // grid-aligned corners too
    if (i % 7 == 0) b = std::round(b * 1000) / 1000;
    auto box = BBox::Make(a, b, a + 0.15, b + 0.15);
    ASSERT_TRUE(box.ok());
    for (auto [step, cells] : table) {
      auto g = GridRegion::Make(*box, step);
      ASSERT_TRUE(g.ok()) << g.status().message();
      ASSERT_EQ(g->cell_count(), cells) << "box " << box->ToString() << " step " << step;
    }
  }
}

TEST(Grid, RowMajorNumberingAndCoordinates) {
  auto g = GridRegion::Make({47.0, 9.5, 47.03, 9.52}, 0.01);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->rows(), 3);
  EXPECT_EQ(g->cols(), 2);
  EXPECT_EQ(g->first_row(), 4700);
  EXPECT_EQ(g->first_col(), 950);
  EXPECT_DOUBLE_EQ(g->CellAt(0).lat, 47.0);
  EXPECT_DOUBLE_EQ(g->CellAt(1).lng, 9.51);
  EXPECT_DOUBLE_EQ(g->CellAt(2).lat, 47.01);
  EXPECT_DOUBLE_EQ(g->CellAt(5).lat, 47.02);
  EXPECT_DOUBLE_EQ(g->CellAt(5).lng, 9.51);
}

TEST(Grid, IndexCoordinateRoundTrip) {
  std::mt19937_64 rng(testing::TestSeed());
  std::uniform_int_distribution<int64_t> idx(-900000, 900000);
  for (double step : {0.0001, 0.00025, 0.001, 0.0025, 0.005, 0.01, 0.1}) {
    for (int k = 0; k < 2000; ++k) {
      int64_t i = idx(rng) % static_cast<int64_t>(90 / step);
      double v = static_cast<double>(i) * step;
      ASSERT_EQ(NearestGridIndex(v, step), i) << "step " << step;
      // The cell's own coordinate lies in a region starting at it.
      int64_t first, end;
      GridIndexRange(v, v + step, step, &first, &end);
      ASSERT_EQ(first, i);
      ASSERT_EQ(end, i + 1);
    }
  }
}

TEST(Grid, NeighbouringRegionsShareNoCellAndLeaveNoGap) {
  std::mt19937_64 rng(testing::TestSeed() + 1);
  SCOPED_TRACE("seed " + std::to_string(testing::TestSeed()));
  std::uniform_real_distribution<double> lat(-50, 50), w(0.001, 0.05);
  for (double step : {0.0005, 0.001, 0.0025, 0.01}) {
    for (int k = 0; k < 300; ++k) {
      double a = lat(rng);
      double cuts[4] = {a, a + w(rng), 0, 0};
      cuts[2] = cuts[1] + w(rng);
      cuts[3] = cuts[2] + w(rng);
      int64_t prev_end = 0;
      int64_t whole_first, whole_end;
      GridIndexRange(cuts[0], cuts[3], step, &whole_first, &whole_end);
      for (int p = 0; p < 3; ++p) {
        int64_t f, e;
        GridIndexRange(cuts[p], cuts[p + 1], step, &f, &e);
        if (p > 0)
          ASSERT_EQ(f, prev_end) << "gap or overlap at cut " << cuts[p] << " step " << step;
        else
          ASSERT_EQ(f, whole_first);
        prev_end = e;
      }
      ASSERT_EQ(prev_end, whole_end);
    }
  }
}

TEST(Grid, RefusesOverCapAndEmpty) {
  auto huge = GridRegion::Make({0, 0, 10, 10}, 0.0001);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("cap"), std::string::npos);
  EXPECT_FALSE(GridRegion::Make({0, 0, 0.15, 0.15}, 0.0025, 1000).ok());
  EXPECT_FALSE(GridRegion::Make({0.00001, 0.00001, 0.00002, 0.00002}, 0.01).ok());
  EXPECT_FALSE(GridRegion::Make({0, 0, 1, 1}, 0.5).ok());
}

}  // namespace
}  // namespace nbi
