// Points of interest and the OSM tag -> category mapping of SPEC §4.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nbi {

enum class Category : uint8_t {
  kGroceries,
  kRestaurants,
  kTransit,
  kHealthcare,
  kEducation,
  kParks,
  kShopping,
  kEntertainment,
};
inline constexpr int kCategoryCount = 8;
inline constexpr std::array<Category, kCategoryCount> kAllCategories = {
    Category::kGroceries, Category::kRestaurants, Category::kTransit,  Category::kHealthcare,
    Category::kEducation, Category::kParks,       Category::kShopping, Category::kEntertainment};

// Healthcare sub-types; kNone for every other category.
enum class HealthSub : uint8_t { kNone, kPharmacy, kMedical, kDental };

// Stable lower-case ids used in JSON, CSV and the database ("groceries", ...).
std::string_view CategoryId(Category c);
std::optional<Category> ParseCategory(std::string_view id);
// Accepts "pharmacy", "medical", "dental" (and "" for none).
std::string_view HealthSubId(HealthSub s);
std::optional<HealthSub> ParseHealthSub(std::string_view id);

struct CategoryMatch {
  Category category;
  HealthSub sub = HealthSub::kNone;
};

// Maps one OSM key/value pair to a category, if it is one of SPEC §4's tags.
std::optional<CategoryMatch> MatchTag(std::string_view key, std::string_view value);

// Maps a whole tag set (calls `get(key)` returning a string_view, empty when absent) to the
// first matching category, checking keys in a fixed order (shop, amenity, leisure, highway,
// railway, public_transport, tourism).
template <typename GetTag>
std::optional<CategoryMatch> MatchTags(GetTag&& get) {
  static constexpr std::string_view kKeys[] = {"shop",    "amenity",          "leisure", "highway",
                                               "railway", "public_transport", "tourism"};
  for (std::string_view key : kKeys) {
    std::string_view v = get(key);
    if (v.empty()) continue;
    if (auto m = MatchTag(key, v)) return m;
  }
  return std::nullopt;
}

struct Poi {
  std::string source_id;  // "n123", "w456", or file-local ids for CSV/GeoJSON
  Category category = Category::kGroceries;
  HealthSub sub = HealthSub::kNone;
  std::string name;
  double lat = 0;
  double lng = 0;
};

// What scoring needs of a POI, and no more: 24 bytes, no strings (a job's index over a
// region of millions of POIs holds these, never names or ids).
struct PoiPoint {
  double lat = 0;
  double lng = 0;
  Category category = Category::kGroceries;
  HealthSub sub = HealthSub::kNone;
};

}  // namespace nbi
