// Heatmap tiles end to end (src/http/tile_routes.h) on both stores, through a real `serve`:
// a tile's pixels at cell centres have the SPEC colour of the cell's score (decoded with
// libpng) over the generated city at zooms 12-16; ETag, 304, 204 and the cache headers; after
// `--reset --force` and a new job (with new POIs) the ETags of the area's tiles change and the
// tiles show the new cells; /api/heatmap?level=auto never answers too_many_cells.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "http_test_util.h"
#include "tiles/tiles.h"

namespace nbi {
namespace {

using testing::json;
using testing::Reply;
using testing::ServerProcess;
using testing::Shortest;

class TilesTest : public testing::HttpTest {
 protected:
  // The stored cells (level 0) of the box.
  static json CellsOf(const ServerProcess& s, const BBox& b, double step) {
    Reply r = s.Get("/api/heatmap?minLat=" + Shortest(b.min_lat) +
                    "&minLng=" + Shortest(b.min_lng) + "&maxLat=" + Shortest(b.max_lat) +
                    "&maxLng=" + Shortest(b.max_lng) + "&gridStep=" + Shortest(step));
    EXPECT_EQ(r.status, 200) << r.text;
    return r.body["cells"];
  }
  static std::string TilePath(double step, int z, int64_t x, int64_t y) {
    return "/tiles/grocery/" + Shortest(step) + "/" + std::to_string(z) + "/" + std::to_string(x) +
           "/" + std::to_string(y) + ".png";
  }
  static double GlobalX(double lng, int z) { return (lng + 180) / 360 * 256 * std::ldexp(1, z); }
  static double GlobalY(double lat, int z) {
    const double r = lat * kDegToRad;
    return (1 - std::asinh(std::tan(r)) / kPi) / 2 * 256 * std::ldexp(1, z);
  }
  // Checks, for every cell of `cells`, the pixel of its tile at zoom z that holds its centre:
  // the SPEC colour of its score, or transparent below 30. Returns the cells checked.
  int CheckPixels(const ServerProcess& s, double step, int z, const json& cells);
};

int TilesTest::CheckPixels(const ServerProcess& s, double step, int z, const json& cells) {
  std::map<std::pair<int64_t, int64_t>, tiles::Rgba> tiles_seen;
  int checked = 0, failures = 0;
  for (const json& c : cells) {
    const double gx = GlobalX(c["lng"].get<double>(), z);
    const double gy = GlobalY(c["lat"].get<double>(), z);
    const int64_t tx = static_cast<int64_t>(gx) / 256, ty = static_cast<int64_t>(gy) / 256;
    auto it = tiles_seen.find({tx, ty});
    if (it == tiles_seen.end()) {
      Reply r = s.Get(TilePath(step, z, tx, ty));
      tiles::Rgba img;
      if (r.status == 200) {
        EXPECT_EQ(r.headers.find("Content-Type")->second, "image/png");
        auto decoded = tiles::DecodePng(r.text);
        EXPECT_TRUE(decoded.ok()) << decoded.status().ToString();
        if (decoded.ok()) img = *decoded;
      } else {
        EXPECT_EQ(r.status, 204) << TilePath(step, z, tx, ty) << " " << r.text;
      }
      it = tiles_seen.emplace(std::make_pair(tx, ty), std::move(img)).first;
    }
    const int score = c["score"].get<int>();
    const auto want = tiles::ScoreColour(score);
    const tiles::Rgba& img = it->second;
    const int px = static_cast<int>(gx) % 256, py = static_cast<int>(gy) % 256;
    std::array<uint8_t, 4> got{0, 0, 0, 0};
    if (img.width == 256) std::copy_n(&img.px[(py * 256 + px) * 4], 4, got.begin());
    const bool ok = want ? (got[3] == 255 && got[0] == (*want)[0] && got[1] == (*want)[1] &&
                            got[2] == (*want)[2])
                         : got[3] == 0;
    if (!ok && ++failures <= 5) {
      ADD_FAILURE() << "z" << z << " cell " << c.dump() << " pixel " << int(got[0]) << ","
                    << int(got[1]) << "," << int(got[2]) << "," << int(got[3]);
    }
    ++checked;
  }
  EXPECT_EQ(failures, 0) << "zoom " << z;
  return checked;
}

TEST_P(TilesTest, TilePixelsHaveTheColoursOfTheCellsAtZoom12To16) {
  const std::string csv = dir_.File("generated.csv");
  Cli("generate-city --out " + csv);
  Cli("import " + csv);
  // 0.03 x 0.04 degrees in the generated city's centre at 0.0005: 4,800 cells.
  const BBox area{47.085, 9.50, 47.115, 9.54};
  const double step = 0.0005;
  Cli("schedule --bbox " + area.ToString() + " --grid-step 0.0005");
  Cli("process-jobs");
  ServerProcess& s = Start({}, {"--no-worker"});
  const json cells = CellsOf(s, area, step);
  ASSERT_EQ(cells.size(), 4800u);
  int drawn = 0;
  for (const json& c : cells) drawn += c["score"].get<int>() >= 30;
  ASSERT_GT(drawn, 100) << "the generated city should have well-served cells here";
  for (int z = 12; z <= 16; ++z) EXPECT_EQ(CheckPixels(s, step, z, cells), 4800) << z;

  // Headers: ETag + Cache-Control; If-None-Match -> 304; the LRU answers the same bytes.
  const std::string path = TilePath(step, 14, static_cast<int64_t>(GlobalX(9.52, 14)) / 256,
                                    static_cast<int64_t>(GlobalY(47.1, 14)) / 256);
  Reply first = s.Get(path), again = s.Get(path);
  ASSERT_EQ(first.status, 200);
  const std::string etag = first.headers.find("ETag")->second;
  EXPECT_FALSE(etag.empty());
  EXPECT_EQ(first.headers.find("Cache-Control")->second, "public, no-cache");
  EXPECT_EQ(again.text, first.text);
  EXPECT_EQ(again.headers.find("ETag")->second, etag);
  Reply cached = s.Get(path, {{"If-None-Match", etag}});
  EXPECT_EQ(cached.status, 304);
  EXPECT_TRUE(cached.text.empty());
  // A tile with no cell: 204, no body.
  Reply empty = s.Get(TilePath(step, 10, 0, 0));
  EXPECT_EQ(empty.status, 204);
  EXPECT_TRUE(empty.text.empty());
  // Zoomed out (overview levels) the area is drawn too, and level=auto never refuses.
  Reply low = s.Get(TilePath(step, 8, static_cast<int64_t>(GlobalX(9.52, 8)) / 256,
                             static_cast<int64_t>(GlobalY(47.1, 8)) / 256));
  EXPECT_EQ(low.status, 200);
  Reply world = s.Get(
      "/api/heatmap?minLat=-80&minLng=-179&maxLat=80&maxLng=179&gridStep=0.0005"
      "&level=auto");
  ASSERT_EQ(world.status, 200) << world.text;
  EXPECT_GT(world.body["level"].get<int>(), 0);
  EXPECT_GT(world.body["count"].get<int>(), 0);
  EXPECT_EQ(world.body["cellStep"].get<double>(),
            step * std::ldexp(1, world.body["level"].get<int>()));
}

TEST_P(TilesTest, AfterResetForceAndANewJobTheEtagsChangeAndTilesShowTheNewCells) {
  ServerProcess& s = Start();
  const BBox area{47.09, 9.49, 47.11, 9.51};
  const double step = 0.0005;
  const std::string body = R"({"bounds": {"minLat": 47.09, "minLng": 9.49, "maxLat": 47.11, )"
                           R"("maxLng": 9.51}, "gridStep": 0.0005)";
  Reply a = s.Post("/api/heatmap/schedule", body + "}");
  ASSERT_EQ(a.status, 201) << a.text;
  WaitForJob(s, a.body["jobId"].get<int64_t>(), "completed");
  const json before = CellsOf(s, area, step);
  ASSERT_EQ(before.size(), 1600u);
  const int64_t x14 = static_cast<int64_t>(GlobalX(9.5, 14)) / 256;
  const int64_t y14 = static_cast<int64_t>(GlobalY(47.1, 14)) / 256;
  const int64_t x8 = static_cast<int64_t>(GlobalX(9.5, 8)) / 256;
  const int64_t y8 = static_cast<int64_t>(GlobalY(47.1, 8)) / 256;
  Reply close1 = s.Get(TilePath(step, 14, x14, y14)), far1 = s.Get(TilePath(step, 8, x8, y8));
  ASSERT_EQ(close1.status, 200);
  ASSERT_EQ(far1.status, 200);

  // New groceries in the area, then reset + force: the new job's cells differ.
  const std::string more = dir_.File("more.csv");
  testing::WriteFile(more,
                     "lat,lng,category,name\n47.106,9.506,groceries,N1\n47.1062,9.5058,groceries,"
                     "N2\n47.1058,9.5063,groceries,N3\n47.0935,9.4935,groceries,N4\n");
  Cli("import " + more);
  Reply b = s.Post("/api/heatmap/schedule", body + R"(, "reset": true, "force": true})");
  ASSERT_EQ(b.status, 201) << b.text;
  WaitForJob(s, b.body["jobId"].get<int64_t>(), "completed");
  const json after = CellsOf(s, area, step);
  ASSERT_EQ(after.size(), 1600u);
  int changed = 0;
  for (size_t k = 0; k < after.size(); ++k) changed += after[k]["score"] != before[k]["score"];
  ASSERT_GT(changed, 0);

  Reply close2 = s.Get(TilePath(step, 14, x14, y14)), far2 = s.Get(TilePath(step, 8, x8, y8));
  ASSERT_EQ(close2.status, 200);
  EXPECT_NE(close2.headers.find("ETag")->second, close1.headers.find("ETag")->second);
  EXPECT_NE(far2.headers.find("ETag")->second, far1.headers.find("ETag")->second);
  EXPECT_NE(close2.text, close1.text);
  // The old ETag no longer validates.
  EXPECT_EQ(
      s.Get(TilePath(step, 14, x14, y14), {{"If-None-Match", close1.headers.find("ETag")->second}})
          .status,
      200);
  for (int z : {12, 14, 16}) EXPECT_EQ(CheckPixels(s, step, z, after), 1600) << z;
}

// SPEC §7: an area whose cells are all below 30 is outlined (pixels just outside its cells),
// its inside stays transparent unless ?low=1 asks for the faint cells; the city holding it is
// listed by /api/heatmap/cities for its model and step only.
TEST_P(TilesTest, AnAreaWithEveryCellBelow30IsOutlinedAndItsCityListed) {
  // No POI within kilometres: every cell scores 0.
  const BBox area{10.0, 10.0, 10.02, 10.03};
  const double step = 0.0005;
  Cli("cities add empty-town --name 'Empty town' --bbox " + area.ToString());
  Cli("schedule --city empty-town --grid-step 0.0005");
  Cli("process-jobs");
  ServerProcess& s = Start({}, {"--no-worker"});
  for (const auto& c : CellsOf(s, area, step)) ASSERT_LT(c["score"].get<int>(), 30);
  auto rgba = [](const tiles::Rgba& img, int px, int py) {
    return std::array<uint8_t, 4>{img.px[(py * 256 + px) * 4], img.px[(py * 256 + px) * 4 + 1],
                                  img.px[(py * 256 + px) * 4 + 2], img.px[(py * 256 + px) * 4 + 3]};
  };
  // z14: the area spans about 2 x 2 tiles; count outline, faint and band pixels over them.
  const int z = 14;
  int outline = 0, faint = 0, bands = 0, inside = 0;
  for (bool low : {false, true}) {
    for (int64_t x = static_cast<int64_t>(GlobalX(10.0, z)) / 256;
         x <= static_cast<int64_t>(GlobalX(10.03, z)) / 256; ++x) {
      for (int64_t y = static_cast<int64_t>(GlobalY(10.02, z)) / 256;
           y <= static_cast<int64_t>(GlobalY(10.0, z)) / 256; ++y) {
        Reply r = s.Get(TilePath(step, z, x, y) + (low ? "?low=1" : ""));
        if (r.status == 204 && !low) continue;  // inside the area: nothing drawn
        ASSERT_EQ(r.status, 200) << low;
        auto img = tiles::DecodePng(r.text);
        ASSERT_TRUE(img.ok());
        for (int py = 0; py < 256; ++py) {
          for (int px = 0; px < 256; ++px) {
            const auto p = rgba(*img, px, py);
            if (p == tiles::kOutlineRgba) ++outline;
            if (p == tiles::kLowRgba) (low ? faint : inside) += 1;
            if (p[3] == 255 && p != tiles::kOutlineRgba) ++bands;
          }
        }
      }
    }
  }
  // The outline: the area's perimeter in pixels (twice: with and without low).
  const double perimeter =
      2 * (GlobalX(10.03, z) - GlobalX(10.0, z)) + 2 * (GlobalY(10.0, z) - GlobalY(10.02, z));
  EXPECT_GT(outline, 2 * perimeter * 0.9);
  EXPECT_EQ(bands, 0) << "a cell below 30 drawn in a band colour";
  EXPECT_EQ(inside, 0) << "faint cells without low=1";
  EXPECT_GT(faint,
            0.9 * (GlobalX(10.03, z) - GlobalX(10.0, z)) * (GlobalY(10.0, z) - GlobalY(10.02, z)));
  EXPECT_EQ(s.Get(TilePath(step, z, 0, 0) + "?low=2").status, 400);
  // The low tile is another tile: its own ETag.
  const std::string inner = TilePath(step, z, static_cast<int64_t>(GlobalX(10.015, z)) / 256,
                                     static_cast<int64_t>(GlobalY(10.01, z)) / 256);
  EXPECT_NE(s.Get(inner).headers.find("ETag")->second,
            s.Get(inner + "?low=1").headers.find("ETag")->second);

  // Cities with cells: of this model and step only.
  Reply listed = s.Get("/api/heatmap/cities?model=grocery&gridStep=0.0005");
  ASSERT_EQ(listed.status, 200) << listed.text;
  std::vector<std::string> slugs;
  for (const auto& c : listed.body["cities"]) slugs.push_back(c["slug"]);
  EXPECT_EQ(slugs, std::vector<std::string>{"empty-town"});
  EXPECT_EQ(listed.body["cities"][0]["name"], "Empty town");
  EXPECT_TRUE(s.Get("/api/heatmap/cities?model=blend&gridStep=0.0005").body["cities"].empty());
  EXPECT_TRUE(s.Get("/api/heatmap/cities?model=grocery&gridStep=0.001").body["cities"].empty());
  EXPECT_EQ(s.Get("/api/heatmap/cities?model=grocery").status, 400);
  EXPECT_EQ(s.Get("/api/heatmap/cities?model=nope&gridStep=0.001").status, 400);
  EXPECT_EQ(s.Get("/api/heatmap/cities?gridStep=7").status, 400);

  // The extent the first view fits: the computed cells' box, to within two cells (the finer
  // overview level it is read from), for this model only.
  Reply extent = s.Get("/api/heatmap/extent?model=grocery");
  ASSERT_EQ(extent.status, 200) << extent.text;
  ASSERT_EQ(extent.body["extents"].size(), 1u) << extent.text;
  EXPECT_NEAR(extent.body["extents"][0]["gridStep"].get<double>(), step, 1e-12);
  const auto& b = extent.body["extents"][0]["bounds"];
  const double slack = 2.5 * step;
  for (const auto& [key, want] : {std::pair<const char*, double>{"minLat", area.min_lat},
                                  {"minLng", area.min_lng},
                                  {"maxLat", area.max_lat},
                                  {"maxLng", area.max_lng}}) {
    EXPECT_NEAR(b[key].get<double>(), want, slack) << key << " of " << extent.text;
  }
  EXPECT_LE(b["minLat"].get<double>(), area.min_lat) << "the first cell's half is outside";
  EXPECT_TRUE(s.Get("/api/heatmap/extent?model=blend").body["extents"].empty());
}

// A city is listed for the cells inside its box only, not for a neighbour's cells just outside
// it: the overview cell on the box's border that also covers them (level 2 over a box of
// 200 x 201 cells, 4 x 4 base cells each) is confirmed from the stored cells inside the box.
TEST_P(TilesTest, CitiesWithCellsOnlyJustOutsideTheirBoxAreNotListed) {
  const double step = 0.0005;
  // Computed: columns j = 20201.. (lng 10.1005 on), rows of the cities' boxes.
  Cli("schedule --bbox 10.0,10.1005,10.1,10.12 --grid-step 0.0005");
  Cli("process-jobs");
  // Columns j = 20000..20200: the last overview column (j / 4 = 5050) holds the computed
  // columns 20201..20203 too, but no computed cell lies in the box.
  Cli("cities add beside --name Beside --bbox 10.0,10.0,10.1,10.1003");
  // One column more (j = 20201): one computed column inside the box, on its border.
  Cli("cities add touching --name Touching --bbox 10.0,10.0,10.1,10.1008");
  // Well inside the computed area.
  Cli("cities add inside --name Inside --bbox 10.02,10.105,10.08,10.115");
  ServerProcess& s = Start({}, {"--no-worker"});
  ASSERT_TRUE(CellsOf(s, BBox{10.0, 10.0, 10.1, 10.1003}, step).empty());
  ASSERT_EQ(CellsOf(s, BBox{10.0, 10.1003, 10.1, 10.1008}, step).size(), 200u);
  Reply listed = s.Get("/api/heatmap/cities?model=grocery&gridStep=0.0005");
  ASSERT_EQ(listed.status, 200) << listed.text;
  std::vector<std::string> slugs;
  for (const auto& c : listed.body["cities"]) slugs.push_back(c["slug"]);
  std::sort(slugs.begin(), slugs.end());
  EXPECT_EQ(slugs, (std::vector<std::string>{"inside", "touching"})) << listed.text;
}

INSTANTIATE_TEST_SUITE_P(Backends, TilesTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace nbi
