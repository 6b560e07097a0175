// Web Mercator tiles over the global grid, and the overview levels of the grid (SPEC §6, §7).
//
// Levels. Level 0 is the stored cells of grid step s: cell (i, j) is the grid point
// (i*s, j*s) drawn as the s-sized square around it. Level L >= 1 halves the resolution L
// times: its cell (I, J) covers the base cells i in [I*2^L, (I+1)*2^L) and j likewise
// (I = floor(i / 2^L), also for negative i), and holds the MAXIMUM score of the stored cells
// it covers (none when it covers none). Max, not mean: a zoomed-out map must still show the
// small well-served spots (a mean dilutes one good street into its empty surroundings), a
// max is exact under composition (level L+1 = max of four level-L cells, so levels are built
// from each other and any sub-area can be rebuilt on its own), and a missing cell needs no
// weight. Example, s = 0.001, L = 2: overview cell (I=11775, J=2375) covers base rows
// 47100..47103 and columns 9500..9503, i.e. lat [47.0995, 47.1035) x lng [9.4995, 9.5035).
//
// Levels stop at MaxOverviewLevel(s): the first level whose cells are at least one pixel wide
// at zoom 2 (the map's lowest zoom), so that a tile at any zoom >= 2 reads at most about one
// value per pixel. A tile at zoom z reads LevelForZoom(s, z): the finest level whose cell is
// at least one pixel wide (under ~1 cell per pixel), level 0 when cells are already wider.
//
// Storage: overview values are kept in row segments of kSegmentCells consecutive level cells
// (same level and I, J in [jb*64, jb*64+63]), one byte per cell, kNoCell where none; the
// per-area version counters count writes per block of kVersionBlockCells x kVersionBlockCells
// base cells (ETags, see store/tile_store.h).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "geo/geo.h"

namespace nbi::tiles {

inline constexpr int kTileSize = 256;
inline constexpr int kMaxZoom = 20;
inline constexpr int kMinMapZoom = 2;
inline constexpr int kMaxLevels = 16;
inline constexpr int kSegmentCells = 64;
inline constexpr int64_t kVersionBlockCells = 256;
inline constexpr uint8_t kNoCell = 0xFF;
// The lowest score drawn; below it a pixel is transparent (SPEC §7).
inline constexpr int kMinDrawnScore = 30;

// floor(a / b) for b > 0, also for negative a.
inline int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// The grid step as integer units of 1e-7 degree: the key of overview and version rows (no
// float equality). 0.0025 -> 25000.
int64_t StepKey(double step);

// Inclusive index ranges [i0, i1] x [j0, j1] of one level; empty when i0 > i1 or j0 > j1.
struct IndexRange {
  int64_t i0 = 0, i1 = -1, j0 = 0, j1 = -1;
  bool empty() const { return i0 > i1 || j0 > j1; }
  int64_t rows() const { return empty() ? 0 : i1 - i0 + 1; }
  int64_t cols() const { return empty() ? 0 : j1 - j0 + 1; }
  // The range one level coarser (every index floor-divided by 2).
  IndexRange Coarser() const {
    return {FloorDiv(i0, 2), FloorDiv(i1, 2), FloorDiv(j0, 2), FloorDiv(j1, 2)};
  }
  // The ranges of the finer level this range covers exactly (children of every cell).
  IndexRange Children() const { return {i0 * 2, i1 * 2 + 1, j0 * 2, j1 * 2 + 1}; }
  // The range at `levels` coarser levels.
  IndexRange CoarserBy(int levels) const;
  bool operator==(const IndexRange&) const = default;
};

// The base-cell range of a region (its rows and columns as global indices).
IndexRange BaseRange(const GridRegion& g);
// A base range holding cells [begin, begin + count) of `g` (row-major): their rows, and
// their columns when they lie in one row, else all of g's columns. Empty when count is 0.
IndexRange ChunkBaseRange(const GridRegion& g, int64_t begin, int64_t count);

// A dense rectangle of one level's values, kNoCell where no cell is stored. Row-major.
struct DenseLevel {
  IndexRange range;
  std::vector<uint8_t> v;
  void Reset(const IndexRange& r) {
    range = r;
    v.assign(static_cast<size_t>(r.rows() * r.cols()), kNoCell);
  }
  bool Contains(int64_t i, int64_t j) const {
    return i >= range.i0 && i <= range.i1 && j >= range.j0 && j <= range.j1;
  }
  uint8_t& At(int64_t i, int64_t j) {
    return v[static_cast<size_t>((i - range.i0) * range.cols() + (j - range.j0))];
  }
  uint8_t Get(int64_t i, int64_t j) const {
    return Contains(i, j) ? v[static_cast<size_t>((i - range.i0) * range.cols() + (j - range.j0))]
                          : kNoCell;
  }
};

// Max of two values where kNoCell means none.
inline uint8_t MaxScore(uint8_t a, uint8_t b) {
  if (a == kNoCell) return b;
  if (b == kNoCell) return a;
  return a > b ? a : b;
}

// Levels and zooms.
int MaxOverviewLevel(double step);
int LevelForZoom(double step, int z);
// Degrees of longitude per pixel at zoom z.
double PixelDegrees(int z);

// One XYZ tile.
struct TileId {
  int z = 0;
  int64_t x = 0, y = 0;
};
// kInvalidArgument unless 0 <= z <= kMaxZoom and 0 <= x, y < 2^z.
Status ValidateTile(const TileId& t);
// Latitude of the tile-pixel row boundary `py` (0 .. 2^z * 256, north to south).
double LatOfPixelRow(int z, double py);
double LngOfPixelCol(int z, double px);
// The level cells a tile's pixels fall in (pixel centres), at `level` of step `step`.
IndexRange TileLevelRange(const TileId& t, double step, int level);
// The version blocks of base cells under a level range.
IndexRange VersionBlocks(const IndexRange& level_range, int level);

// The SPEC colour of a score (RGB), nullopt below kMinDrawnScore. Same bands as
// web/public/common.js SCALE.
std::optional<std::array<uint8_t, 3>> ScoreColour(int score);

// The colour band of a score: 0 below kMinDrawnScore (transparent), else 1 + the index of its
// band in kPalette.
int ScoreBand(int score);
// The band colours, RGB, lowest band first (band b is kPalette[b - 1]).
extern const std::array<std::array<uint8_t, 3>, 8> kPalette;

// Beyond the bands: the outline of the computed area (a pixel with no cell next to one with a
// cell: drawn outside the area, so no cell's colour is hidden; SPEC §7 "areas that have cells
// are outlined even where every cell is below 30"), and the cells below 30 drawn faintly when
// asked for. RGBA.
inline constexpr int kBandOutline = 9, kBandLow = 10, kTileColours = 11;
inline constexpr std::array<uint8_t, 4> kOutlineRgba = {0x33, 0x41, 0x55, 0xff};
inline constexpr std::array<uint8_t, 4> kLowRgba = {0x94, 0xa3, 0xb8, 0x8c};

// What a heat tile draws besides the bands.
struct TileStyle {
  bool outline = true;  // the area's outline (kBandOutline)
  bool low = false;     // the cells below 30, faintly (kBandLow)
};

// The level range a tile reads: TileLevelRange and one level cell around it (the outline
// looks one pixel beyond the tile).
IndexRange TileReadRange(const TileId& t, double step, int level);

// Renders a tile from `cells` (a level's values covering TileReadRange) into 256x256 band
// indices (one byte per pixel, row-major, north first): the band of the cell the pixel centre
// falls in, 0 (transparent) where no drawn cell is, and the extras of `style`. Returns the
// number of pixels drawn.
int RenderTile(const TileId& t, double step, int level, const DenseLevel& cells,
               std::vector<uint8_t>* bands, const TileStyle& style = {});

// The PNG of a rendered tile: 8-bit palette (index 0 fully transparent, bands opaque, then
// kOutlineRgba and kLowRgba), encoded by libpng. kInternal if libpng fails.
Result<std::string> EncodeTilePng(const std::vector<uint8_t>& bands);
// A 256x256 palette PNG of `px` (indices into `colormap`: `entries` RGBA quadruples).
Result<std::string> EncodePalettePng(const std::vector<uint8_t>& px, const uint8_t* colormap,
                                     int entries);
// Decodes any PNG into RGBA (tests and tools), with libpng. kInvalidArgument if it is not one.
struct Rgba {
  int width = 0, height = 0;
  std::vector<uint8_t> px;  // width * height * 4
};
Result<Rgba> DecodePng(const std::string& png);

}  // namespace nbi::tiles
