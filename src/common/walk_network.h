// The walk network's rows (SPEC §4a): OSM nodes joined by undirected street segments that
// people can walk, as the importer reads them from an extract (poi/walk_ways.h selects the
// ways), the store keeps them and walk/ routes over them. Plain values that the importer, the
// store and the router share, so they sit below all three.
#pragma once

#include <cstdint>
#include <vector>

namespace nbi {

struct WalkNode {
  int64_t id = 0;  // the OSM node id
  double lat = 0, lng = 0;
};

// How a street map draws an edge (the way's `highway` value, poi/walk_ways.h WalkClassOf): 0 a path
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

// The nodes of one OSM way in order, with their positions when known (a node missing from a
// clipped extract has none: `known` false), kept by the store for the ways an import read (POI
// ways and walk ways) so that a change file can place a way whose nodes it lacks, move a way's
// POI with a node that moved, and find the walk edges of a way it deletes or modifies.
struct OsmWayRef {
  int64_t node = 0;
  double lat = 0, lng = 0;
  bool known = true;
};
struct OsmWayNodes {
  int64_t id = 0;  // the OSM way id
  int cls = -1;    // its walk class (kWalkClassPath..kWalkClassMajor), -1: not a walk way
  std::vector<OsmWayRef> refs;
};

}  // namespace nbi
