// The offline base layer (SPEC §7): street tiles drawn from the walk network, and the street
// cells by which a store finds the edges a tile shows.
//
// Street cells. Every stored walk edge carries its ends' positions and the cell of its
// midpoint (so a tile reads edge rows alone, no lookup of their nodes): squares of 1/64
// degree (about 1.7 km north-south), numbered row * kStreetCellCols + col with
// row = floor((lat + 90) * 64), col = floor((lng + 180) * 64). A tile reads the edges whose
// cell lies in StreetCellsOfTile: the cells under the tile and one cell around them, so every
// edge that crosses the tile is read unless it is longer than about two cells (3.4 km: a
// long straight rural road can then miss its middle at high zooms). The numbering is plain
// arithmetic on degrees, so a migration computes it in SQL on both stores.
//
// Drawing. Zoom below kStreetMinZoom: nothing (lines would be noise; the route answers 204).
// Zoom 11 draws the major roads, 12-13 the streets too, 14 and above every path
// (StreetMinClass). Lines are anti-aliased, in one grey whose opacity carries the coverage;
// major roads are wider. A tile is a 16-entry palette PNG (index 0 transparent).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "tiles/tiles.h"

namespace nbi::tiles {

inline constexpr int kStreetCellsPerDegree = 64;
inline constexpr int64_t kStreetCellCols = 32768;  // > 360 * 64, a power of two
inline constexpr int kStreetMinZoom = 11;
// The street grey (RGB): nearly neutral, darker than the map's background.
inline constexpr uint8_t kStreetGrey[3] = {0x88, 0x8c, 0x92};

// The street cell of a point (of an edge's midpoint).
int64_t StreetCellOf(double lat, double lng);

// Rows and columns of street cells, inclusive; the cell numbers of row r are
// r * kStreetCellCols + col0 .. r * kStreetCellCols + col1.
struct StreetCellRange {
  int64_t row0 = 0, row1 = -1, col0 = 0, col1 = -1;
};
// The cells whose edges a tile may show (its own and one around them).
StreetCellRange StreetCellsOfTile(const TileId& t);

// The lowest drawing class (common/walk_network.h kWalkClass*) a tile at zoom z shows; -1 below
// kStreetMinZoom (nothing).
int StreetMinClass(int z);

// One edge as a tile draws it.
struct StreetSegment {
  double lat1 = 0, lng1 = 0, lat2 = 0, lng2 = 0;
  uint8_t cls = 1;
};

// Draws `segments` (those of StreetMinClass(t.z) and above) into 256x256 opacity levels
// 0..15 (row-major, north first). Returns the number of pixels drawn (0: an empty tile).
int RenderStreetTile(const TileId& t, const std::vector<StreetSegment>& segments,
                     std::vector<uint8_t>* levels);
// The PNG of a rendered street tile: level i is kStreetGrey at opacity i/15.
Result<std::string> EncodeStreetPng(const std::vector<uint8_t>& levels);

}  // namespace nbi::tiles
