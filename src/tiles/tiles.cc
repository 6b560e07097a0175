#include "tiles/tiles.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace nbi::tiles {

int64_t StepKey(double step) { return std::llround(step * 1e7); }

IndexRange IndexRange::CoarserBy(int levels) const {
  const int64_t f = int64_t{1} << levels;
  return {FloorDiv(i0, f), FloorDiv(i1, f), FloorDiv(j0, f), FloorDiv(j1, f)};
}

IndexRange BaseRange(const GridRegion& g) {
  return {g.first_row(), g.first_row() + g.rows() - 1, g.first_col(), g.first_col() + g.cols() - 1};
}

IndexRange ChunkBaseRange(const GridRegion& g, int64_t begin, int64_t count) {
  if (count <= 0) return {};
  const int64_t last = begin + count - 1;
  IndexRange r{g.RowOf(begin), g.RowOf(last), g.ColOf(begin), g.ColOf(last)};
  if (r.i0 != r.i1) {
    r.j0 = g.first_col();
    r.j1 = g.first_col() + g.cols() - 1;
  }
  return r;
}

double PixelDegrees(int z) { return 360.0 / (kTileSize * std::ldexp(1.0, z)); }

int MaxOverviewLevel(double step) {
  const double pixel = PixelDegrees(kMinMapZoom);
  int level = 1;
  while (level < kMaxLevels && step * std::ldexp(1.0, level) < pixel) ++level;
  return level;
}

int LevelForZoom(double step, int z) {
  const double pixel = PixelDegrees(z) * (1 - 1e-9);
  const int max_level = MaxOverviewLevel(step);
  for (int level = 0; level <= max_level; ++level) {
    if (step * std::ldexp(1.0, level) >= pixel) return level;
  }
  return max_level;
}

Status ValidateTile(const TileId& t) {
  if (t.z < 0 || t.z > kMaxZoom) {
    return Status::Invalid(fmt::format("zoom {} is outside 0..{}", t.z, kMaxZoom));
  }
  const int64_t n = int64_t{1} << t.z;
  if (t.x < 0 || t.x >= n || t.y < 0 || t.y >= n) {
    return Status::Invalid(fmt::format("tile {}/{}/{} does not exist: x and y run 0..{} at zoom {}",
                                       t.z, t.x, t.y, n - 1, t.z));
  }
  return Status::Ok();
}

double LatOfPixelRow(int z, double py) {
  const double n = kPi - 2 * kPi * py / (kTileSize * std::ldexp(1.0, z));
  return std::atan(std::sinh(n)) / kDegToRad;
}

double LngOfPixelCol(int z, double px) {
  return px / (kTileSize * std::ldexp(1.0, z)) * 360.0 - 180.0;
}

namespace {
// Base index of the cell whose square holds coordinate v (squares centred on grid points).
int64_t BaseIndexOf(double v, double step) {
  return static_cast<int64_t>(std::floor(v / step + 0.5));
}
}  // namespace

IndexRange TileLevelRange(const TileId& t, double step, int level) {
  const double top = static_cast<double>(t.y) * kTileSize,
               left = static_cast<double>(t.x) * kTileSize;
  const double north = LatOfPixelRow(t.z, top + 0.5),
               south = LatOfPixelRow(t.z, top + kTileSize - 0.5);
  const double west = LngOfPixelCol(t.z, left + 0.5),
               east = LngOfPixelCol(t.z, left + kTileSize - 0.5);
  IndexRange base{BaseIndexOf(south, step), BaseIndexOf(north, step), BaseIndexOf(west, step),
                  BaseIndexOf(east, step)};
  return base.CoarserBy(level);
}

IndexRange VersionBlocks(const IndexRange& r, int level) {
  const int64_t f = int64_t{1} << level;
  return {FloorDiv(r.i0 * f, kVersionBlockCells), FloorDiv(r.i1 * f + f - 1, kVersionBlockCells),
          FloorDiv(r.j0 * f, kVersionBlockCells), FloorDiv(r.j1 * f + f - 1, kVersionBlockCells)};
}

const std::array<std::array<uint8_t, 3>, 8> kPalette = {{
    {0xfa, 0xcc, 0x15},  // 30-44 yellow
    {0xa3, 0xe6, 0x35},  // 45-59 lime
    {0x4a, 0xde, 0x80},  // 60-69 light green
    {0x16, 0xa3, 0x4a},  // 70-77 green
    {0x14, 0xb8, 0xa6},  // 78-83 teal
    {0x22, 0xd3, 0xee},  // 84-87 cyan
    {0x8b, 0x5c, 0xf6},  // 88-91 violet
    {0x93, 0x33, 0xea},  // 92-100 purple
}};

int ScoreBand(int score) {
  static constexpr int kMins[] = {30, 45, 60, 70, 78, 84, 88, 92};
  int band = 0;
  for (int b = 0; b < 8; ++b) {
    if (score >= kMins[b]) band = b + 1;
  }
  return band;
}

std::optional<std::array<uint8_t, 3>> ScoreColour(int score) {
  const int band = ScoreBand(score);
  if (band == 0) return std::nullopt;
  return kPalette[band - 1];
}

IndexRange TileReadRange(const TileId& t, double step, int level) {
  const IndexRange r = TileLevelRange(t, step, level);
  return {r.i0 - 1, r.i1 + 1, r.j0 - 1, r.j1 + 1};
}

int RenderTile(const TileId& t, double step, int level, const DenseLevel& cells,
               std::vector<uint8_t>* bands, const TileStyle& style) {
  bands->assign(static_cast<size_t>(kTileSize) * kTileSize, 0);
  // Per column and per row (and one pixel beyond the tile on each side, for the outline): the
  // level index its pixel centres fall in (one trig per row).
  std::array<int64_t, kTileSize + 2> col_index, row_index;
  const double left = static_cast<double>(t.x) * kTileSize;
  const double top = static_cast<double>(t.y) * kTileSize;
  const int64_t f = int64_t{1} << level;
  for (int p = -1; p <= kTileSize; ++p) {
    col_index[p + 1] = FloorDiv(BaseIndexOf(LngOfPixelCol(t.z, left + p + 0.5), step), f);
    row_index[p + 1] = FloorDiv(BaseIndexOf(LatOfPixelRow(t.z, top + p + 0.5), step), f);
  }
  std::array<uint8_t, 256> band_of;  // kNoCell (255) and scores over 100 draw nothing
  for (int s = 0; s < 256; ++s) {
    band_of[s] = static_cast<uint8_t>(s <= 100 ? ScoreBand(s) : 0);
    if (style.low && s <= 100 && band_of[s] == 0) band_of[s] = kBandLow;
  }
  auto has = [&](int px, int py) {  // pixel coordinates -1 .. kTileSize
    return cells.Get(row_index[py + 1], col_index[px + 1]) != kNoCell;
  };
  int drawn = 0;
  for (int py = 0; py < kTileSize; ++py) {
    uint8_t* out = bands->data() + static_cast<size_t>(py) * kTileSize;
    const int64_t i = row_index[py + 1];
    const bool row_in = i >= cells.range.i0 && i <= cells.range.i1;
    for (int px = 0; px < kTileSize; ++px) {
      uint8_t b = row_in ? band_of[cells.Get(i, col_index[px + 1])] : 0;
      if (b == 0 && style.outline && !(row_in && has(px, py)) &&
          (has(px - 1, py) || has(px + 1, py) || has(px, py - 1) || has(px, py + 1))) {
        b = kBandOutline;
      }
      out[px] = b;
      drawn += b != 0;
    }
  }
  return drawn;
}

}  // namespace nbi::tiles
