// The walk network (SPEC §4a): OSM nodes joined by undirected street segments that people
// can walk, as the importer reads them from an extract and the store keeps them.
//
// Selection (IsWalkWay): a way with `highway` in footway, path, pedestrian, steps,
// living_street, residential, service, unclassified, track, cycleway, road, tertiary,
// secondary, primary or one of their `_link`s; not `area=yes`; not `foot=no|private`; not
// `access=no|private` unless `foot=yes|designated|permissive`. Each pair of consecutive
// nodes of such a way is one edge of haversine length; a segment with a node missing from
// the extract is dropped. Ways sharing a node are connected through it.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace nbi {

struct WalkNode {
  int64_t id = 0;  // the OSM node id
  double lat = 0, lng = 0;
};

// How a street map draws an edge (the way's `highway` value, WalkClassOf): 0 a path
// (footway, path, steps, track, cycleway, service), 1 a street (residential, unclassified,
// living_street, road, pedestrian), 2 a major road (primary, secondary, tertiary and their
// links). Scoring ignores it.
inline constexpr uint8_t kWalkClassPath = 0, kWalkClassStreet = 1, kWalkClassMajor = 2;

// One undirected segment, a < b (OSM node ids), of haversine length between the two nodes.
struct WalkEdge {
  int64_t a = 0, b = 0;
  double length_m = 0;
  uint8_t cls = kWalkClassStreet;  // the drawing class (above)
};

// A set of nodes and edges: nodes sorted by id, unique, each an end of some edge; edges
// sorted by (a, b), unique, both ends among the nodes.
struct WalkNetwork {
  std::vector<WalkNode> nodes;
  std::vector<WalkEdge> edges;
  bool empty() const { return edges.empty(); }
};

// The value of tag `key` of a way, or "" when it has none.
using WayTagGetter = std::function<std::string_view(std::string_view key)>;
// True when a way with these tags belongs to the walk network (the selection above).
bool IsWalkWay(const WayTagGetter& tag);
// The drawing class of a walk way's `highway` value (a `_link` is its road's class).
uint8_t WalkClassOf(std::string_view highway);

}  // namespace nbi
