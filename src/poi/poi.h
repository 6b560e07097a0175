// Points of interest, the OSM tag -> category mapping of SPEC §4, and what makes a POI's
// identity and name (applied by every importer, see poi/import.h).
//
// Source ids. A POI is stored keyed by its source_id, so the id decides whether an import
// adds a POI or updates one. It never depends on the file name or the position in a file:
//   - OSM objects (OSM files, Overpass JSON, GeoJSON features with an "id" or "@id" such as
//     "node/123"): the OSM type letter and id, "n123", "w456".
//   - Everything else (CSV rows, GeoJSON features without an OSM id): a content key,
//     "<prefix><16 lower-case hex digits>" with the prefix "csv:" or "geojson:" and the
//     digits the 64-bit FNV-1a hash (offset basis 0xcbf29ce484222325, prime 0x100000001b3)
//     of the POI's canonical text (PoiContentText):
//         <lat>,<lng>,<category>,<name>
//     lat and lng with exactly 7 decimals (rounded to 1e-7 degree, OSM's precision; never
//     "-0.0000000"), the category as CSV writes it ("groceries", "healthcare:pharmacy"), and
//     the name after CleanPoiName. Example: "47.1000000,9.5000000,groceries,Super Eins" ->
//     "csv:4198c825d7d55eac". The hash is computed by hand, so the ids are the same on every
//     build and machine (std::hash is not). So the same row in two files is one POI,
//     re-importing a file updates its POIs, and moving or renaming a POI in a CSV makes it a
//     new POI (the old one stays until removed from the store).
//
// Names. CleanPoiName makes every stored name valid UTF-8 (each maximal ill-formed sequence
// replaced by U+FFFD, as the Unicode standard recommends), free of NUL bytes (dropped) and
// at most kMaxPoiNameBytes bytes (cut at a character boundary). PostgreSQL refuses NULs and
// invalid UTF-8 in text, and names are copied into every /api/score answer near the POI.
#pragma once

#include <array>
#include <cstddef>
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
  std::string source_id;  // "n123", "w456", or a content key "csv:…"/"geojson:…" (see above)
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
inline PoiPoint PointOf(const Poi& p) { return {p.lat, p.lng, p.category, p.sub}; }
inline std::vector<PoiPoint> PointsOf(const std::vector<Poi>& pois) {
  std::vector<PoiPoint> points;
  points.reserve(pois.size());
  for (const Poi& p : pois) points.push_back(PointOf(p));
  return points;
}

// ---- Names

inline constexpr size_t kMaxPoiNameBytes = 256;

// `raw` as a POI name: valid UTF-8, no NUL, at most kMaxPoiNameBytes bytes (see above).
// Stops reading `raw` once the limit is reached, so a huge name costs little.
std::string CleanPoiName(std::string_view raw);

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool IsValidUtf8(std::string_view text);

// ---- Source ids

// The 64-bit FNV-1a hash of `bytes`.
uint64_t Fnv1a64(std::string_view bytes);

// The canonical text "<lat>,<lng>,<category>,<name>" of a POI's content (see above). The
// name is used as it is: pass a POI whose name has been through CleanPoiName.
std::string PoiContentText(const Poi& poi);

// `prefix` followed by the 16 hex digits of Fnv1a64(PoiContentText(poi)).
std::string ContentSourceId(std::string_view prefix, const Poi& poi);

}  // namespace nbi
