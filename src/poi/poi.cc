#include "poi/poi.h"

#include <fmt/format.h>

#include <cmath>

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

// ---- Names

namespace {

// The length of the well-formed UTF-8 sequence that starts `s` (not empty), or 0 when it is
// ill-formed; then *bad receives the length of its maximal subpart (at least 1), the bytes
// one U+FFFD replaces. Second-byte ranges exclude overlong forms (E0, F0), surrogates (ED)
// and code points above U+10FFFF (F4); C0, C1 and F5..FF never start a sequence.
size_t Utf8SequenceLength(std::string_view s, size_t* bad) {
  const auto byte = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t continuations = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the next byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    continuations = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    continuations = 2;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    continuations = 3;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t i = 1; i <= continuations; ++i) {
    if (i >= s.size() || byte(i) < lo || byte(i) > hi) {
      *bad = i;
      return 0;
    }
    lo = 0x80;
    hi = 0xBF;
  }
  return continuations + 1;
}

}  // namespace

std::string CleanPoiName(std::string_view raw) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  size_t i = 0;
  while (i < raw.size()) {
    size_t bad = 0;
    const size_t n = Utf8SequenceLength(raw.substr(i), &bad);
    const std::string_view piece = n > 0 ? raw.substr(i, n) : kReplacement;
    i += n > 0 ? n : bad;
    if (piece[0] == '\0') continue;
    if (out.size() + piece.size() > kMaxPoiNameBytes) break;
    out.append(piece);
  }
  return out;
}

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t bad = 0;
    const size_t n = Utf8SequenceLength(text.substr(i), &bad);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// ---- Source ids

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

namespace {

// Degrees with exactly 7 decimals from the rounded integer count of 1e-7 degrees, so that
// no float formatting and no "-0" enter the text.
std::string SevenDecimals(double degrees) {
  const long long units = std::llround(degrees * 1e7);
  const unsigned long long magnitude = units < 0 ? 0ULL - static_cast<unsigned long long>(units)
                                                 : static_cast<unsigned long long>(units);
  return fmt::format("{}{}.{:07}", units < 0 ? "-" : "", magnitude / 10000000,
                     magnitude % 10000000);
}

}  // namespace

std::string PoiContentText(const Poi& poi) {
  std::string category(CategoryId(poi.category));
  if (poi.sub != HealthSub::kNone) category += fmt::format(":{}", HealthSubId(poi.sub));
  return fmt::format("{},{},{},{}", SevenDecimals(poi.lat), SevenDecimals(poi.lng), category,
                     poi.name);
}

std::string ContentSourceId(std::string_view prefix, const Poi& poi) {
  return fmt::format("{}{:016x}", prefix, Fnv1a64(PoiContentText(poi)));
}

}  // namespace nbi
