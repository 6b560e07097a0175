// A generated town as OSM data for the refresh tests: a street grid of ways (each row one way,
// each column one or two: a river crosses the town, with two bridges), grocery, restaurant and park
// POIs as nodes and one grocery as a closed way. Written as .osm.pbf (with a header box)
// with libosmium.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "geo/geo.h"

namespace nbi::testing {

using OsmTags = std::vector<std::pair<std::string, std::string>>;

struct OsmTown {
  struct Node {
    double lat = 0, lng = 0;
    OsmTags tags;
    bool operator==(const Node&) const = default;
  };
  struct Way {
    std::vector<int64_t> refs;
    OsmTags tags;
    bool operator==(const Way&) const = default;
  };
  std::map<int64_t, Node> nodes;
  std::map<int64_t, Way> ways;
  BBox header;  // the PBF header's box

  // The street grid: rows x cols nodes `step` degrees apart from (lat0, lng0), node (r, c) has
  // id StreetNode(r, c); row r is way 1000 + r, column c way 5000 + c (highway=residential).
  static constexpr int kRows = 80, kCols = 80;
  static constexpr double kLat0 = 47.10, kLng0 = 9.50, kStep = 0.0006;
  static int64_t StreetNode(int r, int c) { return 1 + int64_t(r) * kCols + c; }
  // The river south of row kRiver + 1 and its bridges (see Generate).
  static constexpr int kRiver = 40;
  static constexpr int kBridges[] = {15, 60};

  // The town: streets, `groceries` grocery nodes (ids 100000...) and one more beside the
  // western bridge, restaurants (200000...),
  // parks (300000...) and a grocery way (way 9000 over nodes 400000..400003), positions from
  // `seed`.
  static OsmTown Generate(int groceries, int restaurants, int parks, unsigned seed);

  // A random position inside the street grid.
  LatLng RandomPosition(std::mt19937* rng) const;
  // Adds a node POI with tag key=value and a name.
  void AddPoi(int64_t id, LatLng at, const std::string& key, const std::string& value,
              const std::string& name);
  // Cuts the street segment between nodes `a` and `b` (consecutive in one way): the way ends
  // at a and a new way `new_way` starts at b.
  void CutStreet(int64_t a, int64_t b, int64_t new_way);

  // The POI node ids with shop=supermarket.
  std::vector<int64_t> GroceryNodes() const;

  void WritePbf(const std::string& path) const;
  // An OSM change file (.osc) that turns `before` into `after`: nodes and ways created,
  // modified (any difference) and deleted; gzip-compressed when `path` ends in .gz.
  static void WriteChange(const OsmTown& before, const OsmTown& after, const std::string& path);
};

}  // namespace nbi::testing
