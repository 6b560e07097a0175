// The walk network of one job in memory (SPEC §4a): compressed sparse rows, a bucket grid
// for snapping points to their nearest node, and a bounded Dijkstra.
//
// Layout, for N nodes and E undirected edges (each stored in both directions):
//   ids, lat, lng   N each: the OSM node id and position, in id order
//   start           N+1 offsets into `to` and `len` (node v's arcs are start[v]..start[v+1])
//   to, len         2E: the arc's head and its length in metres
//   grid            a CSR bucket grid over the nodes' positions, ~4 nodes per bucket
// 56 bytes per node (id, position, offset, bucket slot with its unit vector) and 12 per arc;
// a street network has ~2.2 arcs per node: ~85 bytes per node.
//
// Immutable after construction; Snap and Search are safe from many threads (Search takes
// its scratch space from the caller).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "common/walk_network.h"
#include "geo/geo.h"

namespace nbi {

class WalkGraph {
 public:
  WalkGraph() = default;
  // Builds the graph of `net` (its invariants: nodes sorted and unique, edges' ends among
  // them; an edge with an unknown end is ignored).
  explicit WalkGraph(const WalkNetwork& net);

  int32_t size() const { return static_cast<int32_t>(ids_.size()); }
  int64_t arcs() const { return static_cast<int64_t>(to_.size()); }
  int64_t id(int32_t v) const { return ids_[v]; }
  LatLng pos(int32_t v) const { return {lat_[v], lng_[v]}; }
  size_t MemoryBytes() const;

  // The node nearest to `p` by haversine distance, ties to the smallest OSM id, if one lies
  // within `max_m`; node -1 otherwise.
  struct Snapped {
    int32_t node = -1;
    double dist_m = std::numeric_limits<double>::infinity();
  };
  Snapped Snap(LatLng p, double max_m) const;
  // The same with the point's unit vector (ToUnitVec) computed by the caller: the hot path of
  // cell scoring, whose rows and columns share their trigonometry.
  Snapped Snap(LatLng p, const UnitVec& uv, double max_m) const;

  // Reusable per-thread state of Search.
  struct Scratch {
    std::vector<double> dist;      // per node; +inf outside a search
    std::vector<int32_t> touched;  // nodes whose dist was set, reset after each search
    std::vector<std::pair<double, int32_t>> heap;  // a min-heap (std::greater)
  };
  // Dijkstra from `source` starting at distance `d0`: calls f(node, distance) once for every
  // node whose distance is at most `bound`, in order of distance. f returns false to stop.
  template <typename F>
  void Search(int32_t source, double d0, double bound, Scratch* s, F&& f) const;

 private:
  void BuildGrid();
  // Lower bound of the distance from `p` to any point outside rows [r0, r1] x cols [c0, c1].
  // cos_p: cos(p.lat).
  double OutsideBound(LatLng p, double cos_p, int64_t r0, int64_t r1, int64_t c0, int64_t c1) const;

  std::vector<int64_t> ids_;
  std::vector<double> lat_, lng_;
  std::vector<uint32_t> start_;
  std::vector<int32_t> to_;
  std::vector<double> len_;
  // Bucket grid: bucket (r, c) covers [min_lat + r*deg, +deg) x [min_lng + c*deg, +deg).
  double bucket_deg_ = 1, min_lat_ = 0, min_lng_ = 0;
  double cos_min_ = 0;  // see BuildGrid
  int64_t rows_ = 0, cols_ = 0;
  std::vector<uint32_t> bucket_start_;  // rows*cols+1
  std::vector<int32_t> bucket_node_;
  std::vector<UnitVec> bucket_uv_;  // the node's unit vector, parallel to bucket_node_
};

template <typename F>
void WalkGraph::Search(int32_t source, double d0, double bound, Scratch* s, F&& f) const {
  if (source < 0 || d0 > bound) return;
  if (s->dist.size() != ids_.size()) {
    s->dist.assign(ids_.size(), std::numeric_limits<double>::infinity());
  }
  auto set = [&](int32_t v, double d) {
    if (s->dist[v] == std::numeric_limits<double>::infinity()) s->touched.push_back(v);
    s->dist[v] = d;
    s->heap.emplace_back(d, v);
    std::push_heap(s->heap.begin(), s->heap.end(), std::greater<>());
  };
  set(source, d0);
  bool go_on = true;
  while (go_on && !s->heap.empty()) {
    std::pop_heap(s->heap.begin(), s->heap.end(), std::greater<>());
    auto [d, v] = s->heap.back();
    s->heap.pop_back();
    if (d > s->dist[v]) continue;  // a stale entry
    go_on = f(v, d);
    for (uint32_t a = start_[v]; go_on && a < start_[v + 1]; ++a) {
      const double nd = d + len_[a];
      if (nd <= bound && nd < s->dist[to_[a]]) set(to_[a], nd);
    }
  }
  for (int32_t v : s->touched) s->dist[v] = std::numeric_limits<double>::infinity();
  s->touched.clear();
  s->heap.clear();
}

}  // namespace nbi
