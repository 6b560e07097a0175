// CityStore conformance (src/store/store.h): the shipped presets are there, UpsertCity inserts
// a new slug and updates an existing one in place (same id), GetCity finds a city by slug or
// answers kNotFound, ListCities lists every city once. Runs on SQLite and PostgreSQL.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "store/store.h"
#include "store_fixture.h"
#include "store_test_util.h"

namespace nbi {
namespace {

class CityStoreTest : public testing::StoreTest {};

TEST_P(CityStoreTest, CitiesPresetsUpsertAndLookup) {
  CityStore* city_store = store_.get();
  auto cancun = city_store->GetCity("cancun");
  ASSERT_TRUE(cancun.ok());
  EXPECT_EQ(cancun->bounds, (BBox{20.8, -87.2, 21.4, -86.5}));
  EXPECT_EQ(city_store->GetCity("atlantis").status().code(), StatusCode::kNotFound);
  City c{0, "vaduz", "Vaduz", "LI", {47.10, 9.50, 47.16, 9.55}};
  auto added = city_store->UpsertCity(c);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_GT(added->id, 0);
  c.name = "Vaduz (centre)";
  auto again = city_store->UpsertCity(c);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, added->id);
  EXPECT_EQ(city_store->GetCity("vaduz")->name, "Vaduz (centre)");
  auto all = city_store->ListCities();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), PresetCities().size() + 1);
}

TEST_P(CityStoreTest, UpsertOfAnExistingSlugUpdatesEveryFieldInPlace) {
  CityStore* city_store = store_.get();
  EXPECT_EQ(city_store->GetCity("vaduz").status().code(), StatusCode::kNotFound);
  auto added = city_store->UpsertCity({0, "vaduz", "Vaduz", "LI", {47.10, 9.50, 47.16, 9.55}});
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(added->slug, "vaduz");
  EXPECT_EQ(added->name, "Vaduz");
  EXPECT_EQ(added->country, "LI");
  EXPECT_EQ(added->bounds, (BBox{47.10, 9.50, 47.16, 9.55}));
  // Same slug, every other field changed (and an id that must be ignored).
  const City changed{added->id + 1000, "vaduz", "Vaduz-Schaan", "CH", {47.05, 9.45, 47.20, 9.60}};
  auto updated = city_store->UpsertCity(changed);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->id, added->id);
  EXPECT_EQ(updated->name, "Vaduz-Schaan");
  EXPECT_EQ(updated->country, "CH");
  EXPECT_EQ(updated->bounds, changed.bounds);
  auto got = city_store->GetCity("vaduz");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->id, added->id);
  EXPECT_EQ(got->name, "Vaduz-Schaan");
  EXPECT_EQ(got->country, "CH");
  EXPECT_EQ(got->bounds, changed.bounds);
  // Listed once, with the new values.
  auto all = city_store->ListCities();
  ASSERT_TRUE(all.ok());
  int seen = 0;
  for (const City& c : *all) {
    if (c.slug != "vaduz") continue;
    ++seen;
    EXPECT_EQ(c.name, "Vaduz-Schaan");
    EXPECT_EQ(c.bounds, changed.bounds);
  }
  EXPECT_EQ(seen, 1);
}

TEST_P(CityStoreTest, EveryPresetIsListedOnceAndFoundBySlug) {
  CityStore* city_store = store_.get();
  auto all = city_store->ListCities();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::map<std::string, City> by_slug;
  for (const City& c : *all) {
    EXPECT_TRUE(by_slug.emplace(c.slug, c).second) << "listed twice: " << c.slug;
  }
  ASSERT_FALSE(PresetCities().empty());
  for (const City& preset : PresetCities()) {
    SCOPED_TRACE(preset.slug);
    ASSERT_EQ(by_slug.count(preset.slug), 1u);
    EXPECT_EQ(by_slug[preset.slug].name, preset.name);
    EXPECT_EQ(by_slug[preset.slug].bounds, preset.bounds);
    auto got = city_store->GetCity(preset.slug);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->id, by_slug[preset.slug].id);
    EXPECT_EQ(got->bounds, preset.bounds);
  }
  EXPECT_EQ(city_store->GetCity("").status().code(), StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Stores, CityStoreTest, testing::BothBackends(), testing::BackendParamName);

}  // namespace
}  // namespace nbi
