// An in-memory spatial index over POIs, one bucket grid per category.
//
// Each category's POIs are sorted into square buckets of `bucket_deg` degrees (about the
// category's radius) over the bounding box of that category's POIs and stored as a CSR
// array (bucket -> [begin, end) of POI slots). A slot holds the POI's unit vector, so the
// "within r metres" test is one squared-chord comparison, exact to the haversine distance:
//
//     bucket rows (lat) ->   . . . . .
//                            . # # # .     query at x with radius r visits only the
//                            . # x # .     buckets that can hold a point within r
//                            . # # # .     (# marks), then tests each slot's chord.
//
// Memory: per POI one 29-byte slot (a 24-byte UnitVec, a 4-byte index and a 1-byte sub-type,
// in parallel arrays) plus 4 bytes per bucket (capped at ~4 per POI); an index built from
// full Pois also keeps them (sizeof(Poi), 88 bytes on x86-64, plus heap for long names).
// Immutable after construction; safe to query from many threads.
#pragma once

#include <cstdint>
#include <vector>

#include "geo/geo.h"
#include "poi/poi.h"

namespace nbi {

class SpatialIndex {
 public:
  SpatialIndex() = default;
  // Indexes `pois`; the index keeps them (PoiAt(i) returns the i-th given POI): the point
  // score answer names its POIs.
  explicit SpatialIndex(std::vector<Poi> pois);
  // Indexes `points` and keeps none of them (PoiAt is not available): what a job needs, at
  // 29 bytes per POI plus at most ~16 of buckets.
  explicit SpatialIndex(const std::vector<PoiPoint>& points);

  size_t size() const { return count_; }
  // Bytes this index holds on the heap and inline (for the memory benchmark).
  size_t MemoryBytes() const;
  size_t CountOf(Category c) const { return grids_[static_cast<int>(c)].uv.size(); }
  // Only on an index built from Pois (pois_ is empty for points).
  const Poi& PoiAt(uint32_t i) const { return pois_.at(i); }
  const std::vector<Poi>& pois() const { return pois_; }

  // Pre-computed query shape for one latitude: which bucket rows and how many degrees of
  // longitude a circle of `radius_m` can reach. Depends only on (category, lat, radius).
  struct RowWindow {
    int64_t row_lo = 0, row_hi = -1;  // inclusive bucket rows; empty when row_hi < row_lo
    double dlng_deg = 0;              // half-width in longitude; >= 180 means all longitudes
  };
  RowWindow WindowFor(Category c, double lat, double radius_m) const;

  // Calls f(poi_index, sub, chord2) for every POI of category c with squared chord to `p`
  // at most `max_chord2` (i.e. great-circle distance <= the radius the window was built for).
  template <typename F>
  void ForEachWithin(Category c, const RowWindow& w, double lng, const UnitVec& p,
                     double max_chord2, F&& f) const;

 private:
  struct Grid {
    double bucket_deg = 1;
    double min_lat = 0, min_lng = 0;
    int64_t rows = 0, cols = 0;
    std::vector<uint32_t> start;  // rows*cols+1 offsets into the slot arrays
    std::vector<UnitVec> uv;      // slots, bucket-major
    std::vector<uint32_t> poi;    // slot -> index into pois_
    std::vector<HealthSub> sub;   // slot -> healthcare sub-type
  };
  template <typename F>
  void ScanCols(const Grid& g, int64_t r0, int64_t r1, double lng_lo, double lng_hi,
                const UnitVec& p, double max_chord2, F& f) const;

  template <typename PointAt>
  void Build(PointAt point_at);

  size_t count_ = 0;
  std::vector<Poi> pois_;  // empty for an index of points
  Grid grids_[kCategoryCount];
};

template <typename F>
void SpatialIndex::ScanCols(const Grid& g, int64_t r0, int64_t r1, double lng_lo, double lng_hi,
                            const UnitVec& p, double max_chord2, F& f) const {
  int64_t c0 = static_cast<int64_t>(std::floor((lng_lo - g.min_lng) / g.bucket_deg));
  int64_t c1 = static_cast<int64_t>(std::floor((lng_hi - g.min_lng) / g.bucket_deg));
  if (c0 < 0) c0 = 0;
  if (c1 >= g.cols) c1 = g.cols - 1;
  if (c1 < c0) return;
  for (int64_t r = r0; r <= r1; ++r) {
    // Buckets of one row are contiguous, so the whole column span is one slot range.
    uint32_t b = g.start[r * g.cols + c0], e = g.start[r * g.cols + c1 + 1];
    for (uint32_t s = b; s < e; ++s) {
      double d2 = Chord2(g.uv[s], p);
      if (d2 <= max_chord2) f(g.poi[s], g.sub[s], d2);
    }
  }
}

template <typename F>
void SpatialIndex::ForEachWithin(Category c, const RowWindow& w, double lng, const UnitVec& p,
                                 double max_chord2, F&& f) const {
  const Grid& g = grids_[static_cast<int>(c)];
  if (w.row_hi < w.row_lo) return;
  if (w.dlng_deg >= 180) {
    ScanCols(g, w.row_lo, w.row_hi, -1e9, 1e9, p, max_chord2, f);
    return;
  }
  double lo = lng - w.dlng_deg, hi = lng + w.dlng_deg;
  ScanCols(g, w.row_lo, w.row_hi, lo, hi, p, max_chord2, f);
  // Across the antimeridian: the wrapped part of the window.
  if (lo < -180) ScanCols(g, w.row_lo, w.row_hi, lo + 360, 180, p, max_chord2, f);
  if (hi > 180) ScanCols(g, w.row_lo, w.row_hi, -180, hi - 360, p, max_chord2, f);
}

}  // namespace nbi
