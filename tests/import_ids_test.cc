// Tests of what every importer gives a POI (src/poi/poi.h, src/poi/import.h): source ids from
// the OSM type and id or from a content key, never from the file name or a line number (two
// files named pois.csv used to overwrite each other's POIs); names that are valid UTF-8,
// NUL-free and at most 256 bytes (a NUL or an invalid byte failed a whole file on
// PostgreSQL, and a 10 MB name went into every nearby /api/score answer). Part of import_test.
#include <gtest/gtest.h>

#include <filesystem>
#include <osmium/builder/attr.hpp>
#include <osmium/io/pbf_output.hpp>
#include <osmium/io/writer.hpp>
#include <osmium/memory/buffer.hpp>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "poi/import.h"
#include "poi/poi.h"
#include "test_util.h"

namespace nbi {
namespace {

namespace tu = nbi::testing;
using namespace std::string_literals;

const std::string kFffd = "\xEF\xBF\xBD";  // U+FFFD, the replacement character

// Writes `content` as `name` in `dir` (creating sub-directories) and imports it.
Result<std::vector<Poi>> ImportText(const tu::TempDir& dir, const std::string& name,
                                    const std::string& content, ImportStats* stats = nullptr) {
  std::filesystem::create_directories(std::filesystem::path(dir.File(name)).parent_path());
  tu::WriteFile(dir.File(name), content);
  return ImportPois(dir.File(name), stats);
}

std::vector<std::string> Ids(const std::vector<Poi>& pois) {
  std::vector<std::string> ids;
  for (const Poi& p : pois) ids.push_back(p.source_id);
  return ids;
}

std::set<std::string> IdSet(const std::vector<Poi>& pois) {
  std::set<std::string> ids;
  for (const Poi& p : pois) ids.insert(p.source_id);
  return ids;
}

// Expects a name as CleanPoiName promises it.
void ExpectCleanName(const std::string& name) {
  EXPECT_LE(name.size(), kMaxPoiNameBytes);
  EXPECT_TRUE(IsValidUtf8(name)) << name;
  EXPECT_EQ(name.find('\0'), std::string::npos) << name;
}

// ---- the hash and the canonical text -----------------------------------------------------

TEST(PoiIdsTest, Fnv1a64IsTheStandardHash) {
  // The published FNV-1a 64 test vectors.
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(PoiIdsTest, ContentTextAndKeyArePinned) {
  // The ids of stored POIs depend on these exact strings: a change here re-keys every CSV
  // and GeoJSON POI already imported. Hashes computed independently (Python).
  const Poi shop{"", Category::kGroceries, HealthSub::kNone, "Super Eins", 47.1, 9.5};
  EXPECT_EQ(PoiContentText(shop), "47.1000000,9.5000000,groceries,Super Eins");
  EXPECT_EQ(ContentSourceId("csv:", shop), "csv:4198c825d7d55eac");
  EXPECT_EQ(ContentSourceId("geojson:", shop), "geojson:4198c825d7d55eac");
  const Poi pharmacy{"",   Category::kHealthcare, HealthSub::kPharmacy, "Apotheke am Platz", 47.101,
                     9.501};
  EXPECT_EQ(PoiContentText(pharmacy), "47.1010000,9.5010000,healthcare:pharmacy,Apotheke am Platz");
  EXPECT_EQ(ContentSourceId("csv:", pharmacy), "csv:d6f9c8efb40412f5");
  const Poi stop{"", Category::kTransit, HealthSub::kNone, "Bus\r\nStation", -3, -4};
  EXPECT_EQ(ContentSourceId("csv:", stop), "csv:88571a271c27a63c");
}

TEST(PoiIdsTest, ContentTextRoundsToSevenDecimalsWithoutNegativeZero) {
  const std::pair<double, std::string> kCases[] = {
      {0, "0.0000000"},
      {-0.0, "0.0000000"},
      {-1e-9, "0.0000000"},
      {1e-9, "0.0000000"},
      {-3, "-3.0000000"},
      {47.12345674, "47.1234567"},
      {47.12345676, "47.1234568"},
      {-179.99999999, "-180.0000000"},
      {-0.0000001, "-0.0000001"},
  };
  for (const auto& [lat, text] : kCases) {
    const Poi p{"", Category::kParks, HealthSub::kNone, "", lat, 0};
    EXPECT_EQ(PoiContentText(p), text + ",0.0000000,parks,") << lat;
  }
  // Positions equal at 7 decimals are the same POI; 1e-7 apart they are not.
  Poi a{"", Category::kParks, HealthSub::kNone, "P", 47.1, 9.5};
  Poi b = a;
  b.lat += 1e-9;
  EXPECT_EQ(ContentSourceId("csv:", a), ContentSourceId("csv:", b));
  b.lat = 47.1000001;
  EXPECT_NE(ContentSourceId("csv:", a), ContentSourceId("csv:", b));
}

// ---- names -------------------------------------------------------------------------------

TEST(PoiNamesTest, CleanPoiNameRepairsEncoding) {
  const std::pair<std::string, std::string> kCases[] = {
      {"Café Zürich 😀", "Café Zürich 😀"},
      {"Bus\r\nStation", "Bus\r\nStation"},  // control characters other than NUL stay
      {"Shop\0Name"s, "ShopName"},
      {"\0\0\0"s, ""},
      {"Caf\xE9", "Caf" + kFffd},                           // Latin-1, not UTF-8
      {"\xFF\xFE", kFffd + kFffd},                          // never valid
      {"a\x80z", "a" + kFffd + "z"},                        // a lone continuation byte
      {"\xC0\x80", kFffd + kFffd},                          // overlong NUL: not dropped, replaced
      {"\xE0\x80\xAF", kFffd + kFffd + kFffd},              // overlong '/'
      {"\xED\xA0\x80", kFffd + kFffd + kFffd},              // a UTF-16 surrogate
      {"\xF4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd},  // above U+10FFFF
      {"x\xE2\x82", "x" + kFffd},                           // cut inside a character: one U+FFFD
      {"\xE2\x82"
       "A",
       kFffd + "A"},  // ... the next character survives
      {"\xF0\x9F\x98", kFffd},
  };
  for (const auto& [raw, clean] : kCases) {
    EXPECT_EQ(CleanPoiName(raw), clean) << raw;
    ExpectCleanName(CleanPoiName(raw));
  }
}

TEST(PoiNamesTest, CleanPoiNameCutsAtACharacterBoundary) {
  EXPECT_EQ(CleanPoiName(std::string(10 << 20, 'x')), std::string(kMaxPoiNameBytes, 'x'));
  EXPECT_EQ(CleanPoiName(std::string(kMaxPoiNameBytes, 'x')).size(), kMaxPoiNameBytes);
  std::string two_byte = "a";  // 1 + 2k bytes: the 128th "é" would end at byte 257
  for (int i = 0; i < 200; ++i) two_byte += "é";
  EXPECT_EQ(CleanPoiName(two_byte).size(), 255u);
  std::string four_byte = "ab";
  for (int i = 0; i < 100; ++i) four_byte += "😀";
  EXPECT_EQ(CleanPoiName(four_byte).size(), 254u);
  // A replacement character that no longer fits is left out whole.
  EXPECT_EQ(CleanPoiName(std::string(255, 'x') + "\xFF"), std::string(255, 'x'));
  for (const std::string& raw : {two_byte, four_byte, std::string(1000, '\xFF')}) {
    ExpectCleanName(CleanPoiName(raw));
  }
  EXPECT_TRUE(IsValidUtf8("Café 😀"));
  EXPECT_FALSE(IsValidUtf8("Caf\xE9"));
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));
}

// ---- source ids through the importers ----------------------------------------------------

const std::regex kCsvId("csv:[0-9a-f]{16}");
const std::regex kGeoJsonId("geojson:[0-9a-f]{16}");

TEST(ImportIdsTest, CsvIdsComeFromContentNotFileOrLine) {
  tu::TempDir dir;
  const std::string rows = "47.1,9.5,groceries,Alpha\n47.2,9.6,parks,\n47.3,9.7,transit,Stop\n";
  Result<std::vector<Poi>> first = ImportText(dir, "d1/pois.csv", rows);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 3u);
  for (const Poi& p : *first) {
    EXPECT_TRUE(std::regex_match(p.source_id, kCsvId)) << p.source_id;
    EXPECT_EQ(p.source_id, ContentSourceId("csv:", p));
  }
  // The same rows under another name, with a header, blank lines and in another order.
  Result<std::vector<Poi>> moved = ImportText(
      dir, "elsewhere/other.csv",
      "lat,lng,category,name\n\n47.3,9.7,transit,Stop\n\n47.1,9.5,groceries,Alpha\n47.2,9.6,parks,"
      "\n");
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(IdSet(*moved), IdSet(*first));
  // A file of the same name with other content: other ids.
  Result<std::vector<Poi>> other =
      ImportText(dir, "d2/pois.csv", "47.1,9.5,groceries,Beta\n47.1,9.5,restaurants,Alpha\n");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  ASSERT_EQ(other->size(), 2u);
  for (const std::string& id : Ids(*other)) EXPECT_EQ(IdSet(*first).count(id), 0u) << id;
}

TEST(ImportIdsTest, IdenticalRowsAreOnePoi) {
  tu::TempDir dir;
  ImportStats stats;
  Result<std::vector<Poi>> pois = ImportText(dir, "dup.csv",
                                             "47.1,9.5,groceries,Alpha\n"
                                             "47.2,9.6,parks,Park\n"
                                             "47.10000000001,9.5,groceries,Alpha\n"
                                             "47.1,9.5,groceries,Alpha\n",
                                             &stats);
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ASSERT_EQ(pois->size(), 2u);
  EXPECT_EQ((*pois)[0].name, "Alpha");
  EXPECT_EQ((*pois)[1].name, "Park");
  EXPECT_EQ(stats.nodes, 4u);
  EXPECT_EQ(stats.duplicates, 2u);
  EXPECT_EQ(stats.nodes + stats.ways - stats.duplicates, pois->size());
}

TEST(ImportIdsTest, GeoJsonIdsAreOsmIdsOrContentKeys) {
  tu::TempDir dir;
  auto feature = [](const std::string& id, const std::string& name) {
    return R"({"type": "Feature", )" + id +
           R"("geometry": {"type": "Point", "coordinates": [9.5, 47.1]},
              "properties": {"shop": "supermarket", "name": ")" +
           name + R"("}})";
  };
  const std::string a = feature("", "A"), b = feature("", "B");
  const std::string osm = feature(R"("id": "node/42", )", "C");
  auto collection = [](const std::vector<std::string>& features) {
    std::string s = R"({"type": "FeatureCollection", "features": [)";
    for (size_t i = 0; i < features.size(); ++i) s += (i ? "," : "") + features[i];
    return s + "]}";
  };
  Result<std::vector<Poi>> first = ImportText(dir, "d1/pois.geojson", collection({a, b, osm}));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 3u);
  EXPECT_TRUE(std::regex_match((*first)[0].source_id, kGeoJsonId)) << (*first)[0].source_id;
  EXPECT_EQ((*first)[0].source_id, ContentSourceId("geojson:", (*first)[0]));
  EXPECT_NE((*first)[0].source_id, (*first)[1].source_id);
  EXPECT_EQ((*first)[2].source_id, "n42");
  // The feature index does not matter; the same OSM node in Overpass JSON has the same id.
  Result<std::vector<Poi>> reordered = ImportText(dir, "d2/pois.geojson", collection({osm, b, a}));
  ASSERT_TRUE(reordered.ok()) << reordered.status().ToString();
  EXPECT_EQ(Ids(*reordered),
            (std::vector<std::string>{"n42", (*first)[1].source_id, (*first)[0].source_id}));
  Result<std::vector<Poi>> overpass =
      ImportText(dir, "d3/pois.json",
                 R"({"elements": [{"type": "node", "id": 42, "lat": 47.1, "lon": 9.5,
                                   "tags": {"shop": "supermarket"}}]})");
  ASSERT_TRUE(overpass.ok()) << overpass.status().ToString();
  EXPECT_EQ(Ids(*overpass), (std::vector<std::string>{"n42"}));
}

// ---- names through the importers ---------------------------------------------------------

TEST(ImportNamesTest, CsvNamesAreCleaned) {
  tu::TempDir dir;
  const std::string huge(10 << 20, 'x');
  Result<std::vector<Poi>> pois = ImportText(dir, "names.csv",
                                             "lat,lng,category,name\n"
                                             "47.1,9.5,groceries,\"Nul\0Byte\"\n"s
                                             "47.2,9.5,groceries,Caf\xE9\n"
                                             "47.3,9.5,groceries," +
                                                 huge + "\n");
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ASSERT_EQ(pois->size(), 3u);
  EXPECT_EQ((*pois)[0].name, "NulByte");
  EXPECT_EQ((*pois)[1].name, "Caf" + kFffd);
  EXPECT_EQ((*pois)[2].name, std::string(kMaxPoiNameBytes, 'x'));
  for (const Poi& p : *pois) ExpectCleanName(p.name);
  // The id is the content key of the stored (cleaned) name.
  EXPECT_EQ((*pois)[2].source_id, ContentSourceId("csv:", (*pois)[2]));
}

TEST(ImportNamesTest, JsonNamesAreCleaned) {
  tu::TempDir dir;
  const std::string huge(300, 'y');
  Result<std::vector<Poi>> geojson = ImportText(dir, "names.geojson",
                                                R"({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.5, 47.1]},
         "properties": {"shop": "supermarket", "name": "Nul\u0000Byte"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.5, 47.2]},
         "properties": {"shop": "supermarket", "name": ")" +
                                                    huge + R"("}}]})");
  ASSERT_TRUE(geojson.ok()) << geojson.status().ToString();
  ASSERT_EQ(geojson->size(), 2u);
  EXPECT_EQ((*geojson)[0].name, "NulByte");
  EXPECT_EQ((*geojson)[1].name, std::string(kMaxPoiNameBytes, 'y'));
  Result<std::vector<Poi>> overpass =
      ImportText(dir, "names.json",
                 R"({"elements": [{"type": "node", "id": 1, "lat": 47.1, "lon": 9.5,
                        "tags": {"shop": "supermarket", "name": "Nul\u0000Byte"}},
                       {"type": "node", "id": 2, "lat": 47.2, "lon": 9.5,
                        "tags": {"shop": "supermarket", "name": ")" +
                     huge + R"("}}]})");
  ASSERT_TRUE(overpass.ok()) << overpass.status().ToString();
  ASSERT_EQ(overpass->size(), 2u);
  EXPECT_EQ((*overpass)[0].name, "NulByte");
  EXPECT_EQ((*overpass)[1].name, std::string(kMaxPoiNameBytes, 'y'));
}

// OSM data is messy: PBF strings are bytes, and nothing checks their encoding.
TEST(ImportNamesTest, OsmNamesAreCleaned) {
  tu::TempDir dir;
  const std::string path = dir.File("names.osm.pbf");
  const std::string huge(1000, 'z');
  {
    using namespace osmium::builder::attr;  // NOLINT(google-build-using-namespace)
    osmium::memory::Buffer buffer{1024, osmium::memory::Buffer::auto_grow::yes};
    osmium::builder::add_node(buffer, _id(1), _location(9.5, 47.1), _tag("shop", "supermarket"),
                              _tag("name", "Caf\xE9 \xED\xA0\x80"));
    osmium::builder::add_node(buffer, _id(2), _location(9.5, 47.2), _tag("shop", "supermarket"),
                              _tag("name", huge.c_str()));
    osmium::io::Header header;
    header.set("generator", "import_ids_test");
    osmium::io::Writer writer{path, header, osmium::io::overwrite::allow};
    writer(std::move(buffer));
    writer.close();
  }
  Result<std::vector<Poi>> pois = ImportPois(path);
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ASSERT_EQ(pois->size(), 2u);
  EXPECT_EQ((*pois)[0].source_id, "n1");
  EXPECT_EQ((*pois)[0].name, "Caf" + kFffd + " " + kFffd + kFffd + kFffd);
  EXPECT_EQ((*pois)[1].source_id, "n2");
  EXPECT_EQ((*pois)[1].name, std::string(kMaxPoiNameBytes, 'z'));
}

}  // namespace
}  // namespace nbi
