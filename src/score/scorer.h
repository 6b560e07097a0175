// The scorer: point scores and heatmap cell scores from one SpatialIndex, through one code
// path (CollectStats -> RawScore), so a point score and a heatmap cell at the same spot agree.
//
// Thread-safe: all functions are pure over an immutable SpatialIndex.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "geo/geo.h"
#include "score/model.h"
#include "score/spatial_index.h"

namespace nbi {

// Statistics of category c around point p (unit vector `uv` of (lat, lng)).
CategoryStats CollectStats(const SpatialIndex& index, Category c, double lat, double lng,
                           const UnitVec& uv);

struct NearbyPoi {
  uint32_t index;  // into SpatialIndex::pois()
  double distance_m;
};

struct CategoryScoreDetail {
  Category category;
  int score = 0;
  int count = 0;
  double radius_m = 0;
  std::optional<double> nearest_m;
  std::vector<NearbyPoi> nearest;  // up to `max_pois`, nearest first
};

struct PointScore {
  LatLng at;
  int overall = 0;
  std::array<CategoryScoreDetail, kCategoryCount> categories;
  // The heatmap cell score of `model` at this point, from the same statistics.
  int cell_score(HeatModel model) const;
  std::array<double, kCategoryCount> raw{};
};

PointScore ScorePoint(const SpatialIndex& index, LatLng at, int max_pois = 20);

// Heatmap score of one cell.
int ScoreCell(const SpatialIndex& index, LatLng at, HeatModel model);

// Scores cells [begin, end) of `region` (row-major numbers) into out[0 .. end-begin).
// This is the hot kernel: trigonometry is hoisted per row and per column.
void ScoreCells(const SpatialIndex& index, const GridRegion& region, int64_t begin, int64_t end,
                HeatModel model, uint8_t* out);

}  // namespace nbi
