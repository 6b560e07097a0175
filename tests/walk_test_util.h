// Walk networks for tests: generated street grids, and a brute-force reference of SPEC §4a
// (snap by scanning every node, Dijkstra over the whole graph) written independently of
// src/walk.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <queue>
#include <utility>
#include <vector>

#include "common/walk_network.h"
#include "geo/geo.h"
#include "poi/poi.h"
#include "score/model.h"

namespace nbi::testing {

// Sorts and dedupes a network's nodes and edges (WalkNetwork's invariants).
inline void Normalize(WalkNetwork* net) {
  std::sort(net->nodes.begin(), net->nodes.end(),
            [](const WalkNode& a, const WalkNode& b) { return a.id < b.id; });
  net->nodes.erase(std::unique(net->nodes.begin(), net->nodes.end(),
                               [](const WalkNode& a, const WalkNode& b) { return a.id == b.id; }),
                   net->nodes.end());
  std::sort(net->edges.begin(), net->edges.end(), [](const WalkEdge& a, const WalkEdge& b) {
    return std::pair(a.a, a.b) < std::pair(b.a, b.b);
  });
}

// A rows x cols grid of nodes `step` degrees apart from (lat0, lng0); node (r, c) has id
// 1 + r * cols + c. Connect() chooses which neighbouring pairs get a street.
class StreetGrid {
 public:
  using Keep = std::function<bool(int r, int c, int r2, int c2)>;
  StreetGrid(double lat0, double lng0, double step, int rows, int cols)
      : lat0_(lat0), lng0_(lng0), step_(step), rows_(rows), cols_(cols) {}
  void Connect(Keep keep) { keep_ = std::move(keep); }
  int64_t IdOf(int r, int c) const { return 1 + int64_t(r) * cols_ + c; }
  LatLng PosOf(int r, int c) const { return {lat0_ + r * step_, lng0_ + c * step_}; }

  WalkNetwork Build() const {
    WalkNetwork net;
    std::vector<bool> used(size_t(rows_) * cols_);
    auto add = [&](int r, int c, int r2, int c2) {
      if (r2 >= rows_ || c2 >= cols_ || !keep_(r, c, r2, c2)) return;
      net.edges.push_back({IdOf(r, c), IdOf(r2, c2), HaversineMeters(PosOf(r, c), PosOf(r2, c2))});
      used[size_t(r) * cols_ + c] = used[size_t(r2) * cols_ + c2] = true;
    };
    for (int r = 0; r < rows_; ++r) {
      for (int c = 0; c < cols_; ++c) {
        add(r, c, r, c + 1);
        add(r, c, r + 1, c);
      }
    }
    for (int r = 0; r < rows_; ++r) {
      for (int c = 0; c < cols_; ++c) {
        if (used[size_t(r) * cols_ + c])
          net.nodes.push_back({IdOf(r, c), PosOf(r, c).lat, PosOf(r, c).lng});
      }
    }
    Normalize(&net);
    return net;
  }

 private:
  double lat0_, lng0_, step_;
  int rows_, cols_;
  Keep keep_ = [](int, int, int, int) { return true; };
};

// Adds a closed square of four streets, side `side` degrees, south-west corner at (lat, lng),
// with node ids id0 .. id0+3.
inline void AddSquare(WalkNetwork* net, int64_t id0, double lat, double lng, double side) {
  const LatLng p[4] = {{lat, lng}, {lat, lng + side}, {lat + side, lng + side}, {lat + side, lng}};
  for (int i = 0; i < 4; ++i) net->nodes.push_back({id0 + i, p[i].lat, p[i].lng});
  for (int i = 0; i < 4; ++i) {
    const int j = (i + 1) % 4;
    net->edges.push_back(
        {std::min(id0 + i, id0 + j), std::max(id0 + i, id0 + j), HaversineMeters(p[i], p[j])});
  }
  Normalize(net);
}

// SPEC §4a by brute force.
class BruteWalk {
 public:
  BruteWalk(const WalkNetwork& net, const std::vector<PoiPoint>& pois) : net_(net), pois_(pois) {
    for (size_t i = 0; i < net.nodes.size(); ++i) index_[net.nodes[i].id] = i;
    adj_.resize(net.nodes.size());
    for (const WalkEdge& e : net.edges) {
      adj_[index_.at(e.a)].emplace_back(index_.at(e.b), e.length_m);
      adj_[index_.at(e.b)].emplace_back(index_.at(e.a), e.length_m);
    }
    for (const PoiPoint& p : pois) poi_node_.push_back(Snap({p.lat, p.lng}));
  }

  // The nearest node by haversine, ties to the smallest id: (index, distance).
  std::pair<size_t, double> Snap(LatLng p) const {
    size_t best = 0;
    double best_d = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < net_.nodes.size(); ++i) {
      const double d = HaversineMeters(p, {net_.nodes[i].lat, net_.nodes[i].lng});
      if (d < best_d || (d == best_d && net_.nodes[i].id < net_.nodes[best].id)) {
        best = i;
        best_d = d;
      }
    }
    return {best, best_d};
  }

  // Shortest-path lengths from node `from` to every node over the whole graph.
  std::vector<double> Dijkstra(size_t from) const {
    std::vector<double> dist(net_.nodes.size(), std::numeric_limits<double>::infinity());
    std::priority_queue<std::pair<double, size_t>, std::vector<std::pair<double, size_t>>,
                        std::greater<>>
        q;
    dist[from] = 0;
    q.emplace(0, from);
    while (!q.empty()) {
      auto [d, v] = q.top();
      q.pop();
      if (d > dist[v]) continue;
      for (auto [w, len] : adj_[v]) {
        if (d + len < dist[w]) {
          dist[w] = d + len;
          q.emplace(dist[w], w);
        }
      }
    }
    return dist;
  }

  // The walking distance from `at` to POI number `poi` (infinite across components).
  double WalkMeters(LatLng at, size_t poi) const {
    auto [n, h] = Snap(at);
    const std::vector<double> g = Dijkstra(n);
    return h + g[poi_node_[poi].first] + poi_node_[poi].second;
  }

  CategoryStats Stats(Category c, const std::vector<double>& g, double h) const {
    CategoryStats s;
    const double radius = ParamsOf(c).radius_m;
    for (size_t i = 0; i < pois_.size(); ++i) {
      if (pois_[i].category != c) continue;
      const double d = h + g[poi_node_[i].first] + poi_node_[i].second;
      if (!(d <= radius)) continue;
      if (s.count == 0 || d < s.nearest_m) s.nearest_m = d;
      ++s.count;
      ++s.sub_count[static_cast<int>(pois_[i].sub)];
    }
    return s;
  }

  int CellScore(LatLng at, HeatModel model) const {
    const std::pair<size_t, double> snapped = Snap(at);
    const size_t n = snapped.first;
    const double h = snapped.second;  // a plain variable: lambdas cannot capture bindings (C++20)
    const std::vector<double> g = Dijkstra(n);
    auto raw = [&](Category c) { return RawScore(c, Stats(c, g, h)); };
    return nbi::CellScore(model, raw(Category::kGroceries), raw(Category::kRestaurants),
                          raw(Category::kParks));
  }

 private:
  const WalkNetwork& net_;
  const std::vector<PoiPoint>& pois_;
  std::map<int64_t, size_t> index_;
  std::vector<std::vector<std::pair<size_t, double>>> adj_;
  std::vector<std::pair<size_t, double>> poi_node_;
};

}  // namespace nbi::testing
