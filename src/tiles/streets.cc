// Street tiles (see streets.h): cells, classes by zoom, anti-aliased lines, the palette PNG.
#include "tiles/streets.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nbi::tiles {

namespace {

constexpr int kLevels = 16;  // opacity levels 0..15 (0: nothing drawn)

// Half of a line's width in pixels and its full opacity level, by zoom and class: major roads
// are wider and fully opaque, paths thin and lighter.
struct Pen {
  double half_width = 0;
  int level = 0;
};
Pen PenFor(int z, int cls) {
  const int band = z <= 13 ? 0 : (z <= 15 ? 1 : 2);
  static constexpr double kMajor[] = {1.0, 1.6, 2.2}, kStreet[] = {0.5, 0.9, 1.3},
                          kPath[] = {0.45, 0.45, 0.65};
  if (cls >= 2) return {kMajor[band], 15};
  if (cls == 1) return {kStreet[band], 13};
  return {kPath[band], 9};
}

double PixelX(int z, double lng) { return (lng + 180.0) / 360.0 * kTileSize * std::ldexp(1.0, z); }
double PixelY(int z, double lat) {
  const double s = std::sin(std::clamp(lat, -85.06, 85.06) * kDegToRad);
  return (0.5 - std::log((1 + s) / (1 - s)) / (4 * kPi)) * kTileSize * std::ldexp(1.0, z);
}

// Squared distance from (px, py) to the segment (x0, y0)-(x1, y1) of squared length len2 > 0.
double Dist2(double px, double py, double x0, double y0, double dx, double dy, double len2) {
  const double t = std::clamp(((px - x0) * dx + (py - y0) * dy) / len2, 0.0, 1.0);
  const double ex = x0 + t * dx - px, ey = y0 + t * dy - py;
  return ex * ex + ey * ey;
}

// Draws one line, pixel opacity = max of what is there and the line's coverage (the distance
// of the pixel centre to the segment against the half width, 1 px of anti-aliasing).
// Walks the line's major axis and visits only the pixels within reach of it.
int DrawLine(double x0, double y0, double x1, double y1, const Pen& pen, uint8_t* out) {
  const double reach = pen.half_width + 1.0;
  if (std::max(x0, x1) < -reach || std::min(x0, x1) > kTileSize + reach ||
      std::max(y0, y1) < -reach || std::min(y0, y1) > kTileSize + reach) {
    return 0;
  }
  const double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  if (len2 < 1e-12) return 0;
  const bool steep = std::abs(dy) > std::abs(dx);
  // Along the major axis u, across it v: the line's v at u, and how far across to look.
  const double u0 = steep ? y0 : x0, u1 = steep ? y1 : x1, v0 = steep ? x0 : y0,
               v1 = steep ? x1 : y1;
  const double across = reach * std::sqrt(len2) / std::abs(u1 - u0) + 1.0;
  const int ua = std::max(0, static_cast<int>(std::floor(std::min(u0, u1) - reach)));
  const int ub = std::min(kTileSize - 1, static_cast<int>(std::ceil(std::max(u0, u1) + reach)));
  int drawn = 0;
  for (int u = ua; u <= ub; ++u) {
    const double uc = u + 0.5;
    const double t = std::clamp((uc - u0) / (u1 - u0), 0.0, 1.0);
    const double vc = v0 + t * (v1 - v0);
    const int va = std::max(0, static_cast<int>(std::floor(vc - across)));
    const int vb = std::min(kTileSize - 1, static_cast<int>(std::ceil(vc + across)));
    for (int v = va; v <= vb; ++v) {
      const double px = steep ? v + 0.5 : uc, py = steep ? uc : v + 0.5;
      const double d = std::sqrt(Dist2(px, py, x0, y0, dx, dy, len2));
      const double cover = std::clamp(pen.half_width + 0.5 - d, 0.0, 1.0);
      const int level = static_cast<int>(std::lround(cover * pen.level));
      if (level == 0) continue;
      uint8_t& p = out[(steep ? u : v) * kTileSize + (steep ? v : u)];
      if (p == 0) ++drawn;
      p = static_cast<uint8_t>(std::max<int>(p, level));
    }
  }
  return drawn;
}

}  // namespace

int64_t StreetCellOf(double lat, double lng) {
  const auto row = static_cast<int64_t>(std::floor((lat + 90.0) * kStreetCellsPerDegree));
  const auto col = static_cast<int64_t>(std::floor((lng + 180.0) * kStreetCellsPerDegree));
  return row * kStreetCellCols + col;
}

StreetCellRange StreetCellsOfTile(const TileId& t) {
  const double top = static_cast<double>(t.y) * kTileSize,
               left = static_cast<double>(t.x) * kTileSize;
  const double north = LatOfPixelRow(t.z, top), south = LatOfPixelRow(t.z, top + kTileSize);
  const double west = LngOfPixelCol(t.z, left), east = LngOfPixelCol(t.z, left + kTileSize);
  const int64_t max_row = 180 * kStreetCellsPerDegree, max_col = 360 * kStreetCellsPerDegree;
  auto cell = [](double v) { return static_cast<int64_t>(std::floor(v * kStreetCellsPerDegree)); };
  return {std::max<int64_t>(0, cell(south + 90.0) - 1),
          std::min<int64_t>(max_row, cell(north + 90.0) + 1),
          std::max<int64_t>(0, cell(west + 180.0) - 1),
          std::min<int64_t>(max_col - 1, cell(east + 180.0) + 1)};
}

int StreetMinClass(int z) {
  if (z < kStreetMinZoom) return -1;
  if (z == kStreetMinZoom) return 2;
  return z <= 13 ? 1 : 0;
}

int RenderStreetTile(const TileId& t, const std::vector<StreetSegment>& segments,
                     std::vector<uint8_t>* levels) {
  levels->assign(static_cast<size_t>(kTileSize) * kTileSize, 0);
  const int min_class = StreetMinClass(t.z);
  if (min_class < 0) return 0;
  const double left = static_cast<double>(t.x) * kTileSize;
  const double top = static_cast<double>(t.y) * kTileSize;
  int drawn = 0;
  // Paths first, major roads last: where they cross, the stronger line shows.
  for (int cls = min_class; cls <= 2; ++cls) {
    const Pen pen = PenFor(t.z, cls);
    for (const StreetSegment& s : segments) {
      if (std::min<int>(s.cls, 2) != cls) continue;
      drawn += DrawLine(PixelX(t.z, s.lng1) - left, PixelY(t.z, s.lat1) - top,
                        PixelX(t.z, s.lng2) - left, PixelY(t.z, s.lat2) - top, pen, levels->data());
    }
  }
  return drawn;
}

Result<std::string> EncodeStreetPng(const std::vector<uint8_t>& levels) {
  uint8_t colormap[kLevels * 4];
  for (int i = 0; i < kLevels; ++i) {
    std::memcpy(colormap + i * 4, kStreetGrey, 3);
    colormap[i * 4 + 3] = static_cast<uint8_t>(i * 255 / (kLevels - 1));
  }
  return EncodePalettePng(levels, colormap, kLevels);
}

}  // namespace nbi::tiles
