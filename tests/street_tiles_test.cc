// Street tiles, the offline base layer (tiles/streets.h, GET /tiles/streets/{z}/{x}/{y}.png):
// the renderer on its own, and end to end on both stores through a real `serve` over a small
// hand-written network imported by the binary: line pixels where the edges run and none
// elsewhere (decoded with libpng), the classes each zoom shows, 204 below the street zoom and
// where there is no network, ETag and 304, and a new ETag and the new street after an import.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "http_test_util.h"
#include "tiles/streets.h"
#include "tiles/tiles.h"

namespace nbi {
namespace {

using testing::Reply;
using testing::ServerProcess;

double GlobalX(double lng, int z) { return (lng + 180) / 360 * 256 * std::ldexp(1, z); }
double GlobalY(double lat, int z) {
  return (1 - std::asinh(std::tan(lat * kDegToRad)) / kPi) / 2 * 256 * std::ldexp(1, z);
}

struct Line {
  double lat1, lng1, lat2, lng2;
  int cls;  // -1: not a walk way (never drawn)
};

// Distance in pixels at zoom z from the pixel centre (gx, gy) (global pixel coordinates) to
// the line.
double PixelDistance(const Line& l, int z, double gx, double gy) {
  const double x0 = GlobalX(l.lng1, z), y0 = GlobalY(l.lat1, z);
  const double dx = GlobalX(l.lng2, z) - x0, dy = GlobalY(l.lat2, z) - y0;
  const double t = std::clamp(((gx - x0) * dx + (gy - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0);
  return std::hypot(x0 + t * dx - gx, y0 + t * dy - gy);
}

// A small network (nodes 1..9 between 47.100 and 47.104 north, 9.500 and 9.506 east): a
// residential street west-east through node 2, a primary road south-north through node 2, a
// footway in the north-west, and a motorway (no walk way) that must never be drawn.
constexpr const char* kNetworkOsm = R"(<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="1" lat="47.101" lon="9.500"/>
  <node id="2" lat="47.101" lon="9.503"/>
  <node id="3" lat="47.101" lon="9.506"/>
  <node id="4" lat="47.100" lon="9.503"/>
  <node id="5" lat="47.104" lon="9.503"/>
  <node id="6" lat="47.1032" lon="9.5000"/>
  <node id="7" lat="47.1032" lon="9.5018"/>
  <node id="8" lat="47.1022" lon="9.5040"/>
  <node id="9" lat="47.1022" lon="9.5060"/>
  <way id="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
  <way id="2"><nd ref="4"/><nd ref="2"/><nd ref="5"/><tag k="highway" v="primary"/></way>
  <way id="3"><nd ref="6"/><nd ref="7"/><tag k="highway" v="footway"/></way>
  <way id="4"><nd ref="8"/><nd ref="9"/><tag k="highway" v="motorway"/></way>
</osm>
)";
const std::vector<Line> kLines = {
    {47.101, 9.500, 47.101, 9.506, 1},
    {47.100, 9.503, 47.104, 9.503, 2},
    {47.1032, 9.5000, 47.1032, 9.5018, 0},
    {47.1022, 9.5040, 47.1022, 9.5060, -1},
};

TEST(StreetRender, LinePixelsWhereTheSegmentRunsAndNoneElsewhere) {
  // One major road across a z16 tile, from its west edge to its east edge at a slant.
  const tiles::TileId t{16, 34500, 23000};
  const double west = tiles::LngOfPixelCol(16, 34500.0 * 256),
               east = tiles::LngOfPixelCol(16, 34501.0 * 256);
  const double north = tiles::LatOfPixelRow(16, 23000.0 * 256 + 40);
  const double south = tiles::LatOfPixelRow(16, 23000.0 * 256 + 200);
  const Line l{north, west - 0.001, south, east + 0.001, 2};
  std::vector<uint8_t> levels;
  const int drawn = tiles::RenderStreetTile(t, {{l.lat1, l.lng1, l.lat2, l.lng2, 2}}, &levels);
  EXPECT_GT(drawn, 256);
  int on = 0, off = 0;
  for (int py = 0; py < 256; ++py) {
    for (int px = 0; px < 256; ++px) {
      const double d = PixelDistance(l, 16, t.x * 256.0 + px + 0.5, t.y * 256.0 + py + 0.5);
      const uint8_t v = levels[py * 256 + px];
      if (d <= 1.0) on += v > 0;
      if (d <= 1.0) EXPECT_GT(v, 0) << px << "," << py;
      if (d >= 4.0) off += v != 0;
    }
  }
  EXPECT_GT(on, 256);
  EXPECT_EQ(off, 0) << "pixels drawn 4 px or more away from the line";
  // The PNG: the street grey where the line runs, transparent elsewhere.
  auto png = tiles::EncodeStreetPng(levels);
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  auto img = tiles::DecodePng(*png);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  const double gy_mid = GlobalY((north + south) / 2, 16) - t.y * 256.0;
  const int py = static_cast<int>(gy_mid);
  int px = 0;
  for (; px < 256 && levels[py * 256 + px] < 15; ++px) {
  }
  ASSERT_LT(px, 256) << "no full-opacity pixel on row " << py;
  const uint8_t* p = &img->px[(py * 256 + px) * 4];
  EXPECT_EQ(p[0], tiles::kStreetGrey[0]);
  EXPECT_EQ(p[1], tiles::kStreetGrey[1]);
  EXPECT_EQ(p[2], tiles::kStreetGrey[2]);
  EXPECT_EQ(p[3], 255);
  EXPECT_EQ(img->px[3], 0);  // the north-west corner, far from the line
}

TEST(StreetRender, ZoomsShowClassesAndCellsCoverTheTile) {
  EXPECT_EQ(tiles::StreetMinClass(tiles::kStreetMinZoom - 1), -1);
  EXPECT_EQ(tiles::StreetMinClass(11), 2);
  EXPECT_EQ(tiles::StreetMinClass(12), 1);
  EXPECT_EQ(tiles::StreetMinClass(14), 0);
  EXPECT_EQ(tiles::StreetMinClass(20), 0);
  // Every point of a tile lies in its cells, with one cell to spare on each side.
  const tiles::TileId t{13, 4310, 2890};
  const tiles::StreetCellRange r = tiles::StreetCellsOfTile(t);
  for (double fx : {0.0, 0.5, 1.0}) {
    for (double fy : {0.0, 0.5, 1.0}) {
      const double lat = tiles::LatOfPixelRow(13, (t.y + fy) * 256);
      const double lng = tiles::LngOfPixelCol(13, (t.x + fx) * 256);
      const int64_t cell = tiles::StreetCellOf(lat, lng);
      const int64_t row = cell / tiles::kStreetCellCols, col = cell % tiles::kStreetCellCols;
      EXPECT_GT(row, r.row0);
      EXPECT_LT(row, r.row1);
      EXPECT_GT(col, r.col0);
      EXPECT_LT(col, r.col1);
    }
  }
}

class StreetTilesTest : public testing::HttpTest {
 protected:
  static std::string Path(int z, int64_t x, int64_t y) {
    return "/tiles/streets/" + std::to_string(z) + "/" + std::to_string(x) + "/" +
           std::to_string(y) + ".png";
  }
  // The alpha of every pixel of the tiles over the network's box at zoom z, by global pixel.
  std::map<std::pair<int64_t, int64_t>, int> Alphas(const ServerProcess& s, int z) {
    std::map<std::pair<int64_t, int64_t>, int> out;
    const int64_t x0 = static_cast<int64_t>(GlobalX(9.4995, z)) / 256;
    const int64_t x1 = static_cast<int64_t>(GlobalX(9.5065, z)) / 256;
    const int64_t y0 = static_cast<int64_t>(GlobalY(47.1045, z)) / 256;
    const int64_t y1 = static_cast<int64_t>(GlobalY(47.0995, z)) / 256;
    for (int64_t x = x0; x <= x1; ++x) {
      for (int64_t y = y0; y <= y1; ++y) {
        Reply r = s.Get(Path(z, x, y));
        std::vector<uint8_t> alpha(256 * 256, 0);
        if (r.status == 200) {
          auto img = tiles::DecodePng(r.text);
          EXPECT_TRUE(img.ok());
          for (int i = 0; img.ok() && i < 256 * 256; ++i) alpha[i] = img->px[i * 4 + 3];
        } else {
          EXPECT_EQ(r.status, 204) << Path(z, x, y);
        }
        for (int i = 0; i < 256 * 256; ++i) out[{x * 256 + i % 256, y * 256 + i / 256}] = alpha[i];
      }
    }
    return out;
  }
  // Line pixels where the drawn lines run, none farther than 4 px from them.
  void CheckZoom(const ServerProcess& s, int z) {
    const auto alphas = Alphas(s, z);
    const int min_class = tiles::StreetMinClass(z);
    std::vector<Line> drawn, hidden;
    for (const Line& l : kLines) (l.cls >= min_class ? drawn : hidden).push_back(l);
    int on = 0, missing = 0, stray = 0;
    for (const auto& [p, a] : alphas) {
      const double gx = p.first + 0.5, gy = p.second + 0.5;
      double near = 1e9;
      for (const Line& l : drawn) near = std::min(near, PixelDistance(l, z, gx, gy));
      if (near <= 0.5) {
        ++on;
        missing += a == 0;
      } else if (near >= 4.0) {
        stray += a != 0;
      }
    }
    EXPECT_GT(on, 5) << "z" << z;
    EXPECT_EQ(missing, 0) << "z" << z << ": pixels on a drawn line left transparent";
    EXPECT_EQ(stray, 0) << "z" << z << ": pixels drawn away from every drawn line";
  }
};

TEST_P(StreetTilesTest, LinesWhereTheEdgesRunByZoomAndNoneElsewhere) {
  const std::string osm = dir_.File("network.osm");
  testing::WriteFile(osm, kNetworkOsm);
  Cli("import " + osm);
  ServerProcess& s = Start({}, {"--no-worker"});
  for (int z : {11, 12, 13, 14, 16, 17}) CheckZoom(s, z);
  // Below the street zoom: 204 with a long cache life; far from the network: 204.
  const int64_t x10 = static_cast<int64_t>(GlobalX(9.503, 10)) / 256;
  const int64_t y10 = static_cast<int64_t>(GlobalY(47.102, 10)) / 256;
  Reply low = s.Get(Path(10, x10, y10));
  EXPECT_EQ(low.status, 204);
  EXPECT_TRUE(low.text.empty());
  Reply away = s.Get(Path(15, 100, 100));
  EXPECT_EQ(away.status, 204);
  // Bad input is 400, never a crash.
  EXPECT_EQ(s.Get("/tiles/streets/21/0/0.png").status, 400);
  EXPECT_EQ(s.Get("/tiles/streets/3/8/0.png").status, 400);
  EXPECT_EQ(s.Get("/tiles/streets/3/0/0.jpg").status, 400);
  EXPECT_EQ(s.Get("/tiles/streets/3/0").status, 400);
  Reply config = s.Get("/api/config");
  EXPECT_EQ(config.body["streetTiles"], "/tiles/streets/{z}/{x}/{y}.png");
  EXPECT_EQ(config.body["streetMinZoom"], tiles::kStreetMinZoom);
}

TEST_P(StreetTilesTest, EtagAnd304UntilAnImportChangesTheNetwork) {
  const std::string osm = dir_.File("network.osm");
  testing::WriteFile(osm, kNetworkOsm);
  Cli("import " + osm);
  ServerProcess& s = Start({}, {"--no-worker"});
  const int z = 15;
  const int64_t x = static_cast<int64_t>(GlobalX(9.503, z)) / 256;
  const int64_t y = static_cast<int64_t>(GlobalY(47.102, z)) / 256;
  Reply first = s.Get(Path(z, x, y)), again = s.Get(Path(z, x, y));
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.headers.find("Content-Type")->second, "image/png");
  EXPECT_EQ(first.headers.find("Cache-Control")->second, "public, no-cache");
  const std::string etag = first.headers.find("ETag")->second;
  EXPECT_EQ(again.headers.find("ETag")->second, etag);
  EXPECT_EQ(again.text, first.text);
  EXPECT_EQ(s.Get(Path(z, x, y), {{"If-None-Match", etag}}).status, 304);
  // The same file again changes nothing: same ETag.
  Cli("import " + osm);
  EXPECT_EQ(s.Get(Path(z, x, y), {{"If-None-Match", etag}}).status, 304);
  // A new street: a new ETag, and the tile shows it.
  const std::string more = dir_.File("more.osm");
  testing::WriteFile(more, R"(<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="11" lat="47.1005" lon="9.5000"/>
  <node id="12" lat="47.1040" lon="9.5060"/>
  <way id="11"><nd ref="11"/><nd ref="12"/><tag k="highway" v="tertiary"/></way>
</osm>
)");
  Cli("import " + more);
  Reply after = s.Get(Path(z, x, y), {{"If-None-Match", etag}});
  ASSERT_EQ(after.status, 200);
  EXPECT_NE(after.headers.find("ETag")->second, etag);
  EXPECT_NE(after.text, first.text);
  auto img = tiles::DecodePng(after.text);
  ASSERT_TRUE(img.ok());
  const Line diagonal{47.1005, 9.5000, 47.1040, 9.5060, 2};
  int on = 0, drawn = 0;
  for (int i = 0; i < 256 * 256; ++i) {
    const double gx = x * 256.0 + i % 256 + 0.5, gy = y * 256.0 + i / 256 + 0.5;
    if (PixelDistance(diagonal, z, gx, gy) > 0.5) continue;
    ++on;
    drawn += img->px[i * 4 + 3] > 0;
  }
  EXPECT_GT(on, 20);
  EXPECT_EQ(drawn, on) << "the new street is not drawn";
}

// A network stored before street tiles existed (schema 9: no class, cell, end positions or
// version) is drawn once the store upgrades: migration 10 computes them in SQL.
TEST_P(StreetTilesTest, ANetworkStoredBeforeStreetCellsIsDrawnAfterTheUpgrade) {
  const std::string osm = dir_.File("network.osm");
  testing::WriteFile(osm, kNetworkOsm);
  Cli("import " + osm);
  // Back to schema 10 (before street tiles) with the network in it.
  for (const char* sql :
       {"DROP INDEX walk_edges_cell_idx", "ALTER TABLE walk_edges DROP COLUMN cls",
        "ALTER TABLE walk_edges DROP COLUMN cell", "ALTER TABLE walk_edges DROP COLUMN a_lat",
        "ALTER TABLE walk_edges DROP COLUMN a_lng", "ALTER TABLE walk_edges DROP COLUMN b_lat",
        "ALTER TABLE walk_edges DROP COLUMN b_lng", "DROP TABLE walk_network_version",
        "DELETE FROM schema_migrations WHERE version >= 11"}) {
    testing::ExecSql(url_, sql);
  }
  ServerProcess& s = Start({}, {"--no-worker"});  // migrates to 11 and on (each step re-runs)
  // Zoom 14 and above draw every class, so the classes the old rows lack do not matter.
  CheckZoom(s, 14);
  CheckZoom(s, 16);
}

INSTANTIATE_TEST_SUITE_P(Backends, StreetTilesTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace nbi
