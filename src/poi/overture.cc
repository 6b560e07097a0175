#include "poi/overture.h"

#include <utility>

namespace nbi {

namespace {

struct OvertureRow {
  std::string_view id;
  CategoryMatch match;
};

constexpr CategoryMatch C(Category c, HealthSub s = HealthSub::kNone) { return {c, s}; }

// SPEC §2a's table, row by row.
constexpr OvertureRow kRows[] = {
    {"supermarket", C(Category::kGroceries)},
    {"grocery_store", C(Category::kGroceries)},
    {"convenience_store", C(Category::kGroceries)},
    {"greengrocer", C(Category::kGroceries)},
    {"farmers_market", C(Category::kGroceries)},
    {"restaurant", C(Category::kRestaurants)},
    {"cafe", C(Category::kRestaurants)},
    {"coffee_shop", C(Category::kRestaurants)},
    {"fast_food_restaurant", C(Category::kRestaurants)},
    {"bar", C(Category::kRestaurants)},
    {"pub", C(Category::kRestaurants)},
    {"train_station", C(Category::kTransit)},
    {"subway_station", C(Category::kTransit)},
    {"metro_station", C(Category::kTransit)},
    {"tram_station", C(Category::kTransit)},
    {"light_rail_station", C(Category::kTransit)},
    {"bus_station", C(Category::kTransit)},
    {"bus_terminal", C(Category::kTransit)},
    {"bus_stop", C(Category::kTransit)},
    {"public_transportation", C(Category::kTransit)},
    {"hospital", C(Category::kHealthcare, HealthSub::kMedical)},
    {"medical_clinic", C(Category::kHealthcare, HealthSub::kMedical)},
    {"urgent_care", C(Category::kHealthcare, HealthSub::kMedical)},
    {"pharmacy", C(Category::kHealthcare, HealthSub::kPharmacy)},
    {"doctor", C(Category::kHealthcare, HealthSub::kMedical)},
    {"dentist", C(Category::kHealthcare, HealthSub::kDental)},
    {"school", C(Category::kEducation)},
    {"preschool", C(Category::kEducation)},
    {"daycare", C(Category::kEducation)},
    {"university", C(Category::kEducation)},
    {"college", C(Category::kEducation)},
    {"library", C(Category::kEducation)},
    {"park", C(Category::kParks)},
    {"playground", C(Category::kParks)},
    {"garden", C(Category::kParks)},
    {"sports_club", C(Category::kParks)},
    {"recreation_center", C(Category::kParks)},
    {"gym", C(Category::kParks)},
    {"fitness_center", C(Category::kParks)},
    {"shopping_mall", C(Category::kShopping)},
    {"clothing_store", C(Category::kShopping)},
    {"shoe_store", C(Category::kShopping)},
    {"department_store", C(Category::kShopping)},
    {"electronics_store", C(Category::kShopping)},
    {"cinema", C(Category::kEntertainment)},
    {"movie_theater", C(Category::kEntertainment)},
    {"drive_in_theater", C(Category::kEntertainment)},
    {"theatre", C(Category::kEntertainment)},
    {"performing_arts_theater", C(Category::kEntertainment)},
    {"theaters_and_performance_venues", C(Category::kEntertainment)},
    {"comedy_club", C(Category::kEntertainment)},
    {"dance_club", C(Category::kEntertainment)},
    {"nightclub", C(Category::kEntertainment)},
    {"bowling_alley", C(Category::kEntertainment)},
    {"museum", C(Category::kEntertainment)},
    {"art_museum", C(Category::kEntertainment)},
    {"history_museum", C(Category::kEntertainment)},
};

}  // namespace

std::optional<CategoryMatch> MatchOvertureCategory(std::string_view overture_category) {
  for (const OvertureRow& r : kRows) {
    if (r.id == overture_category) return r.match;
  }
  return std::nullopt;
}

const std::vector<std::string>& OvertureCategoryIds() {
  static const std::vector<std::string> ids = [] {
    std::vector<std::string> out;
    for (const OvertureRow& r : kRows) out.emplace_back(r.id);
    return out;
  }();
  return ids;
}

std::string OvertureCategoryArrayLiteral() {
  std::string out = "{";
  for (const std::string& id : OvertureCategoryIds()) {
    if (out.size() > 1) out += ',';
    out += '"' + id + '"';
  }
  return out + "}";
}

}  // namespace nbi
