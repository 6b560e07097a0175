// Overture places files (SPEC §1 `import`, §2a): GeoJSON and GeoJSONSeq, categorised through
// the Overture mapping (categories.primary, then categories.alternate), named from
// names.primary; features no category of ours places are counted, never dropped silently.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "poi/import.h"
#include "poi/overture.h"
#include "test_util.h"

namespace nbi {
namespace {

namespace tu = nbi::testing;

// Six Overture places: a supermarket, a pharmacy, a gas station that is also a convenience
// store (alternate), a hotel with a restaurant (second alternate), a beach and a place
// without categories; both unplaced.
const std::vector<std::string> kPlaces = {
    R"({"type": "Feature", "id": "08f1a", "geometry": {"type": "Point", "coordinates": [-87.07, 20.61]}, "properties": {"names": {"primary": "Súper Uno"}, "categories": {"primary": "supermarket", "alternate": ["grocery_store"]}}})",
    R"({"type": "Feature", "id": "08f1b", "geometry": {"type": "Point", "coordinates": [-87.06, 20.62]}, "properties": {"names": {"primary": "Farmacia"}, "categories": {"primary": "pharmacy"}}})",
    R"({"type": "Feature", "id": "08f1c", "geometry": {"type": "Point", "coordinates": [-87.05, 20.63]}, "properties": {"names": {"primary": "Gas"}, "categories": {"primary": "gas_station", "alternate": ["convenience_store"]}}})",
    R"({"type": "Feature", "id": "08f1d", "geometry": {"type": "Point", "coordinates": [-87.04, 20.64]}, "properties": {"names": {"primary": "Hotel"}, "categories": {"primary": "hotel", "alternate": ["resort", "restaurant"]}}})",
    R"({"type": "Feature", "id": "08f1e", "geometry": {"type": "Point", "coordinates": [-87.03, 20.65]}, "properties": {"names": {"primary": "Playa"}, "categories": {"primary": "beach", "alternate": ["park_and_ride"]}}})",
    R"({"type": "Feature", "id": "08f1f", "geometry": {"type": "Point", "coordinates": [-87.02, 20.66]}, "properties": {"names": {"primary": "Somewhere"}, "categories": null}})",
};

void ExpectPlaces(const Result<std::vector<Poi>>& pois, const ImportStats& stats) {
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ASSERT_EQ(pois->size(), 4u);
  EXPECT_EQ(stats.nodes, 4u);
  EXPECT_EQ(stats.unplaced, 2u);
  const Poi& a = (*pois)[0];
  EXPECT_EQ(a.source_id, "overture:08f1a");
  EXPECT_EQ(a.category, Category::kGroceries);
  EXPECT_EQ(a.name, "Súper Uno");
  EXPECT_DOUBLE_EQ(a.lat, 20.61);
  EXPECT_DOUBLE_EQ(a.lng, -87.07);
  EXPECT_EQ((*pois)[1].category, Category::kHealthcare);
  EXPECT_EQ((*pois)[1].sub, HealthSub::kPharmacy);
  EXPECT_EQ((*pois)[2].category, Category::kGroceries);    // through its alternate
  EXPECT_EQ((*pois)[3].category, Category::kRestaurants);  // its second alternate
  EXPECT_EQ((*pois)[3].name, "Hotel");
}

// SPEC §2a's mapping, every row as the SPEC writes it (engine category | Overture categories).
const std::vector<std::pair<std::string, std::string>> kSpecMapping = {
    {"groceries", "supermarket, grocery_store, convenience_store, greengrocer, farmers_market"},
    {"restaurants", "restaurant, cafe, coffee_shop, fast_food_restaurant, bar, pub"},
    {"transit",
     "train_station, subway_station, metro_station, tram_station, light_rail_station, "
     "bus_station, bus_terminal, bus_stop, public_transportation"},
    {"healthcare", "hospital, medical_clinic, urgent_care, pharmacy, doctor, dentist"},
    {"education", "school, preschool, daycare, university, college, library"},
    {"parks", "park, playground, garden, sports_club, recreation_center, gym, fitness_center"},
    {"shopping", "shopping_mall, clothing_store, shoe_store, department_store, electronics_store"},
    {"entertainment",
     "cinema, movie_theater, drive_in_theater, theatre, performing_arts_theater, "
     "theaters_and_performance_venues, comedy_club, dance_club, nightclub, bowling_alley, "
     "museum, art_museum, history_museum"},
};

// The healthcare sub-category of each of its Overture categories (SPEC §4's pharmacy, medical
// and dental weights).
const std::vector<std::pair<std::string, HealthSub>> kHealthSubs = {
    {"hospital", HealthSub::kMedical},    {"medical_clinic", HealthSub::kMedical},
    {"urgent_care", HealthSub::kMedical}, {"doctor", HealthSub::kMedical},
    {"pharmacy", HealthSub::kPharmacy},   {"dentist", HealthSub::kDental},
};

TEST(OvertureMapping, EveryRowOfTheSpecsTableAndNothingElse) {
  std::set<std::string> listed;
  for (const auto& [category, overture] : kSpecMapping) {
    std::istringstream in(overture);
    std::string id;
    while (std::getline(in >> std::ws, id, ',')) {
      const auto m = MatchOvertureCategory(id);
      ASSERT_TRUE(m.has_value()) << id;
      EXPECT_EQ(CategoryId(m->category), category) << id;
      if (category != "healthcare") EXPECT_EQ(m->sub, HealthSub::kNone) << id;
      EXPECT_TRUE(listed.insert(id).second) << id << " twice in the table";
    }
  }
  EXPECT_EQ(listed.size(), 57u);
  for (const auto& [id, sub] : kHealthSubs) EXPECT_EQ(MatchOvertureCategory(id)->sub, sub) << id;
  // The stores' list (their IN over overture_pois) is exactly the table.
  const std::vector<std::string>& ids = OvertureCategoryIds();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), listed);
  EXPECT_EQ(ids.size(), listed.size());
  // Categories outside it, the engine's own ids and near misses place nothing.
  for (const char* other : {"hotel", "gas_station", "beach", "groceries", "parks", "",
                            "Supermarket", "supermarket ", "super_market"}) {
    EXPECT_FALSE(MatchOvertureCategory(other).has_value()) << other;
  }
}

TEST(ImportOvertureTest, GeoJsonFeatureCollection) {
  tu::TempDir dir;
  std::string text = R"({"type": "FeatureCollection", "features": [)";
  for (size_t i = 0; i < kPlaces.size(); ++i) text += (i ? ",\n" : "\n") + kPlaces[i];
  tu::WriteFile(dir.File("places.geojson"), text + "]}");
  ImportStats stats;
  auto pois = ImportPois(dir.File("places.geojson"), &stats);
  ExpectPlaces(pois, stats);
}

TEST(ImportOvertureTest, GeoJsonSeqOneFeaturePerLine) {
  tu::TempDir dir;
  // RFC 8142 record separators, CRLF and a blank line are all fine.
  std::string text = "\x1e" + kPlaces[0] + "\r\n\n";
  for (size_t i = 1; i < kPlaces.size(); ++i) text += kPlaces[i] + "\n";
  tu::WriteFile(dir.File("places.geojsonseq"), text);
  EXPECT_EQ(*DetectPoiFormat(dir.File("places.geojsonseq")), PoiFormat::kGeoJson);
  ImportStats stats;
  auto pois = ImportPois(dir.File("places.geojsonseq"), &stats);
  ExpectPlaces(pois, stats);
}

TEST(ImportOvertureTest, GeoJsonSeqErrorsNameTheLine) {
  tu::TempDir dir;
  tu::WriteFile(dir.File("bad.geojsonseq"), kPlaces[0] + "\n" + kPlaces[1] + "\n{\"type\": \n");
  auto pois = ImportPois(dir.File("bad.geojsonseq"), nullptr);
  ASSERT_FALSE(pois.ok());
  EXPECT_EQ(pois.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(pois.status().message().find("bad.geojsonseq: line 3"), std::string::npos)
      << pois.status().message();
  tu::WriteFile(dir.File("shape.geojsonseq"), "[1, 2]\n");
  auto shape = ImportPois(dir.File("shape.geojsonseq"), nullptr);
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.status().message().find("line 1: not a GeoJSON Feature"), std::string::npos)
      << shape.status().message();
}

// "category": "supermarket" (an Overture category in the plain property) places the POI;
// features without any category are counted as unplaced, as before they were skipped.
TEST(ImportOvertureTest, CategoryPropertyTakesOvertureCategories) {
  tu::TempDir dir;
  tu::WriteFile(dir.File("plain.geojson"), R"({"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
     "properties": {"category": "supermarket", "name": "S"}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
     "properties": {"category": "dentist"}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
     "properties": {"highway": "residential"}},
    {"type": "Feature", "geometry": null, "properties": null}
  ]})");
  ImportStats stats;
  auto pois = ImportPois(dir.File("plain.geojson"), &stats);
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ASSERT_EQ(pois->size(), 2u);
  EXPECT_EQ((*pois)[0].category, Category::kGroceries);
  EXPECT_EQ((*pois)[0].name, "S");
  EXPECT_EQ((*pois)[1].category, Category::kHealthcare);
  EXPECT_EQ((*pois)[1].sub, HealthSub::kDental);
  EXPECT_EQ(stats.unplaced, 2u);
  // A category that is neither ours nor Overture's is still an error (a typo must not drop
  // POIs).
  tu::WriteFile(dir.File("typo.geojson"), R"({"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
     "properties": {"category": "supermarkt"}}]})");
  EXPECT_FALSE(ImportPois(dir.File("typo.geojson"), nullptr).ok());
}

}  // namespace
}  // namespace nbi
