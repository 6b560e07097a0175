#include "walk/walk_graph.h"

#include <algorithm>
#include <cmath>

namespace nbi {

namespace {

// Two distances closer than this (metres) are compared by their haversine values: the chord
// of two unit vectors is exact to ~1e-9 m, the rest of the margin is slack.
constexpr double kTieSlackM = 1e-6;

}  // namespace

WalkGraph::WalkGraph(const WalkNetwork& net) {
  const size_t n = net.nodes.size();
  ids_.reserve(n);
  lat_.reserve(n);
  lng_.reserve(n);
  for (const WalkNode& node : net.nodes) {
    ids_.push_back(node.id);
    lat_.push_back(node.lat);
    lng_.push_back(node.lng);
  }
  auto index_of = [&](int64_t id) -> int32_t {
    auto it = std::lower_bound(ids_.begin(), ids_.end(), id);
    return it != ids_.end() && *it == id ? static_cast<int32_t>(it - ids_.begin()) : -1;
  };
  // Arcs in both directions, counted per tail, then placed (CSR).
  std::vector<std::pair<int32_t, int32_t>> ends;
  ends.reserve(net.edges.size());
  start_.assign(n + 1, 0);
  for (const WalkEdge& e : net.edges) {
    const int32_t a = index_of(e.a), b = index_of(e.b);
    ends.emplace_back(a, b);
    if (a < 0 || b < 0 || a == b) continue;
    ++start_[a + 1];
    ++start_[b + 1];
  }
  for (size_t v = 0; v < n; ++v) start_[v + 1] += start_[v];
  to_.resize(start_[n]);
  len_.resize(start_[n]);
  std::vector<uint32_t> fill(start_.begin(), start_.end() - 1);
  for (size_t i = 0; i < ends.size(); ++i) {
    auto [a, b] = ends[i];
    if (a < 0 || b < 0 || a == b) continue;
    to_[fill[a]] = b;
    len_[fill[a]++] = net.edges[i].length_m;
    to_[fill[b]] = a;
    len_[fill[b]++] = net.edges[i].length_m;
  }
  BuildGrid();
}

void WalkGraph::BuildGrid() {
  const size_t n = ids_.size();
  if (n == 0) return;
  const auto [lat_lo, lat_hi] = std::minmax_element(lat_.begin(), lat_.end());
  const auto [lng_lo, lng_hi] = std::minmax_element(lng_.begin(), lng_.end());
  min_lat_ = *lat_lo;
  min_lng_ = *lng_lo;
  const double dlat = *lat_hi - min_lat_, dlng = *lng_hi - min_lng_;
  // About four nodes per bucket over the box, no smaller than ~55 m.
  bucket_deg_ = std::max(5e-4, std::sqrt(std::max(dlat * dlng, 1e-12) / (double(n) / 4 + 1)));
  // The smallest cos(latitude) of any node or of any point a snap's box reaches before it
  // stops (OutsideBound): the graph's latitudes widened by ~5 km and one bucket.
  const double reach = 0.05 + bucket_deg_;
  const double far_lat =
      std::min(90.0, std::max(std::abs(min_lat_ - reach), std::abs(*lat_hi + reach)));
  cos_min_ = std::cos(far_lat * kDegToRad);
  rows_ = static_cast<int64_t>(dlat / bucket_deg_) + 1;
  cols_ = static_cast<int64_t>(dlng / bucket_deg_) + 1;
  auto bucket_of = [&](size_t v) {
    int64_t r = std::min<int64_t>(rows_ - 1, int64_t((lat_[v] - min_lat_) / bucket_deg_));
    int64_t c = std::min<int64_t>(cols_ - 1, int64_t((lng_[v] - min_lng_) / bucket_deg_));
    return r * cols_ + c;
  };
  bucket_start_.assign(size_t(rows_ * cols_ + 1), 0);
  for (size_t v = 0; v < n; ++v) ++bucket_start_[bucket_of(v) + 1];
  for (size_t b = 0; b + 1 < bucket_start_.size(); ++b) bucket_start_[b + 1] += bucket_start_[b];
  bucket_node_.resize(n);
  bucket_uv_.resize(n);
  std::vector<uint32_t> fill(bucket_start_.begin(), bucket_start_.end() - 1);
  for (size_t v = 0; v < n; ++v) {  // in id order within each bucket
    const uint32_t slot = fill[bucket_of(v)]++;
    bucket_node_[slot] = static_cast<int32_t>(v);
    bucket_uv_[slot] = ToUnitVec(lat_[v], lng_[v]);
  }
}

double WalkGraph::OutsideBound(LatLng p, double cos_p, int64_t r0, int64_t r1, int64_t c0,
                               int64_t c1) const {
  const double lat0 = min_lat_ + double(r0) * bucket_deg_;
  const double lat1 = min_lat_ + double(r1 + 1) * bucket_deg_;
  const double lng0 = min_lng_ + double(c0) * bucket_deg_;
  const double lng1 = min_lng_ + double(c1 + 1) * bucket_deg_;
  // Across a latitude edge: at least the difference in latitude.
  const double by_lat = std::min(p.lat - lat0, lat1 - p.lat) * kMetersPerDegreeLat;
  // Across a longitude edge, within the box's latitudes: hav(d) >= cos(lat_p) cos(lat_q)
  // hav(dlng), so d >= 2R sin(d/2R) >= 2R sqrt(cos_p cos_q) sin(dlng/2), and sin(x) >=
  // x (1 - x^2/6). cos_q is at least cos_min_, taken over the graph's latitudes and a margin
  // wider than any box a snap scans before it stops.
  const double dlng = std::min(p.lng - lng0, lng1 - p.lng) * kDegToRad;
  double by_lng = 0;
  if (dlng > 0) {
    const double x = std::min(dlng, kPi) / 2;
    by_lng = 2 * kEarthRadiusM * std::sqrt(std::max(0.0, cos_p * cos_min_)) * x * (1 - x * x / 6);
  }
  return std::min(by_lat, by_lng) * (1 - 1e-9) - kTieSlackM;
}

WalkGraph::Snapped WalkGraph::Snap(LatLng p, double max_m) const {
  return Snap(p, ToUnitVec(p.lat, p.lng), max_m);
}

WalkGraph::Snapped WalkGraph::Snap(LatLng p, const UnitVec& uv, double max_m) const {
  Snapped out;
  if (ids_.empty()) return out;
  const double cos_p = std::sqrt(uv.x * uv.x + uv.y * uv.y);
  const int64_t r = static_cast<int64_t>(std::floor((p.lat - min_lat_) / bucket_deg_));
  const int64_t c = static_cast<int64_t>(std::floor((p.lng - min_lng_) / bucket_deg_));
  // Squared chords (unit sphere). `near` keeps the nodes within the slack of the best so far.
  constexpr double kSlack = kTieSlackM / kEarthRadiusM;
  double best2 = std::numeric_limits<double>::infinity(), keep2 = best2;
  thread_local std::vector<std::pair<double, int32_t>> near;
  near.clear();
  auto scan = [&](int64_t row, int64_t c_lo, int64_t c_hi) {
    if (row < 0 || row >= rows_) return;
    c_lo = std::max<int64_t>(c_lo, 0);
    c_hi = std::min<int64_t>(c_hi, cols_ - 1);
    if (c_hi < c_lo) return;
    const uint32_t end = bucket_start_[row * cols_ + c_hi + 1];
    for (uint32_t s = bucket_start_[row * cols_ + c_lo]; s < end; ++s) {
      const double d2 = Chord2(uv, bucket_uv_[s]);
      if (d2 > keep2) continue;
      if (d2 < best2) {
        best2 = d2;
        const double k = std::sqrt(d2) + kSlack;
        keep2 = k * k;
      }
      near.emplace_back(d2, bucket_node_[s]);
    }
  };
  for (int64_t k = 0;; ++k) {
    if (k == 0) {
      scan(r, c, c);
    } else {
      scan(r - k, c - k, c + k);
      scan(r + k, c - k, c + k);
      for (int64_t row = std::max<int64_t>(r - k + 1, 0); row <= std::min(r + k - 1, rows_ - 1);
           ++row) {
        scan(row, c - k, c - k);
        scan(row, c + k, c + k);
      }
    }
    if (r - k <= 0 && r + k >= rows_ - 1 && c - k <= 0 && c + k >= cols_ - 1) break;
    const double outside = OutsideBound(p, cos_p, r - k, r + k, c - k, c + k);
    if (outside > max_m) break;  // nothing farther can count
    // Chords are shorter than arcs, by a factor above 1 - 1e-8 within a few km.
    const double outside_chord = outside * (1 - 1e-8) / kEarthRadiusM;
    if (outside_chord > 0 && keep2 < outside_chord * outside_chord) break;  // none outside ties
  }
  // The candidates within the slack of the nearest, by haversine, then by id (= index order).
  for (auto [d2, v] : near) {
    if (d2 > keep2) continue;
    const double h = HaversineMeters(p, pos(v));
    if (h < out.dist_m || (h == out.dist_m && v < out.node)) out = {v, h};
  }
  if (out.dist_m > max_m) return Snapped{};
  return out;
}

size_t WalkGraph::MemoryBytes() const {
  return ids_.capacity() * sizeof(int64_t) + (lat_.capacity() + lng_.capacity()) * sizeof(double) +
         start_.capacity() * sizeof(uint32_t) + to_.capacity() * sizeof(int32_t) +
         len_.capacity() * sizeof(double) + bucket_start_.capacity() * sizeof(uint32_t) +
         bucket_node_.capacity() * sizeof(int32_t) + bucket_uv_.capacity() * sizeof(UnitVec);
}

}  // namespace nbi
