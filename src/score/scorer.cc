#include "score/scorer.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nbi {

namespace {

// Stats for one category given a pre-built window (shared by point and cell scoring).
CategoryStats StatsInWindow(const SpatialIndex& index, Category c, const SpatialIndex::RowWindow& w,
                            double max_chord2, double lng, const UnitVec& uv) {
  CategoryStats s;
  double best = std::numeric_limits<double>::infinity();
  index.ForEachWithin(c, w, lng, uv, max_chord2, [&](uint32_t, HealthSub sub, double d2) {
    ++s.count;
    ++s.sub_count[static_cast<int>(sub)];
    if (d2 < best) best = d2;
  });
  if (s.count > 0) s.nearest_m = MetersForChordSquared(best);
  return s;
}

struct ModelCategories {
  bool groceries = false, restaurants = false, parks = false;
};
ModelCategories NeededBy(HeatModel m) {
  if (IsGroceryOnly(m)) return {true, false, false};
  return {true, true, true};
}

// Raw scores of the categories `m` needs at one point; windows are per row.
struct RowContext {
  SpatialIndex::RowWindow w[kCategoryCount];
  double max_chord2[kCategoryCount];
};

void BuildRow(const SpatialIndex& index, double lat, RowContext* ctx) {
  for (Category c : kAllCategories) {
    double r = ParamsOf(c).radius_m;
    ctx->w[static_cast<int>(c)] = index.WindowFor(c, lat, r);
    ctx->max_chord2[static_cast<int>(c)] = ChordSquaredForMeters(r);
  }
}

double RawAt(const SpatialIndex& index, const RowContext& ctx, Category c, double lng,
             const UnitVec& uv) {
  int k = static_cast<int>(c);
  return RawScore(c, StatsInWindow(index, c, ctx.w[k], ctx.max_chord2[k], lng, uv));
}

int CellAt(const SpatialIndex& index, const RowContext& ctx, HeatModel model, double lng,
           const UnitVec& uv) {
  ModelCategories need = NeededBy(model);
  double g = need.groceries ? RawAt(index, ctx, Category::kGroceries, lng, uv) : 0;
  double r = need.restaurants ? RawAt(index, ctx, Category::kRestaurants, lng, uv) : 0;
  double p = need.parks ? RawAt(index, ctx, Category::kParks, lng, uv) : 0;
  return CellScore(model, g, r, p);
}

}  // namespace

CategoryStats CollectStats(const SpatialIndex& index, Category c, double lat, double lng,
                           const UnitVec& uv) {
  double r = ParamsOf(c).radius_m;
  return StatsInWindow(index, c, index.WindowFor(c, lat, r), ChordSquaredForMeters(r), lng, uv);
}

int PointScore::cell_score(HeatModel model) const {
  return CellScore(model, raw[static_cast<int>(Category::kGroceries)],
                   raw[static_cast<int>(Category::kRestaurants)],
                   raw[static_cast<int>(Category::kParks)]);
}

PointScore ScorePoint(const SpatialIndex& index, LatLng at, int max_pois) {
  PointScore ps;
  ps.at = at;
  UnitVec uv = ToUnitVec(at.lat, at.lng);
  std::array<int, kCategoryCount> scores{};
  for (Category c : kAllCategories) {
    const CategoryParams& p = ParamsOf(c);
    int k = static_cast<int>(c);
    auto w = index.WindowFor(c, at.lat, p.radius_m);
    double max_chord2 = ChordSquaredForMeters(p.radius_m);
    CategoryStats s = StatsInWindow(index, c, w, max_chord2, at.lng, uv);
    CategoryScoreDetail& d = ps.categories[k];
    d.category = c;
    d.count = s.count;
    d.radius_m = p.radius_m;
    if (s.count > 0) d.nearest_m = s.nearest_m;
    ps.raw[k] = RawScore(c, s);
    d.score = CategoryScore(ps.raw[k]);
    scores[k] = d.score;
    if (max_pois > 0 && s.count > 0) {
      std::vector<std::pair<double, uint32_t>> found;
      index.ForEachWithin(c, w, at.lng, uv, max_chord2,
                          [&](uint32_t i, HealthSub, double d2) { found.emplace_back(d2, i); });
      size_t n = std::min<size_t>(found.size(), max_pois);
      std::partial_sort(found.begin(), found.begin() + n, found.end());
      for (size_t i = 0; i < n; ++i) {
        d.nearest.push_back({found[i].second, MetersForChordSquared(found[i].first)});
      }
    }
  }
  ps.overall = OverallScore(scores);
  return ps;
}

int ScoreCell(const SpatialIndex& index, LatLng at, HeatModel model) {
  RowContext ctx;
  BuildRow(index, at.lat, &ctx);
  return CellAt(index, ctx, model, at.lng, ToUnitVec(at.lat, at.lng));
}

void ScoreCells(const SpatialIndex& index, const GridRegion& region, int64_t begin, int64_t end,
                HeatModel model, uint8_t* out) {
  if (begin >= end) return;
  const int64_t cols = region.cols();
  // cos/sin of each column's longitude, computed once (ToUnitVec's exact expressions).
  int64_t col_lo = begin / cols == (end - 1) / cols ? begin % cols : 0;
  int64_t col_hi = begin / cols == (end - 1) / cols ? (end - 1) % cols : cols - 1;
  std::vector<double> cos_lng(col_hi - col_lo + 1), sin_lng(col_hi - col_lo + 1);
  for (int64_t j = col_lo; j <= col_hi; ++j) {
    double lo = region.LngOfCol(region.first_col() + j) * kDegToRad;
    cos_lng[j - col_lo] = std::cos(lo);
    sin_lng[j - col_lo] = std::sin(lo);
  }
  RowContext ctx;
  int64_t n = begin;
  while (n < end) {
    int64_t row = n / cols;
    double lat = region.LatOfRow(region.first_row() + row);
    BuildRow(index, lat, &ctx);
    double la = lat * kDegToRad;
    double cl = std::cos(la), sl = std::sin(la);
    int64_t row_end = std::min(end, (row + 1) * cols);
    for (; n < row_end; ++n) {
      int64_t j = n % cols;
      double lng = region.LngOfCol(region.first_col() + j);
      UnitVec uv{cl * cos_lng[j - col_lo], cl * sin_lng[j - col_lo], sl};
      out[n - begin] = static_cast<uint8_t>(CellAt(index, ctx, model, lng, uv));
    }
  }
}

}  // namespace nbi
