// Walking-distance scoring (SPEC §4a): the models grocery-walk and blend-walk, and point
// scores along the street network.
//
// The distance from a point c to a POI p is h(c, n_c) + G(n_c, n_p) + h(n_p, p): haversine
// to the snapped nodes, network distance between them. A WalkIndex computes, once per job,
// for each category it needs and each node n the sorted list of D(n, p) = G(n, n_p) +
// h(n_p, p) for every POI p with D <= the category's radius: one Dijkstra per POI from its
// node, bounded by the radius. A cell then snaps to its node n_c and reads its list: the POIs
// within the radius are those with h(c, n_c) + D <= radius, the nearest is the first. So a
// cell costs one snap and a short list scan, and the rest of SPEC §4 (RawScore, CellScore)
// is shared with the straight-line models.
//
// A point whose nearest node lies beyond a category's radius counts no POI of it; a POI in
// another component of the network is never reached.
//
// Memory: the graph (~85 bytes per node) plus 8 bytes per (node, POI) pair within the
// radius (+4 with POI ids kept, +1 for healthcare's sub-types).
// Immutable after construction; safe to query from many threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/walk_network.h"
#include "geo/geo.h"
#include "poi/poi.h"
#include "score/model.h"
#include "score/scorer.h"
#include "walk/walk_graph.h"

namespace nbi {

class WalkIndex {
 public:
  struct Options {
    std::array<bool, kCategoryCount> categories{};  // which categories to prepare
    bool keep_pois = false;                         // keep POI numbers (point scores)
    // Prepare only the node this point snaps to (a point score): each POI's search stops
    // there.
    std::optional<LatLng> only_at;
  };
  // The categories a heatmap model needs (groceries; or groceries, restaurants, parks).
  static Options ForModel(HeatModel model);
  // Every category, POI numbers kept, for the point score at `at`.
  static Options ForPoint(LatLng at);

  WalkIndex(const WalkNetwork& net, const std::vector<PoiPoint>& pois, const Options& opts);

  const WalkGraph& graph() const { return graph_; }
  size_t MemoryBytes() const;
  // Seconds spent building the graph and searching from the POIs (the benchmark's split).
  double graph_seconds() const { return graph_seconds_; }
  double search_seconds() const { return search_seconds_; }

  // The largest radius of the prepared categories: how far a point may lie from its node.
  double max_radius_m() const { return max_radius_m_; }
  // Statistics of category c at a point snapped to `s` (SPEC §4 count, nearest, sub-types).
  CategoryStats StatsAt(Category c, const WalkGraph::Snapped& s) const;
  // Calls f(poi number, walking distance) for the POIs of c within its radius of a point
  // snapped to `s`, nearest first (needs keep_pois).
  template <typename F>
  void ForEachWithin(Category c, const WalkGraph::Snapped& s, F&& f) const;

 private:
  // For one category: node -> sorted distances D(n, p) <= radius (CSR).
  struct NodeLists {
    std::vector<uint32_t> start;  // graph size + 1; empty: no POI of it reaches any node
    std::vector<double> dist;
    std::vector<uint32_t> poi;   // keep_pois only
    std::vector<HealthSub> sub;  // healthcare only
  };
  // One (node, POI, distance) triple within a category's radius (walk_index.cc).
  struct Reach;
  // Searches from every POI of the prepared categories, then fills their lists.
  void Prepare(const std::vector<Category>& todo, const std::vector<PoiPoint>& pois,
               const Options& opts, const WalkGraph::Snapped& only);
  // The triples of POIs `numbers` of category c (all of it: the POIs' numbers in `pois`).
  void Search(Category c, std::span<const uint32_t> numbers, const std::vector<PoiPoint>& pois,
              const Options& opts, const WalkGraph::Snapped& only, WalkGraph::Scratch* scratch,
              std::vector<Reach>* out) const;
  // Category c's lists from its triples, found in `parts`.
  void Place(Category c, std::span<const std::vector<Reach>> parts,
             const std::vector<PoiPoint>& pois, const Options& opts);

  WalkGraph graph_;
  std::array<NodeLists, kCategoryCount> lists_;
  double max_radius_m_ = 0;
  double graph_seconds_ = 0, search_seconds_ = 0;
};

// Heatmap scores of cells [begin, end) of `region` for a walking model (out[0 .. end-begin)).
void ScoreCellsWalk(const WalkIndex& index, const GridRegion& region, int64_t begin, int64_t end,
                    HeatModel model, uint8_t* out);
int ScoreCellWalk(const WalkIndex& index, LatLng at, HeatModel model);

// The point score along the network: every category, distances walked. `index` was built
// with ForPoint(at) over `pois`; NearbyPoi::index numbers those POIs.
PointScore ScorePointWalk(const WalkIndex& index, LatLng at, int max_pois = 20);

template <typename F>
void WalkIndex::ForEachWithin(Category c, const WalkGraph::Snapped& s, F&& f) const {
  const NodeLists& l = lists_[static_cast<int>(c)];
  if (s.node < 0 || l.start.empty() || l.poi.empty()) return;
  const double radius = ParamsOf(c).radius_m;
  for (uint32_t i = l.start[s.node]; i < l.start[s.node + 1]; ++i) {
    const double d = s.dist_m + l.dist[i];
    if (d > radius) break;
    f(l.poi[i], d);
  }
}

}  // namespace nbi
