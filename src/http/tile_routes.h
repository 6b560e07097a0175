// The heatmap tile routes of `serve` (SPEC §6) and the zoomed-out heatmap answers, over the
// store's tile role (store/tile_store.h) and tiles/:
//
//   GET /tiles/{model}/{gridStep}/{z}/{x}/{y}.png
//       A 256x256 Web Mercator tile of the stored cells of (model, gridStep) at level
//       tiles::LevelForZoom(gridStep, z) (0: the cells; else the overview level), in the SPEC
//       colours, transparent below 30 and where no cell is. 200 image/png; 204 (no body) when
//       nothing in the tile is drawn; 304 when If-None-Match holds the current ETag. A bad
//       model, step, z (0..20), x or y (0..2^z-1) or a name not ending in .png is 400
//       invalid_argument (so is a path of another shape). ETag: the level and the sum of the
//       version counters of the area's blocks, so it changes whenever a cell under the tile is
//       written or deleted or its levels are rebuilt. Cache-Control: public, no-cache (browsers
//       keep the tile and revalidate it: a 304 costs one indexed read).
//       ?low=1 draws the cells below 30 faintly too (kBandLow). Every tile outlines the
//       computed area: pixels without a cell beside pixels with one (kBandOutline), so an area
//       whose cells are all below 30 still shows where it is.
//   GET /tiles/streets/{z}/{x}/{y}.png
//       The offline base layer (tiles/streets.h): the stored walk network's edges as grey
//       lines. 204 below zoom tiles::kStreetMinZoom (Cache-Control: max-age=86400) and where
//       no edge is drawn. ETag: the network's version (PoiStore::WalkNetworkVersion), so every
//       import that changes the network renews the tiles; Cache-Control: public, no-cache.
//       Kept in the same LRU as heat tiles.
//   GET /api/heatmap?...&level=auto|N
//       (with server.cc's parameters) auto: the finest level whose cells in the box fit the
//       cell cap (never too_many_cells); N: that level (400 past the cap or above the top).
//       Level 0 is answered by server.cc as without `level`; a level >= 1 answers
//       {gridStep, level, cellStep, model, count, cells: [{lat, lng, score}]}: the centre
//       and max score of each overview cell (cellStep = gridStep * 2^level wide).
//   GET /api/heatmap/cities?model=&gridStep=
//       {"model", "gridStep", "cities": [...]}: the cities (as /api/cities) whose bounds hold
//       stored cells of that model and step, so a city picker offers only cities with a map.
//       gridStep is required; 400 for a bad model or step.
//   GET /api/heatmap/extent?model=
//       {"extents": [{"gridStep", "bounds"}]}: for each offered grid step with stored cells,
//       the box holding them (to a fine overview cell), so a map can open on its data.
//
//   GET /api/heatmap (level 0: the stored cells)
//       ETag: the sum of the version counters of the blocks under the box; 304 when
//       If-None-Match holds it. The answer is kept in a cache keyed by the query and the ETag,
//       so a view asked for again while its cells are unchanged costs one indexed read.
//
// Rendered tiles and level-0 answers are kept in TileCaches (bounded bytes) keyed by tile or
// query and ETag. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "http/message.h"
#include "store/store.h"
#include "tiles/tile_cache.h"

namespace nbi::http {

// A parsed tile request.
struct TileRequest {
  HeatModel model = HeatModel::kGrocery;
  double step = 0;
  tiles::TileId tile;
};
// Parses the five path parts of a tile route (`y_png` is "{y}.png"). kInvalidArgument,
// naming the part, for anything wrong.
Result<TileRequest> ParseTileRequest(const std::string& model, const std::string& step,
                                     const std::string& z, const std::string& x,
                                     const std::string& y_png);

// Parses the z, x and "{y}.png" parts of a tile path. kInvalidArgument, naming the part.
Result<tiles::TileId> ParseTileId(const std::string& z, const std::string& x,
                                  const std::string& y_png);

// The level a /api/heatmap request asks for: "auto" -> the finest level whose cells in `box`
// number at most `cap`; a number -> that level (kInvalidArgument when it is not 0..max or
// its cells are over the cap, with reason too_many_cells).
Result<int> ChooseHeatmapLevel(const std::string& level, const BBox& box, double step, int64_t cap);

class TileRoutes {
 public:
  TileRoutes(Store* store, size_t cache_bytes, std::vector<double> steps, int64_t cell_cap);

  // `rest`: the path after "/tiles/" (a heat tile, or a street tile: "streets/{z}/{x}/{y}.png").
  void Tile(const Request& req, Response& res, const std::string& rest);
  // /api/heatmap at overview level `level` >= 1 (see above).
  void HeatmapLevel(Response& res, const BBox& box, double step, HeatModel model, int min_score,
                    int level);
  // /api/heatmap at level 0: the stored cells (server.cc has parsed the parameters).
  void HeatmapCells(const Request& req, Response& res, const BBox& box, double step,
                    HeatModel model, int min_score);
  void Extent(const Request& req, Response& res);
  // /api/heatmap/cities?model=&gridStep=: the cities whose bounds hold stored cells of that
  // model and step (exactly: cells just outside a city's box do not list it).
  void CitiesWithCells(const Request& req, Response& res);

  const tiles::TileCache& cache() const { return cache_; }

 private:
  void StreetTile(const Request& req, Response& res, const tiles::TileId& t);
  // True when a stored cell of (step, model) lies in the box (see CitiesWithCells).
  bool HasCells(const BBox& box, double step, HeatModel model, Status* error);

  Store* const store_;
  const std::vector<double> steps_;
  const int64_t cell_cap_;
  tiles::TileCache cache_;
  tiles::TileCache answers_;  // /api/heatmap answers at level 0, keyed by query and ETag
};

}  // namespace nbi::http
