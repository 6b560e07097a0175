// Coordinates, bounding boxes, great-circle distance and the global grid (SPEC §3).
//
// LatLng is a plain aggregate: nothing stops code from building one directly (the grid does,
// from indices it has already range-checked). Untrusted input (query strings, files, job
// metadata) must go through LatLng::Make / BBox::Make, which reject non-finite and
// out-of-range values. Grid cells are integer indices: a grid of step s is
// the set of points (i*s, j*s); a region [minLat,maxLat) x [minLng,maxLng) holds the points
// inside it (half-open), numbered row-major (lat ascending, then lng ascending).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace nbi {

inline constexpr double kEarthRadiusM = 6371000.0;
inline constexpr double kPi = 3.14159265358979323846;
inline constexpr double kDegToRad = kPi / 180.0;
inline constexpr double kMetersPerDegreeLat = kEarthRadiusM * kDegToRad;  // ~111,195 m

struct LatLng {
  double lat = 0;
  double lng = 0;
  // Checks finiteness and range (lat -90..90, lng -180..180); `what` names the value in errors.
  static Result<LatLng> Make(double lat, double lng, std::string_view what = "coordinate");
};

// Great-circle distance in metres (haversine, R = 6,371,000 m).
double HaversineMeters(LatLng a, LatLng b);

// Point on the unit sphere. The chord between two such points determines the great-circle
// distance exactly (d = 2R asin(chord/2)), so "within r metres" is a dot-product test.
struct UnitVec {
  double x, y, z;
};
UnitVec ToUnitVec(double lat, double lng);
inline double Chord2(const UnitVec& a, const UnitVec& b) {
  double dx = a.x - b.x, dy = a.y - b.y, dz = a.z - b.z;
  return dx * dx + dy * dy + dz * dz;
}
// Squared chord length that corresponds to a great-circle distance of `meters`.
double ChordSquaredForMeters(double meters);
// Great-circle distance in metres for a squared chord length.
double MetersForChordSquared(double chord2);

struct BBox {
  double min_lat = 0, min_lng = 0, max_lat = 0, max_lng = 0;
  // Checks each corner and min < max on both axes.
  static Result<BBox> Make(double min_lat, double min_lng, double max_lat, double max_lng);
  // Parses "minLat,minLng,maxLat,maxLng".
  static Result<BBox> Parse(std::string_view text);
  bool Contains(double lat, double lng) const {
    return lat >= min_lat && lat < max_lat && lng >= min_lng && lng < max_lng;
  }
  // The box grown by `meters` on every side, clamped to valid coordinates.
  BBox Expanded(double meters) const;
  // The same growth as one or two boxes that together hold every point within `meters` of
  // this box: across the antimeridian the longitude range wraps into a second box, and near
  // a pole it spans all longitudes.
  std::vector<BBox> ExpandedWrapped(double meters) const;
  std::string ToString() const;
  bool operator==(const BBox&) const = default;
};

inline constexpr double kMinGridStep = 0.0001;
inline constexpr double kMaxGridStep = 0.1;
inline constexpr int64_t kDefaultCellCap = 25'000'000;
Status ValidateGridStep(double step);
// Grid steps are canonical to 1e-7 degrees (SPEC §3): steps that differ below that are one
// step, with one set of cells and one duplicate key, whatever float a client sent (a float32
// client sends 0.00100000004 for 0.001). kGridStepResolution is that resolution.
inline constexpr double kGridStepScale = 1e7;
double RoundGridStep(double step);
// Validates `step` (ValidateGridStep) and returns it rounded to 1e-7 degrees. Every entry
// point (API, CLI, job metadata) takes its step through this.
Result<double> CanonicalGridStep(double step);

// The cells of one grid step inside one region. Cheap value type.
//
// Example: step 0.01, region [47.00,47.03) x [9.50,9.52) holds rows i = 4700..4702 and
// columns j = 950..951; cell 0 is (47.00, 9.50), cell 1 is (47.00, 9.51), cell 2 is
// (47.01, 9.50) ... cell 5 is (47.02, 9.51).
class GridRegion {
 public:
  // Fails on an invalid step or a region holding more than `cell_cap` cells. The step is
  // taken canonical (CanonicalGridStep), so cell coordinates never depend on float noise.
  static Result<GridRegion> Make(const BBox& box, double step, int64_t cell_cap = kDefaultCellCap);

  double step() const { return step_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t cell_count() const { return rows_ * cols_; }
  int64_t first_row() const { return i0_; }  // global lat index of row 0
  int64_t first_col() const { return j0_; }  // global lng index of column 0

  // Row-major cell number -> global indices and coordinates.
  int64_t RowOf(int64_t n) const { return i0_ + n / cols_; }
  int64_t ColOf(int64_t n) const { return j0_ + n % cols_; }
  double LatOfRow(int64_t i) const { return static_cast<double>(i) * step_; }
  double LngOfCol(int64_t j) const { return static_cast<double>(j) * step_; }
  LatLng CellAt(int64_t n) const { return {LatOfRow(RowOf(n)), LngOfCol(ColOf(n))}; }

 private:
  double step_ = 0;
  int64_t i0_ = 0, j0_ = 0, rows_ = 0, cols_ = 0;
};

// Global index range [first, end) of grid points v*step inside [lo, hi). Robust to the
// floating error of lo/step: a span that is an exact multiple of the step always yields
// exactly that many points.
void GridIndexRange(double lo, double hi, double step, int64_t* first, int64_t* end);

// Number of grid points of `box` at `step` (rows x cols, as a double so a huge box cannot
// overflow). `step` must be valid (ValidateGridStep).
double GridCellCount(const BBox& box, double step);

// Global grid index of the grid point nearest to `v`.
inline int64_t NearestGridIndex(double v, double step) {
  return static_cast<int64_t>(std::llround(v / step));
}

}  // namespace nbi
