#include "geo/geo.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

namespace nbi {

Result<LatLng> LatLng::Make(double lat, double lng, std::string_view what) {
  if (!std::isfinite(lat) || !std::isfinite(lng)) {
    return Status::Invalid(fmt::format("{}: latitude and longitude must be finite numbers", what));
  }
  if (lat < -90 || lat > 90) {
    return Status::Invalid(fmt::format("{}: latitude {} is outside -90..90", what, lat));
  }
  if (lng < -180 || lng > 180) {
    return Status::Invalid(fmt::format("{}: longitude {} is outside -180..180", what, lng));
  }
  return LatLng{lat, lng};
}

double HaversineMeters(LatLng a, LatLng b) {
  double dlat = (b.lat - a.lat) * kDegToRad;
  double dlng = (b.lng - a.lng) * kDegToRad;
  double s1 = std::sin(dlat / 2), s2 = std::sin(dlng / 2);
  double h = s1 * s1 + std::cos(a.lat * kDegToRad) * std::cos(b.lat * kDegToRad) * s2 * s2;
  h = std::min(1.0, std::max(0.0, h));
  return 2 * kEarthRadiusM * std::asin(std::sqrt(h));
}

UnitVec ToUnitVec(double lat, double lng) {
  double la = lat * kDegToRad, lo = lng * kDegToRad;
  double c = std::cos(la);
  return {c * std::cos(lo), c * std::sin(lo), std::sin(la)};
}

double ChordSquaredForMeters(double meters) {
  double c = 2 * std::sin(std::min(kPi, meters / kEarthRadiusM) / 2);
  return c * c;
}

double MetersForChordSquared(double chord2) {
  double half = std::sqrt(std::max(0.0, chord2)) / 2;
  return 2 * kEarthRadiusM * std::asin(std::min(1.0, half));
}

Result<BBox> BBox::Make(double min_lat, double min_lng, double max_lat, double max_lng) {
  auto lo = LatLng::Make(min_lat, min_lng, "bounds min corner");
  if (!lo.ok()) return lo.status();
  auto hi = LatLng::Make(max_lat, max_lng, "bounds max corner");
  if (!hi.ok()) return hi.status();
  if (!(min_lat < max_lat)) {
    return Status::Invalid(
        fmt::format("bounds: minLat {} must be below maxLat {}", min_lat, max_lat));
  }
  if (!(min_lng < max_lng)) {
    return Status::Invalid(
        fmt::format("bounds: minLng {} must be below maxLng {}", min_lng, max_lng));
  }
  return BBox{min_lat, min_lng, max_lat, max_lng};
}

Result<BBox> BBox::Parse(std::string_view text) {
  std::vector<double> v;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view part = text.substr(pos, comma - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    double d = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), d);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size()) {
      return Status::Invalid(fmt::format(
          "bbox '{}': '{}' is not a number (want minLat,minLng,maxLat,maxLng)", text, part));
    }
    v.push_back(d);
    pos = comma + 1;
  }
  if (v.size() != 4) {
    return Status::Invalid(fmt::format(
        "bbox '{}': want 4 numbers minLat,minLng,maxLat,maxLng, got {}", text, v.size()));
  }
  return Make(v[0], v[1], v[2], v[3]);
}

BBox BBox::Expanded(double meters) const {
  double dlat = meters / kMetersPerDegreeLat;
  double worst_lat = std::min(89.0, std::max(std::abs(min_lat), std::abs(max_lat)) + dlat);
  double dlng = dlat / std::cos(worst_lat * kDegToRad);
  return {std::max(-90.0, min_lat - dlat), std::max(-180.0, min_lng - dlng),
          std::min(90.0, max_lat + dlat), std::min(180.0, max_lng + dlng)};
}

std::vector<BBox> BBox::ExpandedWrapped(double meters) const {
  double dlat = meters / kMetersPerDegreeLat;
  double lat_lo = std::max(-90.0, min_lat - dlat), lat_hi = std::min(90.0, max_lat + dlat);
  double worst_lat = std::max(std::abs(lat_lo), std::abs(lat_hi));
  double c = std::cos(worst_lat * kDegToRad);
  if (worst_lat >= 89.9 || dlat / c >= 180) return {{lat_lo, -180, lat_hi, 180}};
  double lo = min_lng - dlat / c, hi = max_lng + dlat / c;
  if (hi - lo >= 360) return {{lat_lo, -180, lat_hi, 180}};
  if (lo < -180) return {{lat_lo, -180, lat_hi, hi}, {lat_lo, lo + 360, lat_hi, 180}};
  if (hi > 180) return {{lat_lo, lo, lat_hi, 180}, {lat_lo, -180, lat_hi, hi - 360}};
  return {{lat_lo, lo, lat_hi, hi}};
}

std::string BBox::ToString() const {
  return fmt::format("{},{},{},{}", min_lat, min_lng, max_lat, max_lng);
}

Status ValidateGridStep(double step) {
  if (!std::isfinite(step) || step < kMinGridStep * (1 - 1e-9) ||
      step > kMaxGridStep * (1 + 1e-9)) {
    return Status::Invalid(fmt::format("gridStep {} is outside the valid range {}..{}", step,
                                       kMinGridStep, kMaxGridStep));
  }
  return Status::Ok();
}

double RoundGridStep(double step) {
  return std::isfinite(step) ? std::round(step * kGridStepScale) / kGridStepScale : step;
}

Result<double> CanonicalGridStep(double step) {
  NBI_RETURN_IF_ERROR(ValidateGridStep(step));
  return RoundGridStep(step);
}

namespace {
// Values within floating noise of an integer are taken as that integer.
double Snap(double x) {
  double r = std::round(x);
  return std::abs(x - r) <= 1e-9 * std::max(1.0, std::abs(x)) ? r : x;
}
}  // namespace

void GridIndexRange(double lo, double hi, double step, int64_t* first, int64_t* end) {
  double a = lo / step, b = hi / step;
  *first = static_cast<int64_t>(std::ceil(Snap(a)));
  double span = Snap(b - a);
  if (span == std::round(span)) {
    // The span is a whole number of steps: exactly `span` points, whatever the alignment.
    *end = *first + static_cast<int64_t>(span);
  } else {
    *end = static_cast<int64_t>(std::ceil(Snap(b)));
  }
  if (*end < *first) *end = *first;
}

Result<GridRegion> GridRegion::Make(const BBox& box, double any_step, int64_t cell_cap) {
  NBI_ASSIGN_OR_RETURN(const double step, CanonicalGridStep(any_step));
  GridRegion g;
  g.step_ = step;
  int64_t i1, j1;
  GridIndexRange(box.min_lat, box.max_lat, step, &g.i0_, &i1);
  GridIndexRange(box.min_lng, box.max_lng, step, &g.j0_, &j1);
  g.rows_ = i1 - g.i0_;
  g.cols_ = j1 - g.j0_;
  if (g.rows_ > 0 && g.cols_ > cell_cap / g.rows_) {
    return Status::Invalid(
        fmt::format("region {} at gridStep {} holds {} cells, over the cap of {}", box.ToString(),
                    step, static_cast<double>(g.rows_) * static_cast<double>(g.cols_), cell_cap));
  }
  if (g.cell_count() == 0) {
    return Status::Invalid(
        fmt::format("region {} at gridStep {} holds no grid cells", box.ToString(), step));
  }
  return g;
}

double GridCellCount(const BBox& box, double step) {
  int64_t i0, i1, j0, j1;
  GridIndexRange(box.min_lat, box.max_lat, step, &i0, &i1);
  GridIndexRange(box.min_lng, box.max_lng, step, &j0, &j1);
  return static_cast<double>(i1 - i0) * static_cast<double>(j1 - j0);
}

}  // namespace nbi
