// PoiStore conformance (src/store/store.h): UpsertPois is keyed by source_id (a known id is
// updated, never duplicated), LoadPois returns the POIs in a box up to a limit,
// CountPoisByCategory counts them, and LoadPoisAround reaches across the antimeridian.
// Runs on SQLite and PostgreSQL.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "store/store.h"
#include "store_fixture.h"
#include "store_test_util.h"

namespace nbi {
namespace {

class PoiStoreTest : public testing::StoreTest {};

TEST_P(PoiStoreTest, PoisUpsertIsIdempotentAndLoadsByBox) {
  PoiStore* poi_store = store_.get();
  std::vector<Poi> pois = {
      {"n1", Category::kGroceries, HealthSub::kNone, "A", 47.10, 9.50},
      {"n2", Category::kHealthcare, HealthSub::kDental, "Dentist", 47.11, 9.51},
      {"w3", Category::kParks, HealthSub::kNone, "", 48.0, 10.0},
  };
  auto r = poi_store->UpsertPois(pois);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->inserted, 3);
  pois[0].name = "A renamed";
  auto r2 = poi_store->UpsertPois(pois);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->inserted, 0);
  EXPECT_EQ(r2->updated, 3);
  EXPECT_EQ(poi_store->LoadPois({47.0, 9.4, 47.2, 9.6}, 1)->size(), 1u);
  auto loaded = poi_store->LoadPois({47.0, 9.4, 47.2, 9.6}, -1);
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 2u);
  std::map<std::string, Poi> by_id;
  for (auto& p : *loaded) by_id[p.source_id] = p;
  EXPECT_EQ(by_id["n1"].name, "A renamed");
  EXPECT_EQ(by_id["n2"].sub, HealthSub::kDental);
  EXPECT_EQ(by_id["n2"].category, Category::kHealthcare);
  EXPECT_DOUBLE_EQ(by_id["n2"].lat, 47.11);
  auto counts = poi_store->CountPoisByCategory();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->size(), 3u);
}

// A point next to the antimeridian sees the POIs across it.
TEST_P(PoiStoreTest, LoadPoisAroundWrapsTheAntimeridian) {
  PoiStore* poi_store = store_.get();
  std::vector<Poi> pois = {{"e", Category::kGroceries, HealthSub::kNone, "East", -17.75, 179.999},
                           {"w", Category::kGroceries, HealthSub::kNone, "West", -17.75, -179.999},
                           {"far", Category::kGroceries, HealthSub::kNone, "Far", -17.75, -179.9}};
  ASSERT_TRUE(poi_store->UpsertPois(pois).ok());
  auto near_east = LoadPoisAround(poi_store, {-17.75, 179.999, -17.75, 179.999}, 800);
  ASSERT_TRUE(near_east.ok());
  std::set<std::string> ids;
  for (const Poi& p : *near_east) ids.insert(p.source_id);
  EXPECT_EQ(ids, (std::set<std::string>{"e", "w"}));
}

TEST_P(PoiStoreTest, CountPoisByCategoryCountsEachCategory) {
  PoiStore* poi_store = store_.get();
  auto none = poi_store->CountPoisByCategory();
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  std::vector<Poi> pois = {
      {"g1", Category::kGroceries, HealthSub::kNone, "G1", 47.10, 9.50},
      {"g2", Category::kGroceries, HealthSub::kNone, "G2", 47.11, 9.50},
      {"g3", Category::kGroceries, HealthSub::kNone, "G3", 10.00, 20.0},
      {"p1", Category::kParks, HealthSub::kNone, "P1", 47.12, 9.50},
      {"h1", Category::kHealthcare, HealthSub::kDental, "H1", 47.13, 9.50},
  };
  ASSERT_TRUE(poi_store->UpsertPois(pois).ok());
  ASSERT_TRUE(poi_store->UpsertPois({pois[0], pois[3]}).ok());  // updates count nothing twice
  auto counts = poi_store->CountPoisByCategory();
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  std::map<Category, int64_t> m(counts->begin(), counts->end());
  EXPECT_EQ(m, (std::map<Category, int64_t>{
                   {Category::kGroceries, 3}, {Category::kParks, 1}, {Category::kHealthcare, 1}}));
}

// An upsert of a known source_id moves and re-categorises that POI; it is not duplicated.
TEST_P(PoiStoreTest, UpsertOfAKnownSourceIdMovesAndRecategorisesIt) {
  PoiStore* poi_store = store_.get();
  ASSERT_TRUE(
      poi_store->UpsertPois({{"n7", Category::kGroceries, HealthSub::kNone, "Shop", 47.10, 9.50}})
          .ok());
  auto moved = poi_store->UpsertPois(
      {{"n7", Category::kHealthcare, HealthSub::kDental, "Dentist", 10.10, 20.20}});
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved->inserted, 0);
  EXPECT_EQ(moved->updated, 1);
  auto old_place = poi_store->LoadPois({47.0, 9.4, 47.2, 9.6}, -1);
  ASSERT_TRUE(old_place.ok());
  EXPECT_TRUE(old_place->empty());
  auto new_place = poi_store->LoadPois({10.0, 20.1, 10.2, 20.3}, -1);
  ASSERT_TRUE(new_place.ok());
  ASSERT_EQ(new_place->size(), 1u);
  const Poi& p = (*new_place)[0];
  EXPECT_EQ(p.source_id, "n7");
  EXPECT_EQ(p.name, "Dentist");
  EXPECT_EQ(p.category, Category::kHealthcare);
  EXPECT_EQ(p.sub, HealthSub::kDental);
  EXPECT_NEAR(p.lat, 10.10, 1e-9);
  EXPECT_NEAR(p.lng, 20.20, 1e-9);
}

INSTANTIATE_TEST_SUITE_P(Stores, PoiStoreTest, testing::BothBackends(), testing::BackendParamName);

}  // namespace
}  // namespace nbi
