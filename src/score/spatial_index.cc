#include "score/spatial_index.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "score/model.h"

namespace nbi {

SpatialIndex::SpatialIndex(std::vector<Poi> pois) : pois_(std::move(pois)) {
  std::vector<uint32_t> members[kCategoryCount];
  for (uint32_t i = 0; i < pois_.size(); ++i) {
    members[static_cast<int>(pois_[i].category)].push_back(i);
  }
  for (Category c : kAllCategories) {
    const auto& ids = members[static_cast<int>(c)];
    Grid& g = grids_[static_cast<int>(c)];
    if (ids.empty()) continue;
    double min_lat = 90, max_lat = -90, min_lng = 180, max_lng = -180;
    for (uint32_t i : ids) {
      min_lat = std::min(min_lat, pois_[i].lat);
      max_lat = std::max(max_lat, pois_[i].lat);
      min_lng = std::min(min_lng, pois_[i].lng);
      max_lng = std::max(max_lng, pois_[i].lng);
    }
    // Bucket side ~ the category radius, grown until buckets are at most ~4 per POI.
    g.bucket_deg = ParamsOf(c).radius_m / kMetersPerDegreeLat;
    const double cap = 4.0 * static_cast<double>(ids.size()) + 1024;
    while (((max_lat - min_lat) / g.bucket_deg + 1) * ((max_lng - min_lng) / g.bucket_deg + 1) >
           cap) {
      g.bucket_deg *= 2;
    }
    g.min_lat = min_lat;
    g.min_lng = min_lng;
    g.rows = static_cast<int64_t>((max_lat - min_lat) / g.bucket_deg) + 1;
    g.cols = static_cast<int64_t>((max_lng - min_lng) / g.bucket_deg) + 1;
    auto bucket_of = [&](uint32_t i) {
      int64_t r = std::min<int64_t>(g.rows - 1,
                                    static_cast<int64_t>((pois_[i].lat - min_lat) / g.bucket_deg));
      int64_t col = std::min<int64_t>(
          g.cols - 1, static_cast<int64_t>((pois_[i].lng - min_lng) / g.bucket_deg));
      return r * g.cols + col;
    };
    g.start.assign(g.rows * g.cols + 1, 0);
    for (uint32_t i : ids) ++g.start[bucket_of(i) + 1];
    for (size_t b = 1; b < g.start.size(); ++b) g.start[b] += g.start[b - 1];
    std::vector<uint32_t> fill(g.start.begin(), g.start.end() - 1);
    g.uv.resize(ids.size());
    g.poi.resize(ids.size());
    g.sub.resize(ids.size());
    for (uint32_t i : ids) {
      uint32_t s = fill[bucket_of(i)]++;
      g.uv[s] = ToUnitVec(pois_[i].lat, pois_[i].lng);
      g.poi[s] = i;
      g.sub[s] = pois_[i].sub;
    }
  }
}

SpatialIndex::RowWindow SpatialIndex::WindowFor(Category c, double lat, double radius_m) const {
  const Grid& g = grids_[static_cast<int>(c)];
  RowWindow w;
  if (g.uv.empty()) return w;
  // Latitude difference is a lower bound of the great-circle distance; pad for rounding.
  double dlat = radius_m / kMetersPerDegreeLat * (1 + 1e-9) + 1e-9;
  w.row_lo = std::max<int64_t>(
      0, static_cast<int64_t>(std::floor((lat - dlat - g.min_lat) / g.bucket_deg)));
  w.row_hi = std::min<int64_t>(
      g.rows - 1, static_cast<int64_t>(std::floor((lat + dlat - g.min_lat) / g.bucket_deg)));
  // Largest longitude difference reachable within the radius: asin(sin(d)/cos(lat)).
  double d = radius_m / kEarthRadiusM;
  double s = std::sin(d) / std::cos(lat * kDegToRad);
  if (std::abs(lat) + dlat >= 90 || s >= 1 || !std::isfinite(s)) {
    w.dlng_deg = 360;
  } else {
    w.dlng_deg = std::asin(s) / kDegToRad * (1 + 1e-9) + 1e-9;
  }
  return w;
}

}  // namespace nbi
