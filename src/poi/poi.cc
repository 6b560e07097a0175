#include "poi/poi.h"

namespace nbi {

namespace {
constexpr std::string_view kCategoryIds[kCategoryCount] = {"groceries",  "restaurants",  "transit",
                                                           "healthcare", "education",    "parks",
                                                           "shopping",   "entertainment"};

struct TagRule {
  std::string_view key, value;
  Category category;
  HealthSub sub;
};
constexpr TagRule kRules[] = {
    {"shop", "supermarket", Category::kGroceries, HealthSub::kNone},
    {"shop", "convenience", Category::kGroceries, HealthSub::kNone},
    {"shop", "grocery", Category::kGroceries, HealthSub::kNone},
    {"shop", "greengrocer", Category::kGroceries, HealthSub::kNone},
    {"amenity", "restaurant", Category::kRestaurants, HealthSub::kNone},
    {"amenity", "cafe", Category::kRestaurants, HealthSub::kNone},
    {"amenity", "fast_food", Category::kRestaurants, HealthSub::kNone},
    {"amenity", "bar", Category::kRestaurants, HealthSub::kNone},
    {"highway", "bus_stop", Category::kTransit, HealthSub::kNone},
    {"railway", "station", Category::kTransit, HealthSub::kNone},
    {"railway", "halt", Category::kTransit, HealthSub::kNone},
    {"railway", "tram_stop", Category::kTransit, HealthSub::kNone},
    {"amenity", "bus_station", Category::kTransit, HealthSub::kNone},
    {"public_transport", "stop_position", Category::kTransit, HealthSub::kNone},
    {"public_transport", "platform", Category::kTransit, HealthSub::kNone},
    {"amenity", "pharmacy", Category::kHealthcare, HealthSub::kPharmacy},
    {"amenity", "hospital", Category::kHealthcare, HealthSub::kMedical},
    {"amenity", "clinic", Category::kHealthcare, HealthSub::kMedical},
    {"amenity", "doctors", Category::kHealthcare, HealthSub::kMedical},
    {"amenity", "dentist", Category::kHealthcare, HealthSub::kDental},
    {"amenity", "school", Category::kEducation, HealthSub::kNone},
    {"amenity", "kindergarten", Category::kEducation, HealthSub::kNone},
    {"amenity", "university", Category::kEducation, HealthSub::kNone},
    {"amenity", "college", Category::kEducation, HealthSub::kNone},
    {"amenity", "library", Category::kEducation, HealthSub::kNone},
    {"leisure", "park", Category::kParks, HealthSub::kNone},
    {"leisure", "garden", Category::kParks, HealthSub::kNone},
    {"leisure", "playground", Category::kParks, HealthSub::kNone},
    {"leisure", "sports_centre", Category::kParks, HealthSub::kNone},
    {"leisure", "fitness_centre", Category::kParks, HealthSub::kNone},
    {"shop", "clothes", Category::kShopping, HealthSub::kNone},
    {"shop", "shoes", Category::kShopping, HealthSub::kNone},
    {"shop", "department_store", Category::kShopping, HealthSub::kNone},
    {"shop", "mall", Category::kShopping, HealthSub::kNone},
    {"shop", "electronics", Category::kShopping, HealthSub::kNone},
    {"amenity", "cinema", Category::kEntertainment, HealthSub::kNone},
    {"amenity", "theatre", Category::kEntertainment, HealthSub::kNone},
    {"amenity", "nightclub", Category::kEntertainment, HealthSub::kNone},
    {"leisure", "bowling_alley", Category::kEntertainment, HealthSub::kNone},
    {"tourism", "museum", Category::kEntertainment, HealthSub::kNone},
};
}  // namespace

std::string_view CategoryId(Category c) { return kCategoryIds[static_cast<int>(c)]; }

std::optional<Category> ParseCategory(std::string_view id) {
  for (int i = 0; i < kCategoryCount; ++i) {
    if (kCategoryIds[i] == id) return static_cast<Category>(i);
  }
  return std::nullopt;
}

std::string_view HealthSubId(HealthSub s) {
  switch (s) {
    case HealthSub::kPharmacy:
      return "pharmacy";
    case HealthSub::kMedical:
      return "medical";
    case HealthSub::kDental:
      return "dental";
    case HealthSub::kNone:
      break;
  }
  return "";
}

std::optional<HealthSub> ParseHealthSub(std::string_view id) {
  if (id.empty()) return HealthSub::kNone;
  if (id == "pharmacy") return HealthSub::kPharmacy;
  if (id == "medical") return HealthSub::kMedical;
  if (id == "dental") return HealthSub::kDental;
  return std::nullopt;
}

std::optional<CategoryMatch> MatchTag(std::string_view key, std::string_view value) {
  for (const TagRule& r : kRules) {
    if (r.key == key && r.value == value) return CategoryMatch{r.category, r.sub};
  }
  return std::nullopt;
}

}  // namespace nbi
