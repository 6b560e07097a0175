// Tests of the POI importers (src/poi/import.h): every format on the fixtures of tests/data,
// malformed input of each format, and the real extracts of ../shared/data/osm when present.
#include "poi/import.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test_util.h"

namespace nbi {
namespace {

namespace tu = nbi::testing;

std::string DataFile(const std::string& name) { return tu::SourceDir() + "/tests/data/" + name; }

// ---- expectations ------------------------------------------------------------------------

struct ExpectedPoi {
  std::string id;  // "csv:" or "geojson:" alone: the content key of this POI (poi/poi.h)
  Category category;
  HealthSub sub;
  std::string name;
  double lat, lng;
};

// OSM positions are fixed-point with 1e-7 degree steps.
constexpr double kTolerance = 1e-7;

void ExpectPois(const std::vector<Poi>& actual, const std::vector<ExpectedPoi>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const ExpectedPoi& e = expected[i];
    const bool content_key = e.id == "csv:" || e.id == "geojson:";
    const std::string id =
        content_key ? ContentSourceId(e.id, {"", e.category, e.sub, e.name, e.lat, e.lng}) : e.id;
    SCOPED_TRACE("POI " + id + " (" + e.name + ")");
    EXPECT_EQ(actual[i].source_id, id);
    EXPECT_EQ(CategoryId(actual[i].category), CategoryId(expected[i].category));
    EXPECT_EQ(HealthSubId(actual[i].sub), HealthSubId(expected[i].sub));
    EXPECT_EQ(actual[i].name, expected[i].name);
    EXPECT_NEAR(actual[i].lat, expected[i].lat, kTolerance);
    EXPECT_NEAR(actual[i].lng, expected[i].lng, kTolerance);
  }
}

// The POIs of tests/data/pois.osm (and of pois_overpass.json, which holds the same data).
const std::vector<ExpectedPoi>& OsmFixturePois() {
  static const std::vector<ExpectedPoi> kPois = {
      {"n1", Category::kGroceries, HealthSub::kNone, "Super Eins", 47.1, 9.5},
      {"n2", Category::kHealthcare, HealthSub::kPharmacy, "Apotheke am Platz", 47.101, 9.501},
      {"n3", Category::kHealthcare, HealthSub::kDental, "", 47.102, 9.502},
      {"n4", Category::kHealthcare, HealthSub::kMedical, "Praxis Dr. Beck", 47.103, 9.503},
      // amenity=cafe + shop=convenience: shop is checked first.
      {"n6", Category::kGroceries, HealthSub::kNone, "Café Zürich", 47.105, 9.505},
      {"n7", Category::kTransit, HealthSub::kNone, "Zentrum", 47.106, 9.506},
      // Closed way 10-11-12-13-10: the repeated first node counts once.
      {"w100", Category::kGroceries, HealthSub::kNone, "Markthalle", 47.2005, 9.6015},
      // Nodes 12 and 14 share a position, which counts once.
      {"w101", Category::kParks, HealthSub::kNone, "", (47.2 + 47.201 + 47.3) / 3,
       (9.603 + 9.603 + 9.7) / 3},
      {"w103", Category::kHealthcare, HealthSub::kMedical, "Landesspital", 47.2505, 9.65},
      // Node 999 is not in the file: the way sits at its one present node.
      {"w104", Category::kEducation, HealthSub::kNone, "", 47.3, 9.7},
  };
  return kPois;
}

// Expects a failed import with `code` whose message names `path` and contains `fragment`.
template <typename T>
void ExpectError(const Result<T>& result, const std::string& path, std::string_view fragment = "",
                 StatusCode code = StatusCode::kInvalidArgument) {
  ASSERT_FALSE(result.ok()) << "expected an error for " << path;
  EXPECT_EQ(result.status().code(), code) << result.status().ToString();
  const std::string& message = result.status().message();
  EXPECT_NE(message.find(std::filesystem::path(path).filename().string()), std::string::npos)
      << "message does not name the file: " << message;
  EXPECT_NE(message.find(fragment), std::string::npos)
      << "message lacks '" << fragment << "': " << message;
}

// Writes `content` as `name` in `dir` and imports it with ImportPois.
Result<std::vector<Poi>> ImportText(const tu::TempDir& dir, const std::string& name,
                                    const std::string& content, ImportStats* stats = nullptr) {
  tu::WriteFile(dir.File(name), content);
  return ImportPois(dir.File(name), stats);
}

// ---- format detection and dispatch -------------------------------------------------------

TEST(DetectPoiFormatTest, ChoosesByExtension) {
  const std::pair<const char*, PoiFormat> kCases[] = {
      {"a.osm.pbf", PoiFormat::kOsm},     {"a.pbf", PoiFormat::kOsm},
      {"a.osm", PoiFormat::kOsm},         {"dir.x/a.osm.bz2", PoiFormat::kOsm},
      {"a.osm.gz", PoiFormat::kOsm},      {"A.OSM.PBF", PoiFormat::kOsm},
      {"a.geojson", PoiFormat::kGeoJson}, {"a.json", PoiFormat::kGeoJson},
      {"a.csv", PoiFormat::kCsv},         {"A.CSV", PoiFormat::kCsv},
  };
  for (const auto& [name, format] : kCases) {
    Result<PoiFormat> detected = DetectPoiFormat(name);
    ASSERT_TRUE(detected.ok()) << name << ": " << detected.status().ToString();
    EXPECT_EQ(*detected, format) << name;
  }
}

TEST(DetectPoiFormatTest, RejectsUnknownExtensions) {
  for (const char* name : {"pois.txt", "pois.csv.gz", "pois.gz", "pois", "pois.osm.zip"}) {
    ExpectError(DetectPoiFormat(name), name, "unknown POI file type");
  }
}

TEST(ImportPoisTest, UnknownExtensionIsInvalid) {
  tu::TempDir dir;
  ExpectError(ImportText(dir, "pois.txt", "47.1,9.5,groceries\n"), dir.File("pois.txt"),
              "unknown POI file type");
}

TEST(ImportPoisTest, MissingFileIsNotFound) {
  tu::TempDir dir;
  for (const char* name : {"none.osm.pbf", "none.osm", "none.geojson", "none.csv"}) {
    ExpectError(ImportPois(dir.File(name)), dir.File(name), "no such file", StatusCode::kNotFound);
  }
}

TEST(ImportPoisTest, DirectoryIsInvalid) {
  tu::TempDir dir;
  std::filesystem::create_directory(dir.File("folder.csv"));
  ExpectError(ImportPois(dir.File("folder.csv")), dir.File("folder.csv"), "not a regular file");
}

// ---- OSM ---------------------------------------------------------------------------------

class OsmFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OsmFixtureTest, ReadsNodesAndWays) {
  ImportStats stats;
  Result<std::vector<Poi>> pois = ImportPois(DataFile(GetParam()), &stats);
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ExpectPois(*pois, OsmFixturePois());
  EXPECT_EQ(stats.nodes, 6u);
  EXPECT_EQ(stats.ways, 4u);
}

TEST_P(OsmFixtureTest, ReportsProgressUpToTheFileSize) {
  const std::string path = DataFile(GetParam());
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  Result<std::vector<Poi>> pois = ImportOsm(path, nullptr, [&](uint64_t done, uint64_t total) {
    calls.push_back({done, total});
  });
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  const uint64_t size = std::filesystem::file_size(path);
  ASSERT_GE(calls.size(), 2u);
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].second, size);
    EXPECT_LE(calls[i].first, size);
    if (i > 0) {
      EXPECT_GE(calls[i].first, calls[i - 1].first);
    }
  }
  EXPECT_EQ(calls.back().first, size);
}

INSTANTIATE_TEST_SUITE_P(AllOsmEncodings, OsmFixtureTest,
                         ::testing::Values("pois.osm", "pois.osm.pbf", "pois.osm.gz",
                                           "pois.osm.bz2"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

TEST(ImportOsmTest, ClosedWaySitsAtTheMeanOfDistinctNodes) {
  tu::TempDir dir;
  // A triangle whose first node repeats as the last: counting it twice would give
  // lat (0+0+3+0)/4 = 0.75 instead of 1.
  Result<std::vector<Poi>> pois = ImportText(dir, "triangle.osm", R"(<osm version="0.6">
  <node id="1" lat="0" lon="0"/>
  <node id="2" lat="0" lon="3"/>
  <node id="3" lat="3" lon="0"/>
  <way id="9"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="1"/>
    <tag k="leisure" v="playground"/></way>
</osm>)");
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ASSERT_EQ(pois->size(), 1u);
  EXPECT_EQ((*pois)[0].source_id, "w9");
  EXPECT_EQ((*pois)[0].category, Category::kParks);
  EXPECT_NEAR((*pois)[0].lat, 1.0, kTolerance);
  EXPECT_NEAR((*pois)[0].lng, 1.0, kTolerance);
}

TEST(ImportOsmTest, WaysBeforeTheirNodesArePlacedToo) {
  // Overpass XML writes ways first and their nodes after (`out; >; out skel;`).
  tu::TempDir dir;
  ImportStats stats;
  Result<std::vector<Poi>> pois = ImportText(dir, "overpass.osm", R"(<osm version="0.6">
  <way id="5"><nd ref="2"/><nd ref="1"/><tag k="amenity" v="library"/></way>
  <node id="2" lat="10" lon="20"/>
  <node id="1" lat="12" lon="22"><tag k="shop" v="greengrocer"/></node>
</osm>)",
                                             &stats);
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ExpectPois(*pois, {{"n1", Category::kGroceries, HealthSub::kNone, "", 12, 22},
                     {"w5", Category::kEducation, HealthSub::kNone, "", 11, 21}});
  EXPECT_EQ(stats.nodes, 1u);
  EXPECT_EQ(stats.ways, 1u);
}

TEST(ImportOsmTest, NegativeIdsFromEditors) {
  tu::TempDir dir;
  Result<std::vector<Poi>> pois = ImportText(dir, "josm.osm", R"(<osm version="0.6">
  <node id="-1" lat="1" lon="1"><tag k="amenity" v="cinema"/></node>
  <node id="-2" lat="3" lon="3"/>
  <node id="7" lat="5" lon="5"/>
  <way id="-3"><nd ref="-1"/><nd ref="-2"/><nd ref="7"/><tag k="shop" v="mall"/></way>
</osm>)");
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ExpectPois(*pois, {{"n-1", Category::kEntertainment, HealthSub::kNone, "", 1, 1},
                     {"w-3", Category::kShopping, HealthSub::kNone, "", 3, 3}});
}

TEST(ImportOsmTest, BrokenXmlIsInvalid) {
  tu::TempDir dir;
  ExpectError(ImportText(dir, "broken.osm", R"(<osm version="0.6">
  <node id="1" lat="1" lon="1"><tag k="shop" v="supermarket"/></way>
</osm>)"),
              dir.File("broken.osm"), "XML");
  ExpectError(ImportText(dir, "not_osm.osm", "<html><body>hello</body></html>\n"),
              dir.File("not_osm.osm"));
  ExpectError(ImportText(dir, "empty.osm", ""), dir.File("empty.osm"));
}

TEST(ImportOsmTest, TruncatedXmlNeverSucceedsPartially) {
  // Every prefix of the file, plain or compressed, either fails or (when only the end of
  // the gzip trailer or the final newline is missing) still holds all the data. The plain
  // file is cut every few bytes only, to keep the test quick.
  tu::TempDir dir;
  Result<std::vector<Poi>> full = ImportPois(DataFile("pois.osm"));
  ASSERT_TRUE(full.ok());
  for (const std::string name : {"pois.osm", "pois.osm.gz", "pois.osm.bz2"}) {
    const std::string data = tu::ReadFile(DataFile(name));
    const std::string path = dir.File(name);
    const size_t step = name == "pois.osm" ? 7 : 1;
    int failures = 0, cuts = 0;
    for (size_t size = 0; size < data.size(); size += step, ++cuts) {
      SCOPED_TRACE(::testing::Message() << name << " cut at " << size << " bytes");
      tu::WriteFile(path, data.substr(0, size));
      Result<std::vector<Poi>> pois = ImportPois(path);
      if (pois.ok()) {
        ExpectPois(*pois, OsmFixturePois());
      } else {
        ++failures;
        ExpectError(pois, path);
      }
    }
    EXPECT_GE(failures, cuts - 8) << name;
  }
}

// Offsets at which the blobs of a PBF file end. Each blob is a 4-byte big-endian length, a
// BlobHeader of that length (a protobuf message whose field 3 is the size of the blob data)
// and the blob data.
std::vector<size_t> PbfBlobEnds(const std::string& pbf) {
  auto byte = [&pbf](size_t i) { return static_cast<uint8_t>(pbf.at(i)); };
  auto varint = [&byte](size_t* pos) {
    uint64_t value = 0;
    for (int shift = 0;; shift += 7) {
      const uint8_t b = byte((*pos)++);
      value |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return value;
    }
  };
  std::vector<size_t> ends;
  size_t pos = 0;
  while (pos < pbf.size()) {
    const size_t header_size =
        (size_t{byte(pos)} << 24) | (byte(pos + 1) << 16) | (byte(pos + 2) << 8) | byte(pos + 3);
    pos += 4;
    const size_t header_end = pos + header_size;
    uint64_t data_size = 0;
    while (pos < header_end) {
      const uint64_t key = varint(&pos);
      const uint64_t value = varint(&pos);  // a varint field, or the length of a bytes field
      if ((key & 7) == 2) pos += value;
      if (key == (3 << 3)) data_size = value;  // field 3 (datasize), wire type varint
    }
    pos = header_end + data_size;
    ends.push_back(pos);
  }
  EXPECT_EQ(pos, pbf.size());
  return ends;
}

TEST(ImportOsmTest, TruncatedPbfNeverSucceedsPartially) {
  // A PBF is a sequence of blobs: OSMHeader, then data blobs (osmium writes nodes and ways
  // into separate ones). A prefix ending exactly after a blob is itself a valid PBF and reads
  // as the objects it holds; every other cut must fail. libosmium alone accepts cuts 1-3
  // bytes into a blob's length as a clean end; ImportOsm catches those.
  tu::TempDir dir;
  const std::string pbf = tu::ReadFile(DataFile("pois.osm.pbf"));
  const std::vector<size_t> blob_ends = PbfBlobEnds(pbf);
  ASSERT_GE(blob_ends.size(), 3u);  // header, nodes, ways (and relations)
  Result<std::vector<Poi>> full = ImportPois(DataFile("pois.osm.pbf"));
  ASSERT_TRUE(full.ok());
  const std::string path = dir.File("cut.osm.pbf");
  for (size_t size = 0; size < pbf.size(); ++size) {
    SCOPED_TRACE(::testing::Message() << "cut at " << size << " of " << pbf.size() << " bytes");
    tu::WriteFile(path, pbf.substr(0, size));
    Result<std::vector<Poi>> pois = ImportPois(path);
    if (std::find(blob_ends.begin(), blob_ends.end(), size) != blob_ends.end()) {
      ASSERT_TRUE(pois.ok()) << pois.status().ToString();
      ASSERT_LE(pois->size(), full->size());
      for (size_t i = 0; i < pois->size(); ++i)
        EXPECT_EQ((*pois)[i].source_id, (*full)[i].source_id);
    } else {
      ExpectError(pois, path, size == 0 ? "empty" : "cannot read OSM data");
    }
  }
}

TEST(ImportOsmTest, GarbagePbfIsInvalid) {
  tu::TempDir dir;
  ExpectError(ImportText(dir, "text.osm.pbf", "this is not a protobuf file at all\n"),
              dir.File("text.osm.pbf"));
  std::string pbf = tu::ReadFile(DataFile("pois.osm.pbf"));
  for (size_t i = pbf.size() / 2; i < pbf.size(); ++i) pbf[i] = static_cast<char>(pbf[i] ^ 0x5a);
  ExpectError(ImportText(dir, "flipped.osm.pbf", pbf), dir.File("flipped.osm.pbf"));
}

TEST(ImportOsmTest, UncompressedDataUnderACompressedName) {
  tu::TempDir dir;
  const std::string xml = tu::ReadFile(DataFile("pois.osm"));
  ExpectError(ImportText(dir, "plain.osm.bz2", xml), dir.File("plain.osm.bz2"), "bzip2");
  // zlib's gzread passes data without a gzip header through unchanged.
  Result<std::vector<Poi>> pois = ImportText(dir, "plain.osm.gz", xml);
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ExpectPois(*pois, OsmFixturePois());
}

TEST(ImportOsmTest, BadNodeLocationIsInvalid) {
  tu::TempDir dir;
  ExpectError(ImportText(dir, "lat.osm", R"(<osm version="0.6">
  <node id="4" lat="95" lon="9"><tag k="shop" v="supermarket"/></node>
</osm>)"),
              dir.File("lat.osm"), "node n4: latitude 95");
  ExpectError(ImportText(dir, "noloc.osm", R"(<osm version="0.6">
  <node id="5"><tag k="shop" v="supermarket"/></node>
</osm>)"),
              dir.File("noloc.osm"), "node n5 has no location");
  ExpectError(ImportText(dir, "waynode.osm", R"(<osm version="0.6">
  <node id="1" lat="1" lon="1"/>
  <node id="2" lat="1" lon="200"/>
  <way id="3"><nd ref="1"/><nd ref="2"/><tag k="shop" v="supermarket"/></way>
</osm>)"),
              dir.File("waynode.osm"), "way w3: node n2 has a location out of range");
}

TEST(ImportOsmTest, WayWithoutAnyNodeInTheFileIsInvalid) {
  tu::TempDir dir;
  ExpectError(ImportText(dir, "lonely.osm", R"(<osm version="0.6">
  <node id="1" lat="1" lon="1"/>
  <way id="8"><nd ref="2"/><nd ref="3"/><tag k="shop" v="supermarket"/></way>
</osm>)"),
              dir.File("lonely.osm"), "way w8");
}

TEST(ImportOsmTest, ConcurrentImportsAgree) {
  std::vector<std::future<Result<std::vector<Poi>>>> runs;
  for (int i = 0; i < 4; ++i) {
    const char* name = i % 2 ? "pois.osm.pbf" : "pois.osm.bz2";
    runs.push_back(std::async(std::launch::async, [name] { return ImportPois(DataFile(name)); }));
  }
  for (auto& run : runs) {
    Result<std::vector<Poi>> pois = run.get();
    ASSERT_TRUE(pois.ok()) << pois.status().ToString();
    ExpectPois(*pois, OsmFixturePois());
  }
}

// ---- GeoJSON and Overpass ----------------------------------------------------------------

TEST(ImportGeoJsonTest, ReadsPointsAndShapes) {
  ImportStats stats;
  Result<std::vector<Poi>> pois = ImportPois(DataFile("pois.geojson"), &stats);
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ExpectPois(
      *pois,
      {
          {"n1", Category::kGroceries, HealthSub::kNone, "Super Eins", 47.1, 9.5},
          {"n2", Category::kHealthcare, HealthSub::kPharmacy, "Apotheke am Platz", 47.101, 9.501},
          {"geojson:", Category::kHealthcare, HealthSub::kDental, "", 47.102, 9.502},
          {"geojson:", Category::kHealthcare, HealthSub::kMedical, "Praxis Dr. Beck", 47.103,
           9.503},
          {"geojson:", Category::kGroceries, HealthSub::kNone, "Café Zürich", 47.105, 9.505},
          {"geojson:", Category::kTransit, HealthSub::kNone, "Zentrum", 47.106, 9.506},
          // Polygon: distinct vertices of the outer ring; the hole is ignored.
          {"w100", Category::kGroceries, HealthSub::kNone, "Markthalle", 47.2005, 9.6015},
          {"geojson:", Category::kParks, HealthSub::kNone, "", (47.2 + 47.201 + 47.3) / 3,
           (9.603 + 9.603 + 9.7) / 3},
      });
  EXPECT_EQ(stats.nodes, 6u);
  EXPECT_EQ(stats.ways, 2u);
}

TEST(ImportGeoJsonTest, ReadsOverpassJson) {
  ImportStats stats;
  Result<std::vector<Poi>> pois = ImportPois(DataFile("pois_overpass.json"), &stats);
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  // Nodes at lat/lon; ways at "center", the mean of "geometry" points or of their "nodes".
  ExpectPois(*pois, OsmFixturePois());
  EXPECT_EQ(stats.nodes, 6u);
  EXPECT_EQ(stats.ways, 4u);
}

TEST(ImportGeoJsonTest, CategoryPropertyForms) {
  tu::TempDir dir;
  Result<std::vector<Poi>> pois = ImportText(dir, "forms.geojson", R"({
  "type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
     "properties": {"category": "shop=greengrocer"}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
     "properties": {"category": "healthcare"}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
     "properties": {"category": "parks", "leisure": "bowling_alley"}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
     "properties": {"category": "no such thing", "amenity": "bar"}}
  ]})");
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ExpectPois(*pois, {
                        {"geojson:", Category::kGroceries, HealthSub::kNone, "", 2, 1},
                        {"geojson:", Category::kHealthcare, HealthSub::kNone, "", 2, 1},
                        // An explicit category wins over tags ...
                        {"geojson:", Category::kParks, HealthSub::kNone, "", 2, 1},
                        // ... and tags stand in for one that is not ours.
                        {"geojson:", Category::kRestaurants, HealthSub::kNone, "", 2, 1},
                    });
}

TEST(ImportGeoJsonTest, BadJsonIsInvalid) {
  tu::TempDir dir;
  ExpectError(
      ImportText(dir, "bad.geojson", "{\"type\": \"FeatureCollection\",\n \"features\": [}"),
      dir.File("bad.geojson"), "invalid JSON: parse error at line 2");
  ExpectError(ImportText(dir, "empty.json", ""), dir.File("empty.json"), "invalid JSON");
  ExpectError(ImportText(dir, "array.json", "[1, 2]"), dir.File("array.json"),
              "neither a GeoJSON FeatureCollection nor Overpass JSON");
  ExpectError(ImportText(dir, "nofeatures.geojson", R"({"type": "FeatureCollection"})"),
              dir.File("nofeatures.geojson"), "\"features\"");
}

TEST(ImportGeoJsonTest, BadFeaturesNameTheirIndex) {
  tu::TempDir dir;
  auto collection = [](const std::string& second_feature) {
    return R"({"type": "FeatureCollection", "features": [
      {"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.5, 47.1]},
       "properties": {"shop": "supermarket"}},
      )" + second_feature +
           "]}";
  };
  const std::pair<std::string, std::string> kCases[] = {
      {R"({"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.5, 95]},
          "properties": {"shop": "supermarket"}})",
       "feature 1: position: latitude 95 is outside"},
      {R"({"type": "Feature", "geometry": {"type": "Point", "coordinates": [190, 47]},
          "properties": {"shop": "supermarket"}})",
       "feature 1: position: longitude 190 is outside"},
      {R"({"type": "Feature", "geometry": {"type": "Point", "coordinates": ["9.5", "47.1"]},
          "properties": {"shop": "supermarket"}})",
       "feature 1: a position must be an array"},
      {R"({"type": "Feature", "geometry": null, "properties": {"shop": "supermarket"}})",
       "feature 1: the feature has a category but no geometry"},
      {R"({"type": "Feature", "geometry": {"type": "Circle", "coordinates": [1, 2]},
          "properties": {"shop": "supermarket"}})",
       "feature 1: unsupported geometry type 'Circle'"},
      {R"({"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
          "properties": {"category": "grocery"}})",
       "feature 1: unknown category 'grocery'"},
      {R"({"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
          "properties": {"category": "groceries", "subtype": "pharmacy"}})",
       "feature 1: \"subtype\" is only allowed with category healthcare"},
      {R"({"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
          "properties": {"category": "healthcare", "subtype": "vet"}})",
       "feature 1: \"subtype\" must be one of"},
      {R"({"type": "Polygon", "coordinates": []})", "feature 1: not a GeoJSON Feature"},
  };
  for (const auto& [feature, message] : kCases) {
    ExpectError(ImportText(dir, "bad.geojson", collection(feature)), dir.File("bad.geojson"),
                message);
  }
}

TEST(ImportGeoJsonTest, BadOverpassElementsNameTheirIndex) {
  tu::TempDir dir;
  const std::pair<std::string, std::string> kCases[] = {
      {R"({"type": "node", "id": 5, "lat": 91.5, "lon": 9, "tags": {"shop": "supermarket"}})",
       "element 1: node n5: latitude 91.5 is outside"},
      {R"({"type": "node", "id": 5, "tags": {"shop": "supermarket"}})",
       "element 1: node n5 needs numeric \"lat\" and \"lon\""},
      {R"({"type": "way", "id": 6, "tags": {"shop": "supermarket"}})",
       "element 1: way w6: a way needs \"center\", \"geometry\" or \"nodes\""},
      {R"({"type": "way", "id": 6, "nodes": [77, 78], "tags": {"shop": "supermarket"}})",
       "element 1: way w6: none of its 2 node(s) is in the file"},
      {R"({"type": "way", "id": 6, "center": {"lat": 47, "lon": -181},
           "tags": {"shop": "supermarket"}})",
       "element 1: way w6: center: longitude -181 is outside"},
      {R"({"type": "node", "lat": 47, "lon": 9})", "element 1: node needs an integer \"id\""},
      {R"("node")", "element 1: not an object"},
  };
  for (const auto& [element, message] : kCases) {
    const std::string json = R"({"elements": [
      {"type": "node", "id": 1, "lat": 47.1, "lon": 9.5, "tags": {"shop": "supermarket"}},
      )" + element + "]}";
    ExpectError(ImportText(dir, "bad.json", json), dir.File("bad.json"), message);
  }
}

// ---- CSV ---------------------------------------------------------------------------------

TEST(ImportCsvTest, ReadsFixture) {
  ImportStats stats;
  Result<std::vector<Poi>> pois = ImportPois(DataFile("pois.csv"), &stats);
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ExpectPois(
      *pois,
      {
          {"csv:", Category::kGroceries, HealthSub::kNone, "Super Eins", 47.1, 9.5},
          {"csv:", Category::kHealthcare, HealthSub::kPharmacy, "Apotheke am Platz", 47.101, 9.501},
          {"csv:", Category::kHealthcare, HealthSub::kDental, "", 47.102, 9.502},
          {"csv:", Category::kHealthcare, HealthSub::kMedical, "Praxis \"Dr.\" Beck, Vaduz", 47.103,
           9.503},
          {"csv:", Category::kGroceries, HealthSub::kNone, "Café Zürich", 47.105, 9.505},
          {"csv:", Category::kTransit, HealthSub::kNone, "Zentrum", 47.106, 9.506},
          {"csv:", Category::kGroceries, HealthSub::kNone, "Markthalle", 47.2005, 9.6015},
      });
  EXPECT_EQ(stats.nodes, 7u);
  EXPECT_EQ(stats.ways, 0u);
}

TEST(ImportCsvTest, HeaderlessCrlfBomAndMultilineQuotes) {
  tu::TempDir dir;
  Result<std::vector<Poi>> pois = ImportText(dir, "plain.csv",
                                             "\xEF\xBB\xBF"
                                             "1.5,2.5,restaurants\r\n"
                                             "-3,-4,amenity=bus_station,\"Bus\r\nStation\"\r\n"
                                             "5,6,education,\"\"\r\n"
                                             "7,8,leisure=fitness_centre,Gym");
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  ExpectPois(*pois, {
                        {"csv:", Category::kRestaurants, HealthSub::kNone, "", 1.5, 2.5},
                        {"csv:", Category::kTransit, HealthSub::kNone, "Bus\r\nStation", -3, -4},
                        // The quoted name spans two lines; the next record follows it.
                        {"csv:", Category::kEducation, HealthSub::kNone, "", 5, 6},
                        {"csv:", Category::kParks, HealthSub::kNone, "Gym", 7, 8},
                    });
}

TEST(ImportCsvTest, EmptyFileHasNoPois) {
  tu::TempDir dir;
  for (const char* content : {"", "lat,lng,category\n", "\n\n"}) {
    Result<std::vector<Poi>> pois = ImportText(dir, "empty.csv", content);
    ASSERT_TRUE(pois.ok()) << pois.status().ToString();
    EXPECT_TRUE(pois->empty());
  }
}

TEST(ImportCsvTest, ErrorsNameFileAndLine) {
  tu::TempDir dir;
  const std::pair<std::string, std::string> kCases[] = {
      {"lat,lng,category\n1,2,groceries\n1,2\n", "bad.csv:3: expected 3 columns"},
      {"1,2,groceries,a,b\n", "bad.csv:1: expected 3 or 4 columns"},
      {"lat,lng,category,name\n1,2,groceries,a,b\n", "bad.csv:2: expected 4 columns"},
      {"1,2,groceries\nnorth,2,groceries\n", "bad.csv:2: latitude 'north' is not a number"},
      {"1,2,groceries\n1,2e,groceries\n", "bad.csv:2: longitude '2e' is not a number"},
      {"1,2,groceries\n91,2,groceries\n", "bad.csv:2: latitude 91 is outside"},
      {"1,2,groceries\nnan,2,groceries\n", "bad.csv:2: latitude and longitude must be finite"},
      {"1,2,grocery\n", "bad.csv:1: unknown category 'grocery'"},
      {"1,2,shop=bakery\n", "bad.csv:1: OSM tag 'shop=bakery' is not one of"},
      {"1,2,parks:pharmacy\n", "bad.csv:1: bad category 'parks:pharmacy'"},
      {"1,2,healthcare:vet\n", "bad.csv:1: bad category 'healthcare:vet'"},
      {"1,2,groceries\n3,4,groceries,\"open\n", "bad.csv:2: unterminated quoted field"},
      {"1,2,groceries,\"a\"b\n", "bad.csv:1: unexpected text after a closing quote"},
      {"latitude,longitude,kind\n1,2,groceries\n", "bad.csv:1: expected the header"},
  };
  for (const auto& [content, message] : kCases) {
    ExpectError(ImportText(dir, "bad.csv", content), dir.File("bad.csv"), message);
  }
}

TEST(ImportPoisTest, ReportsCompletionForInMemoryFormats) {
  const std::string path = DataFile("pois.csv");
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  ASSERT_TRUE(ImportPois(path, nullptr, [&](uint64_t d, uint64_t t) {
                calls.push_back({d, t});
              }).ok());
  const uint64_t size = std::filesystem::file_size(path);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], std::make_pair(size, size));
}

// ---- real extracts -----------------------------------------------------------------------

struct Extract {
  const char* file;
  size_t groceries;
  int nodes, ways;                            // -1 where the README does not say
  double min_lng, min_lat, max_lng, max_lat;  // the README's grocery bbox
};

TEST(RealExtractsTest, GroceryCountsMatchTheReadme) {
  NBI_REQUIRE_OSM_DIR(dir);
  // ../shared/data/osm/README.md, "groceries as SPEC §4 counts them (no marketplace)".
  const Extract kExtracts[] = {
      {"liechtenstein-2013-08-03.osm.pbf", 16, 13, 3, 9.4953, 47.0619, 9.5468, 47.2324},
      {"porto.osm.pbf", 96, 66, 30, -8.6208, 41.1238, -8.5943, 41.1569},
      {"andorra.osm.pbf", 47, -1, -1, 1.4815, 42.4474, 1.7355, 42.5796},
      {"helsinki.osm.pbf", 16, -1, -1, 24.9368, 60.1648, 24.9528, 60.1788},
      {"monaco.osm.pbf", 12, -1, -1, 7.4170, 43.7308, 7.4330, 43.7485},
  };
  // The README's boxes are rounded to 4 decimals and include marketplaces.
  constexpr double kSlack = 1e-4;
  for (const Extract& e : kExtracts) {
    SCOPED_TRACE(e.file);
    ImportStats stats;
    Result<std::vector<Poi>> pois = ImportPois((*dir / e.file).string(), &stats);
    ASSERT_TRUE(pois.ok()) << pois.status().ToString();
    EXPECT_EQ(stats.nodes + stats.ways - stats.duplicates, pois->size());
    int nodes = 0, ways = 0;
    for (const Poi& p : *pois) {
      if (p.category != Category::kGroceries) continue;
      ++(p.source_id[0] == 'n' ? nodes : ways);
      EXPECT_GE(p.lng, e.min_lng - kSlack) << p.source_id;
      EXPECT_LE(p.lng, e.max_lng + kSlack) << p.source_id;
      EXPECT_GE(p.lat, e.min_lat - kSlack) << p.source_id;
      EXPECT_LE(p.lat, e.max_lat + kSlack) << p.source_id;
    }
    EXPECT_EQ(static_cast<size_t>(nodes + ways), e.groceries);
    if (e.nodes >= 0) {
      EXPECT_EQ(nodes, e.nodes);
    }
    if (e.ways >= 0) {
      EXPECT_EQ(ways, e.ways);
    }
  }
}

TEST(RealExtractsTest, WaysSitAtTheMeanOfTheirDistinctNodes) {
  NBI_REQUIRE_OSM_DIR(dir);
  // The three grocery ways of Liechtenstein, placed independently: nodes fetched with
  // `osmium getid -r`, mean of the distinct node positions taken by hand.
  const std::pair<const char*, std::pair<double, double>> kWays[] = {
      {"w2008", {47.1752806, 9.5096422}},  // 6 node refs, 5 distinct (closed)
      {"w2570", {47.1547324, 9.5098562}},  // 5 refs, 4 distinct
      {"w6111", {47.1087415, 9.5256445}},  // 13 refs, 12 distinct
  };
  Result<std::vector<Poi>> pois = ImportPois((*dir / "liechtenstein-2013-08-03.osm.pbf").string());
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  for (const auto& [id, pos] : kWays) {
    auto it = std::find_if(pois->begin(), pois->end(),
                           [id = id](const Poi& p) { return p.source_id == id; });
    ASSERT_NE(it, pois->end()) << id;
    EXPECT_EQ(it->category, Category::kGroceries) << id;
    EXPECT_NEAR(it->lat, pos.first, 1e-7) << id;
    EXPECT_NEAR(it->lng, pos.second, 1e-7) << id;
  }
}

TEST(RealExtractsTest, TruncatedExtractIsInvalid) {
  NBI_REQUIRE_OSM_DIR(dir);
  const std::string pbf = tu::ReadFile((*dir / "porto.osm.pbf").string());
  tu::TempDir tmp;
  for (size_t size : {pbf.size() / 3, pbf.size() / 2, pbf.size() - 1}) {
    SCOPED_TRACE(size);
    ExpectError(ImportText(tmp, "porto.osm.pbf", pbf.substr(0, size)), tmp.File("porto.osm.pbf"),
                "cannot read OSM data");
  }
}

}  // namespace
}  // namespace nbi
