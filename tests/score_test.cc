#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "score/model.h"
#include "score/scorer.h"
#include "score/spatial_index.h"
#include "test_util.h"

namespace nbi {
namespace {

CategoryStats Stats(int count, double nearest) {
  CategoryStats s;
  s.count = count;
  s.nearest_m = nearest;
  return s;
}

int GroceryScore(int count, double nearest) {
  return CategoryScore(RawScore(Category::kGroceries, Stats(count, nearest)));
}

// SPEC §4's example table.
TEST(Formula, SpecGroceryExamples) {
  EXPECT_EQ(GroceryScore(1, 700), 14);
  EXPECT_EQ(GroceryScore(1, 100), 31);
  EXPECT_EQ(GroceryScore(3, 150), 44);
  EXPECT_EQ(GroceryScore(5, 100), 59);
  EXPECT_EQ(GroceryScore(10, 50), 74);
  EXPECT_EQ(GroceryScore(20, 0), 87);
  EXPECT_EQ(GroceryScore(0, 0), 0);
}

TEST(Formula, CountTermAndDistanceTermByHand) {
  // Groceries, 1 at 160 m: 60 ln(1.5)/ln(6) + 25 (1 - 160/320) = 13.5777 + 12.5.
  EXPECT_NEAR(RawScore(Category::kGroceries, Stats(1, 160)),
              60 * std::log(1.5) / std::log(6.0) + 12.5, 1e-12);
  // Transit: closeThreshold = min(400, 0.4 * 1000) = 400.
  EXPECT_NEAR(RawScore(Category::kTransit, Stats(2, 200)),
              60 * std::log(1 + 1.4) / std::log(1 + 2.8) + 12.5, 1e-12);
  // At exactly maxCount there is no density bonus: countScore = 60.
  EXPECT_NEAR(RawScore(Category::kParks, Stats(5, 1000)), 60, 1e-12);
}

TEST(Formula, MinCountPenalty) {
  // Restaurants need 3: with 2 at 100 m, raw = round(0.4 (countScore + distanceScore)).
  double cs = 60 * std::log(1 + 0.6) / std::log(1 + 7.5);
  double ds = 25 * (1 - 100.0 / 240);
  EXPECT_EQ(RawScore(Category::kRestaurants, Stats(2, 100)), std::round(0.4 * (cs + ds)));
  // Shopping needs 2.
  double cs1 = 60 * std::log(1.5) / std::log(1 + 7.5);
  EXPECT_EQ(RawScore(Category::kShopping, Stats(1, 0)), std::round(0.4 * (cs1 + 25)));
  // At minCount the penalty no longer applies.
  EXPECT_GT(RawScore(Category::kRestaurants, Stats(3, 100)),
            RawScore(Category::kRestaurants, Stats(2, 100)) * 2);
}

TEST(Formula, DensityBonus) {
  // Groceries, 15 at 400 m (> closeThreshold 320 -> no distance score).
  double cs = 60 * std::log(1 + 7.5) / std::log(6.0);
  double bonus = 15 * std::min(1.0, std::log(1.0 + 5) / std::log(1.0 + 20));
  EXPECT_NEAR(RawScore(Category::kGroceries, Stats(15, 400)), cs + bonus, 1e-12);
  // The bonus saturates at 15 when count - maxCount >= 2 maxCount.
  double cs40 = 60 * std::log(1 + 20.0) / std::log(6.0);
  EXPECT_NEAR(RawScore(Category::kGroceries, Stats(40, 400)), cs40 + 15, 1e-12);
}

TEST(Formula, Compression) {
  EXPECT_EQ(Compress(42.4), 42.4);
  EXPECT_EQ(Compress(60), 60);
  EXPECT_EQ(Compress(61), std::round(60 + 40 * (1 - std::exp(-1.0 / 50))));
  EXPECT_EQ(Compress(110), std::round(60 + 40 * (1 - std::exp(-1.0))));
  EXPECT_EQ(Compress(1e9), 100);
  EXPECT_LE(Compress(200), 100);
}

TEST(Formula, HealthcareSubTypes) {
  CategoryStats s;
  s.count = 3;
  s.nearest_m = 300;
  s.sub_count[static_cast<int>(HealthSub::kPharmacy)] = 1;
  s.sub_count[static_cast<int>(HealthSub::kMedical)] = 2;
  double pharmacy = 2.0 / 8 * 60 * std::log(1 + 3.0) / std::log(1 + 6.0);
  double medical = 4.0 / 8 * 60 * std::log(1 + 1.4) / std::log(1 + 2.8);
  double distance = 25 * (1 - 300.0 / 400);
  double diversity = 5;  // two sub-types present
  EXPECT_NEAR(RawScore(Category::kHealthcare, s), pharmacy + medical + distance + diversity, 1e-12);

  // All three present: diversity 10; no density bonus even above maxCount 6.
  CategoryStats t;
  t.count = 12;
  t.nearest_m = 0;
  t.sub_count[static_cast<int>(HealthSub::kPharmacy)] = 4;
  t.sub_count[static_cast<int>(HealthSub::kMedical)] = 4;
  t.sub_count[static_cast<int>(HealthSub::kDental)] = 4;
  double cs = 2.0 / 8 * 60 * std::log(13.0) / std::log(7.0) + 4.0 / 8 * 60 +
              2.0 / 8 * 60 * std::log(9.0) / std::log(5.0);
  EXPECT_NEAR(RawScore(Category::kHealthcare, t), cs + 25 + 10, 1e-12);
}

TEST(Formula, BlendModel) {
  // compress(round((1.5 g + r + p) / 3.5)) on raw scores.
  EXPECT_EQ(CellScore(HeatModel::kBlend, 40, 20, 10),
            static_cast<int>(std::round((60 + 20 + 10) / 3.5)));
  double g = 110, r = 90, p = 100;
  EXPECT_EQ(CellScore(HeatModel::kBlend, g, r, p),
            static_cast<int>(Compress(std::round((165 + 90 + 100) / 3.5))));
  EXPECT_EQ(CellScore(HeatModel::kGrocery, 117.11, 0, 0), 87);
  EXPECT_EQ(ParseHeatModel("blend"), HeatModel::kBlend);
  EXPECT_FALSE(ParseHeatModel("bogus").has_value());
  // Every model's id parses back to it; the walking twins share their formula.
  for (HeatModel m : kAllHeatModels) EXPECT_EQ(ParseHeatModel(HeatModelId(m)), m);
  EXPECT_EQ(HeatModelId(HeatModel::kGroceryWalk), "grocery-walk");
  EXPECT_EQ(HeatModelId(HeatModel::kBlendWalk), "blend-walk");
  EXPECT_EQ(CellScore(HeatModel::kBlendWalk, g, r, p), CellScore(HeatModel::kBlend, g, r, p));
  EXPECT_EQ(CellScore(HeatModel::kGroceryWalk, 117.11, 0, 0), 87);
}

TEST(Formula, OverallIsWeightedMeanCompressed) {
  std::array<int, kCategoryCount> s{};
  s[static_cast<int>(Category::kGroceries)] = 80;  // w 1.5
  s[static_cast<int>(Category::kTransit)] = 40;    // w 1.5
  double wsum = 1.5 + 1.0 + 1.5 + 1.2 + 1.0 + 1.0 + 0.8 + 0.6;
  EXPECT_EQ(OverallScore(s), static_cast<int>(std::round((120 + 60) / wsum)));
  s.fill(100);
  EXPECT_EQ(OverallScore(s), static_cast<int>(Compress(100)));
}

// ---- Oracle tests: the index and scorer against a brute-force haversine scan ----

std::vector<Poi> RandomPois(std::mt19937_64& rng, int n, double lat0, double lng0, double span) {
  std::uniform_real_distribution<double> u(0, span);
  std::uniform_int_distribution<int> cat(0, kCategoryCount - 1), sub(1, 3);
  std::vector<Poi> pois;
  for (int i = 0; i < n; ++i) {
    Poi p;
    p.source_id = "r" + std::to_string(i);
    p.category = static_cast<Category>(cat(rng));
    if (p.category == Category::kHealthcare) p.sub = static_cast<HealthSub>(sub(rng));
    // Clusters: half the POIs near a few centres, the rest uniform.
    if (i % 2 == 0) {
      std::normal_distribution<double> nd(0, span / 40);
      double cl = (i / 2) % 5 * span / 5;
      p.lat = std::clamp(lat0 + cl + nd(rng), -90.0, 90.0);
      p.lng = lng0 + cl + nd(rng);
    } else {
      p.lat = std::clamp(lat0 + u(rng), -90.0, 90.0);
      p.lng = lng0 + u(rng);
    }
    if (p.lng > 180) p.lng -= 360;
    if (p.lng < -180) p.lng += 360;
    pois.push_back(p);
  }
  return pois;
}

CategoryStats BruteStats(const std::vector<Poi>& pois, Category c, LatLng at) {
  CategoryStats s;
  double best = std::numeric_limits<double>::infinity();
  for (const Poi& p : pois) {
    if (p.category != c) continue;
    double d = HaversineMeters(at, {p.lat, p.lng});
    if (d <= ParamsOf(c).radius_m) {
      ++s.count;
      ++s.sub_count[static_cast<int>(p.sub)];
      best = std::min(best, d);
    }
  }
  if (s.count) s.nearest_m = best;
  return s;
}

struct OracleCase {
  const char* name;
  double lat0, lng0, span;
};

class Oracle : public ::testing::TestWithParam<OracleCase> {};

TEST_P(Oracle, IndexAndScorerMatchBruteForce) {
  const OracleCase& oc = GetParam();
  uint64_t seed = testing::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (set NBI_TEST_SEED to replay)");
  std::mt19937_64 rng(seed);
  auto pois = RandomPois(rng, 3000, oc.lat0, oc.lng0, oc.span);
  SpatialIndex index(pois);
  std::uniform_real_distribution<double> u(-0.01, oc.span + 0.01);
  for (int q = 0; q < 1500; ++q) {
    double lat = std::clamp(oc.lat0 + u(rng), -90.0, 90.0);
    double lng = oc.lng0 + u(rng);
    if (lng > 180) lng -= 360;
    LatLng at{lat, lng};
    PointScore ps = ScorePoint(index, at, 20);
    std::array<double, kCategoryCount> raw{};
    std::array<int, kCategoryCount> scores{};
    for (Category c : kAllCategories) {
      int k = static_cast<int>(c);
      CategoryStats want = BruteStats(pois, c, at);
      CategoryStats got = CollectStats(index, c, lat, lng, ToUnitVec(lat, lng));
      ASSERT_EQ(got.count, want.count) << CategoryId(c) << " at " << lat << "," << lng;
      ASSERT_EQ(got.sub_count, want.sub_count);
      if (want.count) {
        ASSERT_NEAR(got.nearest_m, want.nearest_m, 1e-6);
      }
      raw[k] = RawScore(c, want);
      scores[k] = CategoryScore(raw[k]);
      ASSERT_EQ(ps.categories[k].count, want.count);
      ASSERT_EQ(ps.categories[k].score, scores[k]) << CategoryId(c);
      // The listed POIs are the nearest ones, in order.
      ASSERT_EQ(ps.categories[k].nearest.size(), std::min(want.count, 20));
      for (size_t i = 1; i < ps.categories[k].nearest.size(); ++i) {
        ASSERT_LE(ps.categories[k].nearest[i - 1].distance_m,
                  ps.categories[k].nearest[i].distance_m);
      }
      if (want.count) {
        ASSERT_NEAR(ps.categories[k].nearest[0].distance_m, want.nearest_m, 1e-6);
      }
    }
    ASSERT_EQ(ps.overall, OverallScore(scores));
    for (HeatModel m : {HeatModel::kGrocery, HeatModel::kBlend}) {
      int want = CellScore(m, raw[0], raw[static_cast<int>(Category::kRestaurants)],
                           raw[static_cast<int>(Category::kParks)]);
      ASSERT_EQ(ScoreCell(index, at, m), want);
      ASSERT_EQ(ps.cell_score(m), want);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Places, Oracle,
                         ::testing::Values(OracleCase{"city", 47.10, 9.50, 0.08},
                                           OracleCase{"equator", -0.04, 30.0, 0.08},
                                           OracleCase{"north", 69.6, 18.9, 0.08},
                                           OracleCase{"antimeridian", -17.8, 179.95, 0.1},
                                           OracleCase{"sparse", 40.0, -3.8, 0.6}),
                         [](const auto& info) { return std::string(info.param.name); });

// The kernel that fills a grid equals cell-by-cell point scoring: heatmap and point score agree.
TEST(Kernel, GridEqualsPointScores) {
  std::mt19937_64 rng(testing::TestSeed() + 7);
  SCOPED_TRACE("seed " + std::to_string(testing::TestSeed()));
  auto pois = RandomPois(rng, 4000, 41.10, -8.65, 0.08);
  SpatialIndex index(pois);
  auto g = GridRegion::Make({41.11, -8.64, 41.17, -8.58}, 0.001);
  ASSERT_TRUE(g.ok());
  for (HeatModel m : {HeatModel::kGrocery, HeatModel::kBlend}) {
    std::vector<uint8_t> all(g->cell_count());
    ScoreCells(index, *g, 0, g->cell_count(), m, all.data());
    // Scored in odd-sized chunks, as a job does: same result.
    std::vector<uint8_t> chunked(g->cell_count());
    for (int64_t b = 0; b < g->cell_count(); b += 777) {
      int64_t e = std::min<int64_t>(g->cell_count(), b + 777);
      ScoreCells(index, *g, b, e, m, chunked.data() + b);
    }
    ASSERT_EQ(all, chunked);
    int nonzero = 0;
    for (int64_t n = 0; n < g->cell_count(); ++n) {
      LatLng at = g->CellAt(n);
      ASSERT_EQ(all[n], ScorePoint(index, at, 0).cell_score(m)) << "cell " << n;
      nonzero += all[n] > 0;
    }
    EXPECT_GT(nonzero, g->cell_count() / 4);  // the fixture is not trivially empty
  }
}

// A job's index holds points only: it scores exactly as an index of full POIs, in under
// 100 bytes per POI (SPEC §8), including the buckets.
TEST(Kernel, AnIndexOfPointsScoresAsOneOfPoisInUnder100BytesPerPoi) {
  std::mt19937_64 rng(testing::TestSeed() + 11);
  auto pois = RandomPois(rng, 20000, 41.10, -8.65, 0.3);
  std::vector<PoiPoint> points;
  for (const Poi& p : pois) points.push_back({p.lat, p.lng, p.category, p.sub});
  const SpatialIndex full(pois), compact(points);
  ASSERT_EQ(compact.size(), pois.size());
  auto g = GridRegion::Make({41.11, -8.64, 41.37, -8.38}, 0.002);
  ASSERT_TRUE(g.ok());
  for (HeatModel m : {HeatModel::kGrocery, HeatModel::kBlend}) {
    std::vector<uint8_t> a(g->cell_count()), b(g->cell_count());
    ScoreCells(full, *g, 0, g->cell_count(), m, a.data());
    ScoreCells(compact, *g, 0, g->cell_count(), m, b.data());
    ASSERT_EQ(a, b);
  }
  const double per_poi = double(compact.MemoryBytes()) / double(pois.size());
  EXPECT_LT(per_poi, 100.0);
  EXPECT_GT(double(full.MemoryBytes()) / double(pois.size()), 100.0) << "full POIs cost more";
}

TEST(Kernel, EmptyIndexScoresZero) {
  SpatialIndex index;
  auto g = GridRegion::Make({0, 0, 0.01, 0.01}, 0.001);
  ASSERT_TRUE(g.ok());
  std::vector<uint8_t> out(g->cell_count(), 7);
  ScoreCells(index, *g, 0, g->cell_count(), HeatModel::kBlend, out.data());
  for (uint8_t s : out) EXPECT_EQ(s, 0);
  PointScore ps = ScorePoint(index, {0, 0});
  EXPECT_EQ(ps.overall, 0);
  EXPECT_FALSE(ps.categories[0].nearest_m.has_value());
}

}  // namespace
}  // namespace nbi
