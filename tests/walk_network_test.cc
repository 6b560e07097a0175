// The walk network (SPEC §4a, common/walk_network.h): the way selection, its import from OSM files
// in the POI import's pass, and its storage (PoiStore::UpsertPois with a network,
// LoadWalkNetwork, LoadWalkNetworkAround) on SQLite and PostgreSQL, through the library and
// through `nearbyindex import`.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "geo/geo.h"
#include "poi/import.h"
#include "poi/walk_ways.h"
#include "store/postgres/pg_codec.h"
#include "store/store.h"
#include "store/walk_rows.h"
#include "store_fixture.h"
#include "store_test_util.h"
#include "test_util.h"

namespace nbi {

// For readable failures of EXPECT_EQ over networks.
bool operator==(const WalkNode& x, const WalkNode& y) {
  return x.id == y.id && x.lat == y.lat && x.lng == y.lng;
}
bool operator==(const WalkEdge& x, const WalkEdge& y) {
  return x.a == y.a && x.b == y.b && x.length_m == y.length_m;
}
void PrintTo(const WalkNode& n, std::ostream* os) {
  *os << "n" << n.id << "(" << n.lat << "," << n.lng << ")";
}
void PrintTo(const WalkEdge& e, std::ostream* os) {
  *os << e.a << "-" << e.b << ":" << e.length_m << "m";
}

namespace {

namespace tu = ::nbi::testing;

// ------------------------------------------------------------------ selection
bool Walk(const std::map<std::string, std::string>& tags) {
  return IsWalkWay([&tags](std::string_view key) -> std::string_view {
    auto it = tags.find(std::string(key));
    return it == tags.end() ? std::string_view() : std::string_view(it->second);
  });
}

TEST(IsWalkWayTest, FollowsTheSpecRules) {
  for (const char* h :
       {"footway", "path", "pedestrian", "steps", "living_street", "residential", "service",
        "unclassified", "track", "cycleway", "road", "tertiary", "secondary", "primary"}) {
    SCOPED_TRACE(h);
    EXPECT_TRUE(Walk({{"highway", h}}));
    EXPECT_TRUE(Walk({{"highway", std::string(h) + "_link"}}));
    EXPECT_FALSE(Walk({{"highway", h}, {"area", "yes"}}));
    EXPECT_TRUE(Walk({{"highway", h}, {"area", "no"}}));
    EXPECT_FALSE(Walk({{"highway", h}, {"foot", "no"}}));
    EXPECT_FALSE(Walk({{"highway", h}, {"foot", "private"}}));
    EXPECT_TRUE(Walk({{"highway", h}, {"foot", "yes"}}));
    EXPECT_TRUE(Walk({{"highway", h}, {"access", "yes"}}));
    for (const char* access : {"no", "private"}) {
      EXPECT_FALSE(Walk({{"highway", h}, {"access", access}}));
      for (const char* foot : {"yes", "designated", "permissive"}) {
        EXPECT_TRUE(Walk({{"highway", h}, {"access", access}, {"foot", foot}}));
      }
      EXPECT_FALSE(Walk({{"highway", h}, {"access", access}, {"foot", "no"}}));
      EXPECT_FALSE(Walk({{"highway", h}, {"access", access}, {"foot", "destination"}}));
    }
  }
  for (const char* h :
       {"motorway", "motorway_link", "trunk", "trunk_link", "construction", "proposed", "corridor",
        "bus_guideway", "raceway", "platform", "_link", "Footway", "footway_link_link", ""}) {
    SCOPED_TRACE(h);
    EXPECT_FALSE(Walk({{"highway", h}}));
    EXPECT_FALSE(Walk({{"highway", h}, {"foot", "yes"}}));
  }
  EXPECT_FALSE(Walk({{"building", "yes"}}));
  EXPECT_FALSE(Walk({}));
}

// ------------------------------------------------------------------ import
// Positions of the hand-written extract's nodes (7 decimals: OSM's precision).
const std::map<int64_t, LatLng> kPos = {
    {1, {47.1000000, 9.5000000}}, {2, {47.1001000, 9.5002000}}, {3, {47.1003000, 9.5001000}},
    {4, {47.1004500, 9.5004500}}, {5, {47.1010000, 9.5010000}}, {6, {47.1011234, 9.5012345}},
};

std::string NodeXml(int64_t id, LatLng p, const std::string& tags = "") {
  return fmt::format("  <node id=\"{}\" lat=\"{:.7f}\" lon=\"{:.7f}\">{}</node>\n", id, p.lat,
                     p.lng, tags);
}

std::string WayXml(int64_t id, const std::vector<int64_t>& refs, const std::string& tags) {
  std::string out = fmt::format("  <way id=\"{}\">\n", id);
  for (int64_t r : refs) out += fmt::format("    <nd ref=\"{}\"/>\n", r);
  return out + "    " + tags + "\n  </way>\n";
}

std::string Tag(const std::string& k, const std::string& v) {
  return fmt::format("<tag k=\"{}\" v=\"{}\"/>", k, v);
}

// Ways first, as Overpass writes them: the importer must not depend on the order.
std::string SmallExtract() {
  std::string xml = "<?xml version=\"1.0\"?>\n<osm version=\"0.6\">\n";
  xml += WayXml(10, {1, 2, 3}, Tag("highway", "footway"));
  xml += WayXml(11, {3, 4, 99}, Tag("highway", "residential"));  // 99: not in the file
  xml += WayXml(12, {2, 1}, Tag("highway", "service"));          // 1-2 again, reversed
  xml += WayXml(13, {4, 5}, Tag("highway", "motorway"));         // no walk way
  xml += WayXml(14, {5, 5, 6}, Tag("highway", "steps"));         // a repeated node
  xml += WayXml(15, {1, 4, 6, 1}, Tag("highway", "pedestrian") + Tag("area", "yes"));
  xml += WayXml(16, {3, 6}, Tag("highway", "path") + Tag("access", "private"));
  for (const auto& [id, p] : kPos) {
    xml += NodeXml(id, p, id == 1 ? Tag("shop", "supermarket") : "");
  }
  return xml + "</osm>\n";
}

WalkEdge EdgeOf(int64_t a, int64_t b) { return {a, b, HaversineMeters(kPos.at(a), kPos.at(b))}; }
WalkNode NodeOf(int64_t id) { return {id, kPos.at(id).lat, kPos.at(id).lng}; }

WalkNetwork ExpectedSmallNetwork() {
  WalkNetwork net;
  for (int64_t id : {1, 2, 3, 4, 5, 6}) net.nodes.push_back(NodeOf(id));
  net.edges = {EdgeOf(1, 2), EdgeOf(2, 3), EdgeOf(3, 4), EdgeOf(5, 6)};
  return net;
}

void ExpectSameNetwork(const WalkNetwork& got, const WalkNetwork& want) {
  EXPECT_EQ(got.nodes, want.nodes);
  ASSERT_EQ(got.edges.size(), want.edges.size());
  for (size_t i = 0; i < got.edges.size(); ++i) {
    EXPECT_EQ(got.edges[i].a, want.edges[i].a) << i;
    EXPECT_EQ(got.edges[i].b, want.edges[i].b) << i;
    EXPECT_NEAR(got.edges[i].length_m, want.edges[i].length_m, 1e-9) << i;
  }
}

Result<std::vector<Poi>> ImportXml(const tu::TempDir& dir, const std::string& name,
                                   const std::string& xml, WalkNetwork* net,
                                   ImportStats* stats = nullptr) {
  tu::WriteFile(dir.File(name), xml);
  return ImportPois(dir.File(name), stats, {}, net);
}

TEST(WalkImportTest, SmallExtractGivesItsSegments) {
  tu::TempDir dir;
  WalkNetwork net;
  ImportStats stats;
  auto pois = ImportXml(dir, "small.osm", SmallExtract(), &net, &stats);
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  EXPECT_EQ(pois->size(), 1u);  // the shop: the network changes nothing of the POIs
  // 1-2 once (ways 10 and 12), 2-3, 3-4 (4-99 dropped), 5-6 (5-5 skipped); node 3, shared by
  // ways 10 and 11, once. The motorway, the area and the private path add nothing.
  ExpectSameNetwork(net, ExpectedSmallNetwork());
  EXPECT_EQ(stats.walk_nodes, 6u);
  EXPECT_EQ(stats.walk_edges, 4u);
  // Lengths are the haversine distances between the nodes as written (about 18.8 m for 1-2).
  EXPECT_NEAR(net.edges[0].length_m, 18.78, 0.01);

  // Without a network to fill, the import reads none.
  ImportStats plain;
  ASSERT_TRUE(ImportPois(dir.File("small.osm"), &plain).ok());
  EXPECT_EQ(plain.walk_edges, 0u);
}

TEST(WalkImportTest, MalformedXmlGivesAnErrorAndNoNetwork) {
  tu::TempDir dir;
  WalkNetwork net = ExpectedSmallNetwork();  // left from an earlier file: must not survive
  std::string xml = SmallExtract();
  auto pois = ImportXml(dir, "bad.osm", xml.substr(0, xml.size() - 30) + "<nd ref=", &net);
  ASSERT_FALSE(pois.ok());
  EXPECT_EQ(pois.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(pois.status().message().find("cannot read OSM data"), std::string::npos)
      << pois.status().ToString();
  EXPECT_TRUE(net.nodes.empty());
  EXPECT_TRUE(net.edges.empty());
}

TEST(WalkImportTest, CsvAndGeoJsonCarryNoNetwork) {
  tu::TempDir dir;
  WalkNetwork net = ExpectedSmallNetwork();
  tu::WriteFile(dir.File("p.csv"), "lat,lng,category,name\n47.1,9.5,groceries,Shop\n");
  ASSERT_TRUE(ImportPois(dir.File("p.csv"), nullptr, {}, &net).ok());
  EXPECT_TRUE(net.nodes.empty() && net.edges.empty());
  net = ExpectedSmallNetwork();
  tu::WriteFile(dir.File("p.geojson"),
                R"({"type":"FeatureCollection","features":[{"type":"Feature","geometry":)"
                R"({"type":"LineString","coordinates":[[9.5,47.1],[9.6,47.2]]},)"
                R"("properties":{"highway":"footway","shop":"bakery"}}]})");
  ASSERT_TRUE(ImportPois(dir.File("p.geojson"), nullptr, {}, &net).ok());
  EXPECT_TRUE(net.nodes.empty() && net.edges.empty());
}

TEST(WalkImportTest, RealExtractHasANetwork) {
  NBI_REQUIRE_OSM_DIR(dir);
  WalkNetwork net;
  ImportStats stats;
  auto pois = ImportPois((*dir / "monaco.osm.pbf").string(), &stats, {}, &net);
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  EXPECT_GT(net.edges.size(), 1000u);
  EXPECT_EQ(stats.walk_edges, net.edges.size());
  EXPECT_EQ(stats.walk_nodes, net.nodes.size());
  // The invariants of common/walk_network.h, and every node inside Monaco's box.
  for (size_t i = 1; i < net.nodes.size(); ++i) ASSERT_LT(net.nodes[i - 1].id, net.nodes[i].id);
  for (size_t i = 0; i < net.edges.size(); ++i) {
    const WalkEdge& e = net.edges[i];
    ASSERT_LT(e.a, e.b);
    if (i > 0) ASSERT_LT(std::pair(net.edges[i - 1].a, net.edges[i - 1].b), std::pair(e.a, e.b));
    ASSERT_GE(e.length_m, 0);
    ASSERT_LT(e.length_m, 5000);
  }
  const BBox around_monaco{43.6, 7.3, 43.9, 7.6};
  for (const WalkNode& n : net.nodes) {
    ASSERT_TRUE(around_monaco.Contains(n.lat, n.lng)) << n.id;
  }
}

// ------------------------------------------------------------------ the load's join
// JoinWalkNetwork (store/walk_rows.h) against Within() below's rule, on rows in any order.
TEST(JoinWalkNetworkTest, KeepsTheEdgesWithBothEndsAmongTheNodes) {
  std::vector<WalkNode> nodes = {{9, 1, 1}, {-4, 2, 2}, {5, 3, 3}, {100, 4, 4}, {2, 5, 5}};
  std::vector<WalkEdge> edges = {{5, 9, 1},    {-4, 2, 2}, {2, 77, 3}, {-4, 9, 4},
                                 {77, 100, 5}, {-4, 5, 6}, {1, 2, 7}};
  const WalkNetwork got = JoinWalkNetwork(nodes, edges);
  EXPECT_EQ(got.nodes, (std::vector<WalkNode>{{-4, 2, 2}, {2, 5, 5}, {5, 3, 3}, {9, 1, 1}}));
  EXPECT_EQ(got.edges, (std::vector<WalkEdge>{{-4, 2, 2}, {-4, 5, 6}, {-4, 9, 4}, {5, 9, 1}}));
  EXPECT_TRUE(CheckWalkNetwork(got).ok());
  EXPECT_TRUE(JoinWalkNetwork({}, edges).nodes.empty());
  EXPECT_TRUE(JoinWalkNetwork(nodes, {}).nodes.empty());
}

// PostgreSQL's binary COPY stream as the load reads it: what PgBinaryCopy writes comes back,
// int64's extremes and NULLs included; a stream cut anywhere, or not a COPY stream, is an
// error and never a read past its end.
TEST(PgBinaryCopyReaderTest, ReadsWhatTheWriterWritesAndRefusesCutStreams) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  PgBinaryCopy w;
  w.Header();
  w.Row(3);
  w.Int8(kMin);
  w.Null();
  w.Float8(-0.1);
  w.Row(2);
  w.Int8(kMax);
  w.Float8(47.123456789012345);
  w.Trailer();
  const std::string stream = w.data();
  PgBinaryCopyReader r(stream);
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Next());
  ASSERT_EQ(r.fields().size(), 3u);
  EXPECT_EQ(PgBinaryInt8(*r.fields()[0]), kMin);
  EXPECT_FALSE(r.fields()[1].has_value());
  EXPECT_EQ(PgBinaryFloat8(*r.fields()[2]), -0.1);
  ASSERT_TRUE(r.Next());
  ASSERT_EQ(r.fields().size(), 2u);
  EXPECT_EQ(PgBinaryInt8(*r.fields()[0]), kMax);
  EXPECT_EQ(PgBinaryFloat8(*r.fields()[1]), 47.123456789012345);
  EXPECT_FALSE(r.Next());
  EXPECT_TRUE(r.status().ok()) << r.status().ToString();
  for (size_t n = 0; n < stream.size(); ++n) {
    PgBinaryCopyReader cut(std::string_view(stream).substr(0, n));
    Status st = cut.Start();
    while (st.ok() && cut.Next()) {
    }
    EXPECT_FALSE(st.ok() && cut.status().ok()) << "cut at " << n;
  }
  PgBinaryCopyReader text("1\t2\n");
  EXPECT_FALSE(text.Start().ok());
}

// ------------------------------------------------------------------ storage
class WalkStoreTest : public tu::StoreTest {
 protected:
  // `nearbyindex import ARGS` against this test's store.
  std::string Cli(const std::string& args, int want_rc = 0) {
    std::string out;
    int rc =
        tu::RunCommand("DATABASE_URL='" + url_ + "' " + tu::BinaryPath() + " import " + args, &out);
    EXPECT_EQ(rc, want_rc) << args << "\n" << out;
    return out;
  }
  WalkNetwork LoadAll() {
    auto net = store_->LoadWalkNetwork({-90, -180, 90, 180});
    EXPECT_TRUE(net.ok()) << net.status().ToString();
    return net.ok() ? *net : WalkNetwork{};
  }
  void ExpectEmptyStore() {
    auto cats = store_->CountPoisByCategory();
    ASSERT_TRUE(cats.ok());
    EXPECT_TRUE(cats->empty());
    EXPECT_EQ(*store_->CountWalkEdges(), 0);
    EXPECT_TRUE(LoadAll().nodes.empty());
  }
};

TEST_P(WalkStoreTest, SecondImportOfTheSameFileAddsNothing) {
  tu::TempDir dir;
  WalkNetwork net;
  auto pois = ImportXml(dir, "small.osm", SmallExtract(), &net);
  ASSERT_TRUE(pois.ok());
  auto first = store_->UpsertPois(*pois, net);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->inserted, 1);
  EXPECT_EQ(first->walk_nodes_inserted, 6);
  EXPECT_EQ(first->walk_edges_inserted, 4);
  const WalkNetwork stored = LoadAll();
  ExpectSameNetwork(stored, ExpectedSmallNetwork());

  auto second = store_->UpsertPois(*pois, net);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->inserted, 0);
  EXPECT_EQ(second->walk_nodes_inserted, 0);
  EXPECT_EQ(second->walk_edges_inserted, 0);
  ExpectSameNetwork(LoadAll(), stored);
  EXPECT_EQ(*store_->CountWalkEdges(), 4);
}

TEST_P(WalkStoreTest, NeighbouringExtractsJoinAtSharedNodes) {
  tu::TempDir dir;
  // West: 1-2-3; east: 3-4-5 (node 3 on the cut, in both files) and 6, only in the east.
  auto extract = [](std::vector<int64_t> ids, int64_t way) {
    std::string xml = "<osm version=\"0.6\">\n";
    for (int64_t id : ids) xml += NodeXml(id, kPos.at(id));
    return xml + WayXml(way, ids, Tag("highway", "residential")) + "</osm>\n";
  };
  WalkNetwork west, east;
  auto wp = ImportXml(dir, "west.osm", extract({1, 2, 3}, 20), &west);
  auto ep = ImportXml(dir, "east.osm", extract({3, 4, 5, 6}, 21), &east);
  ASSERT_TRUE(wp.ok() && ep.ok());
  auto w = store_->UpsertPois(*wp, west);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto e = store_->UpsertPois(*ep, east);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(w->walk_nodes_inserted, 3);
  EXPECT_EQ(e->walk_nodes_inserted, 3);  // 4, 5, 6: node 3 is known
  EXPECT_EQ(e->walk_edges_inserted, 3);

  WalkNetwork want;
  for (int64_t id : {1, 2, 3, 4, 5, 6}) want.nodes.push_back(NodeOf(id));
  want.edges = {EdgeOf(1, 2), EdgeOf(2, 3), EdgeOf(3, 4), EdgeOf(4, 5), EdgeOf(5, 6)};
  ExpectSameNetwork(LoadAll(), want);
}

// A grid of nodes 0.001 degrees apart joined to their right and upper neighbours.
WalkNetwork Grid(double lat0, double lng0, int n) {
  WalkNetwork net;
  auto id = [n](int i, int j) { return int64_t{1000} + i * n + j; };
  auto pos = [&](int i, int j) { return LatLng{lat0 + i * 0.001, lng0 + j * 0.001}; };
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      net.nodes.push_back({id(i, j), pos(i, j).lat, pos(i, j).lng});
      if (j + 1 < n) net.edges.push_back({id(i, j), id(i, j + 1), 100});
      if (i + 1 < n) net.edges.push_back({id(i, j), id(i + 1, j), 111});
    }
  }
  std::sort(net.edges.begin(), net.edges.end(), [](const WalkEdge& x, const WalkEdge& y) {
    return std::pair(x.a, x.b) < std::pair(y.a, y.b);
  });
  return net;
}

// The edges of `net` with both ends in `box` (inclusive), with those ends.
WalkNetwork Within(const WalkNetwork& net, const BBox& box) {
  std::map<int64_t, WalkNode> node_of;
  for (const WalkNode& n : net.nodes) node_of[n.id] = n;
  auto in = [&](int64_t id) {
    const WalkNode& n = node_of.at(id);
    return n.lat >= box.min_lat && n.lat <= box.max_lat && n.lng >= box.min_lng &&
           n.lng <= box.max_lng;
  };
  std::map<int64_t, WalkNode> kept;
  WalkNetwork out;
  for (const WalkEdge& e : net.edges) {
    if (!in(e.a) || !in(e.b)) continue;
    out.edges.push_back(e);
    kept[e.a] = node_of.at(e.a);
    kept[e.b] = node_of.at(e.b);
  }
  for (const auto& [id, n] : kept) out.nodes.push_back(n);
  return out;
}

TEST_P(WalkStoreTest, LoadWalkNetworkReturnsTheEdgesWithBothEndsInTheBox) {
  const WalkNetwork grid = Grid(47.1, 9.5, 8);
  auto sum = store_->UpsertPois({}, grid);
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  EXPECT_EQ(sum->walk_edges_inserted, static_cast<int64_t>(grid.edges.size()));
  for (const BBox& box : {BBox{47.1015, 9.5025, 47.1045, 9.5055},  // 3 x 3 nodes inside
                          BBox{47.102, 9.503, 47.104, 9.505},      // on the nodes: inclusive
                          BBox{47.1005, 9.5, 47.1015, 9.507},      // one row: its edges only
                          BBox{47.09, 9.49, 47.0999, 9.4999},      // beside the grid
                          BBox{47.0, 9.0, 48.0, 10.0}}) {
    SCOPED_TRACE(box.ToString());
    auto got = store_->LoadWalkNetwork(box);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    const WalkNetwork want = Within(grid, box);
    EXPECT_EQ(got->nodes, want.nodes);
    EXPECT_EQ(got->edges, want.edges);
  }
  // Around a box: the box grown by the margin (~111 m is one grid row).
  auto around = LoadWalkNetworkAround(store_.get(), {47.102, 9.503, 47.1021, 9.5031}, 120);
  ASSERT_TRUE(around.ok()) << around.status().ToString();
  const WalkNetwork want = Within(grid, BBox{47.102, 9.503, 47.1021, 9.5031}.Expanded(120));
  EXPECT_EQ(around->nodes, want.nodes);
  EXPECT_EQ(around->edges, want.edges);
  EXPECT_FALSE(around->edges.empty());
}

// The load reads a box's nodes and their edges apart and joins them itself (PostgreSQL: in
// binary COPY): ids at both ends of int64, a node whose every edge leaves the box, one with no
// edge, a box with a node but no edge inside, an empty box, and rows no longer in id order once
// a node has moved (its edges' stored drawing positions stay old: the load must not use them).
TEST_P(WalkStoreTest, LoadWalkNetworkJoinsTheBoxsNodesAndEdgesExactly) {
  constexpr int64_t kLow = std::numeric_limits<int64_t>::min() + 3;
  constexpr int64_t kHigh = std::numeric_limits<int64_t>::max() - 3;
  WalkNetwork net;
  net.nodes = {{kLow, 47.05, 9.05}, {-3, 47.06, 9.06}, {7, 47.07, 9.07},
               {8, 47.2, 9.2},      {40, 47.08, 9.08}, {kHigh, 47.09, 9.09}};
  net.edges = {{kLow, -3, 12.5}, {kLow, kHigh, 1e6}, {-3, 7, 0.25}, {7, 8, 30}, {8, kHigh, 99}};
  auto sum = store_->UpsertPois({}, net);
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  const BBox box{47.0, 9.0, 47.1, 9.1};
  WalkNetwork want;
  want.nodes = {net.nodes[0], net.nodes[1], net.nodes[2], net.nodes[5]};
  want.edges = {net.edges[0], net.edges[1], net.edges[2]};
  auto got = store_->LoadWalkNetwork(box);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->nodes, want.nodes);
  EXPECT_EQ(got->edges, want.edges);
  for (const BBox& none : {BBox{47.065, 9.065, 47.075, 9.075},  // node 7 alone
                           BBox{47.075, 9.075, 47.085, 9.085},  // node 40, no edge at all
                           BBox{10, 10, 10.5, 10.5}}) {         // nothing
    auto empty = store_->LoadWalkNetwork(none);
    ASSERT_TRUE(empty.ok()) << empty.status().ToString();
    EXPECT_TRUE(empty->nodes.empty()) << none.ToString();
    EXPECT_TRUE(empty->edges.empty()) << none.ToString();
  }
  // Node -3 moves (a network of that node alone), then out of the box with its two edges.
  WalkNetwork moved;
  moved.nodes = {{-3, 47.061, 9.062}};
  ASSERT_TRUE(store_->UpsertPois({}, moved).ok());
  want.nodes[1] = moved.nodes[0];
  got = store_->LoadWalkNetwork(box);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->nodes, want.nodes);
  EXPECT_EQ(got->edges, want.edges);
  moved.nodes = {{-3, 47.3, 9.062}};
  ASSERT_TRUE(store_->UpsertPois({}, moved).ok());
  got = store_->LoadWalkNetwork(box);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->nodes, (std::vector<WalkNode>{net.nodes[0], net.nodes[5]}));
  EXPECT_EQ(got->edges, (std::vector<WalkEdge>{net.edges[1]}));
}

TEST_P(WalkStoreTest, LoadWalkNetworkAroundMergesBothSidesOfTheAntimeridian) {
  WalkNetwork net;
  net.nodes = {
      {1, -17.75, 179.9995}, {2, -17.75, 179.9999}, {3, -17.75, -179.9999}, {4, -17.75, -179.9995}};
  net.edges = {{1, 2, 42}, {2, 3, 21}, {3, 4, 42}};
  ASSERT_TRUE(store_->UpsertPois({}, net).ok());
  auto around = LoadWalkNetworkAround(store_.get(), {-17.75, 179.9999, -17.7499, 179.99995}, 200);
  ASSERT_TRUE(around.ok()) << around.status().ToString();
  // Each side's edge; the one across the line has an end in each box and is in neither.
  EXPECT_EQ(around->nodes, net.nodes);
  EXPECT_EQ(around->edges, (std::vector<WalkEdge>{{1, 2, 42}, {3, 4, 42}}));
}

TEST_P(WalkStoreTest, ABrokenNetworkIsRefusedWithItsPois) {
  WalkNetwork bad;
  bad.nodes = {{1, 47.1, 9.5}};
  bad.edges = {{1, 2, 10}};  // node 2 is none of the nodes
  std::vector<Poi> pois = {{"n1", Category::kGroceries, HealthSub::kNone, "A", 47.1, 9.5}};
  auto r = store_->UpsertPois(pois, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  ExpectEmptyStore();
}

// A write of the network that fails in the database takes the file's POIs and nodes with it.
TEST_P(WalkStoreTest, AFailingNetworkWriteRollsBackThePois) {
  const bool pg = GetParam() == tu::Backend::kPostgres;
  tu::ExecSql(url_, pg ? "CREATE FUNCTION walk_fail() RETURNS trigger LANGUAGE plpgsql AS $$ "
                         "BEGIN RAISE EXCEPTION 'injected'; END $$; "
                         "CREATE TRIGGER walk_fail BEFORE INSERT ON walk_edges FOR EACH ROW "
                         "EXECUTE FUNCTION walk_fail()"
                       : "CREATE TRIGGER walk_fail BEFORE INSERT ON walk_edges "
                         "BEGIN SELECT RAISE(ABORT, 'injected'); END");
  tu::TempDir dir;
  WalkNetwork net;
  auto pois = ImportXml(dir, "small.osm", SmallExtract(), &net);
  ASSERT_TRUE(pois.ok());
  auto r = store_->UpsertPois(*pois, net);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("injected"), std::string::npos) << r.status().ToString();
  ExpectEmptyStore();
  tu::ExecSql(url_, "DROP TRIGGER walk_fail" + std::string(pg ? " ON walk_edges" : ""));
  auto again = store_->UpsertPois(*pois, net);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->walk_nodes_inserted, 6);
  ExpectSameNetwork(LoadAll(), ExpectedSmallNetwork());
}

TEST_P(WalkStoreTest, CliImportReportsTheNetwork) {
  NBI_REQUIRE_OSM_DIR(osm);
  const std::string file = (*osm / "monaco.osm.pbf").string();
  WalkNetwork net;
  ASSERT_TRUE(ImportPois(file, nullptr, {}, &net).ok());
  std::string out = Cli(file);
  const std::string sizes =
      fmt::format("walk network: {} nodes", fmt::group_digits(net.nodes.size()));
  EXPECT_NE(out.find(sizes), std::string::npos) << out;
  EXPECT_NE(out.find(fmt::format("{} edges", fmt::group_digits(net.edges.size()))),
            std::string::npos)
      << out;
  EXPECT_EQ(*store_->CountWalkEdges(), static_cast<int64_t>(net.edges.size()));
  ExpectSameNetwork(LoadAll(), net);
  // Again: nothing new.
  out = Cli(file);
  EXPECT_NE(out.find("(0 nodes, 0 edges new)"), std::string::npos) << out;
}

TEST_P(WalkStoreTest, FailedImportsStoreNothing) {
  tu::TempDir dir;
  // An extract cut in the middle of its XML (no shared data needed).
  std::string xml = SmallExtract();
  tu::WriteFile(dir.File("bad.osm"), xml.substr(0, xml.size() / 2) + "<<");
  std::string out = Cli(dir.File("bad.osm"), 2);
  EXPECT_NE(out.find("cannot read OSM data"), std::string::npos) << out;
  ExpectEmptyStore();
  // A real PBF cut in half.
  NBI_REQUIRE_OSM_DIR(osm);
  const std::string pbf = tu::ReadFile((*osm / "monaco.osm.pbf").string());
  tu::WriteFile(dir.File("cut.osm.pbf"), pbf.substr(0, pbf.size() / 2));
  out = Cli(dir.File("cut.osm.pbf"), 2);
  EXPECT_NE(out.find("cannot read OSM data"), std::string::npos) << out;
  ExpectEmptyStore();
}

TEST_P(WalkStoreTest, CsvAndGeoJsonImportsStoreNoNetwork) {
  tu::TempDir dir;
  tu::WriteFile(dir.File("p.csv"), "lat,lng,category,name\n47.1,9.5,groceries,Shop\n");
  std::string out = Cli(dir.File("p.csv"));
  EXPECT_NE(out.find("no walk network"), std::string::npos) << out;
  tu::WriteFile(
      dir.File("p.geojson"),
      R"({"type":"FeatureCollection","features":[{"type":"Feature","geometry":)"
      R"({"type":"Point","coordinates":[9.5,47.2]},"properties":{"shop":"supermarket"}}]})");
  out = Cli(dir.File("p.geojson"));
  EXPECT_NE(out.find("no walk network"), std::string::npos) << out;
  EXPECT_EQ(*store_->CountWalkEdges(), 0);
  EXPECT_EQ(store_->LoadPois({47, 9, 48, 10}, -1)->size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Stores, WalkStoreTest, tu::BothBackends(), tu::BackendParamName);

}  // namespace
}  // namespace nbi
