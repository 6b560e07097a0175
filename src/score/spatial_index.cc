#include "score/spatial_index.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "score/model.h"

namespace nbi {

SpatialIndex::SpatialIndex(std::vector<Poi> pois) : pois_(std::move(pois)) {
  count_ = pois_.size();
  Build([&](uint32_t i) { return PointOf(pois_[i]); });
}

SpatialIndex::SpatialIndex(const std::vector<PoiPoint>& points) {
  count_ = points.size();
  Build([&](uint32_t i) { return points[i]; });
}

size_t SpatialIndex::MemoryBytes() const {
  size_t bytes = sizeof(*this) + pois_.capacity() * sizeof(Poi);
  for (const Poi& p : pois_) {
    if (p.name.capacity() > 15) bytes += p.name.capacity() + 1;
    if (p.source_id.capacity() > 15) bytes += p.source_id.capacity() + 1;
  }
  for (const Grid& g : grids_) {
    bytes += g.start.capacity() * sizeof(uint32_t) + g.uv.capacity() * sizeof(UnitVec) +
             g.poi.capacity() * sizeof(uint32_t) + g.sub.capacity() * sizeof(HealthSub);
  }
  return bytes;
}

template <typename PointAt>
void SpatialIndex::Build(PointAt point_at) {
  std::vector<uint32_t> members[kCategoryCount];
  for (uint32_t i = 0; i < count_; ++i) {
    members[static_cast<int>(point_at(i).category)].push_back(i);
  }
  for (Category c : kAllCategories) {
    const auto& ids = members[static_cast<int>(c)];
    Grid& g = grids_[static_cast<int>(c)];
    if (ids.empty()) continue;
    double min_lat = 90, max_lat = -90, min_lng = 180, max_lng = -180;
    for (uint32_t i : ids) {
      const PoiPoint p = point_at(i);
      min_lat = std::min(min_lat, p.lat);
      max_lat = std::max(max_lat, p.lat);
      min_lng = std::min(min_lng, p.lng);
      max_lng = std::max(max_lng, p.lng);
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
      const PoiPoint p = point_at(i);
      int64_t r =
          std::min<int64_t>(g.rows - 1, static_cast<int64_t>((p.lat - min_lat) / g.bucket_deg));
      int64_t col =
          std::min<int64_t>(g.cols - 1, static_cast<int64_t>((p.lng - min_lng) / g.bucket_deg));
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
      const PoiPoint p = point_at(i);
      g.uv[s] = ToUnitVec(p.lat, p.lng);
      g.poi[s] = i;
      g.sub[s] = p.sub;
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
