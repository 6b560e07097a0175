// Building the overview levels of an area (see tiles/tiles.h for what a level is).
//
// RebuildOverviews recomputes levels 1..max_level over the cells of a base-index range, from
// the stored cells, through a store's OverviewIo (the store runs it inside the transaction
// that wrote or deleted the cells, so levels never disagree with the cells they summarise).
// Level 1 comes from the cells, each further level from the level below it (max of four).
// Overview cells on the area's edge also cover cells outside it: their children outside the
// area are read back as stored, so rebuilding a sub-area (a job, a part of one, a reset
// area) leaves every overview value equal to the max over ALL stored cells it covers.
//
// Example: area rows 100..103 at level 0 -> level 1 rows 50..51 (from base rows 100..103),
// level 2 row 25 (from level-1 rows 50..51), level 3 row 12 (from level-2 rows 24..25: row 24
// is outside the area and read back as stored).
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "common/status.h"
#include "tiles/tiles.h"

namespace nbi::tiles {

// One level's index range.
struct LevelRange {
  int level = 0;
  IndexRange range;
};

// What a store provides to the builder; every call runs in the caller's transaction.
class OverviewIo {
 public:
  virtual ~OverviewIo() = default;
  // out->Reset(level1), then the max score of the stored cells under each level-1 cell.
  virtual Status ReadLevel1FromCells(const IndexRange& level1, DenseLevel* out) = 0;
  // out->Reset(r), then the stored values of level `level` (>= 1) in r.
  virtual Status ReadOverview(int level, const IndexRange& r, DenseLevel* out) = 0;
  // Replaces the stored segments of rows d.range.i0..i1 whose columns lie in d.range (which
  // spans whole segments) by the values of `d`; a segment without any cell is deleted.
  virtual Status ReplaceSegments(int level, const DenseLevel& d) = 0;
  // ReadOverview of each of `wants` into (*out)[k], and ReplaceSegments of each (level, d):
  // the builder asks for every level at once, so that a store across a network answers in one
  // round trip, not one per level (a one-cell job rebuilds about a dozen levels). The
  // defaults call the single-level methods in turn.
  virtual Status ReadOverviews(const std::vector<LevelRange>& wants, std::vector<DenseLevel>* out);
  virtual Status ReplaceLevels(const std::vector<std::pair<int, const DenseLevel*>>& levels);
};

// Reads every level the rebuild needs at once (ReadOverviews), computes levels 1..max_level
// in memory (each level from the one below it as rebuilt) and writes them back at once
// (ReplaceLevels): three store calls besides the cells of level 1, whatever max_level.
Status RebuildOverviews(OverviewIo* io, const IndexRange& area, int max_level);

// Calls fn(i, jb, cells) for each segment of `d` (whose range spans whole segments) with at
// least one cell; `cells` points to kSegmentCells values.
void ForEachSegment(const DenseLevel& d,
                    const std::function<void(int64_t, int64_t, const uint8_t*)>& fn);
// Copies a stored segment (i, jb) into `d` where they overlap.
void PutSegment(DenseLevel* d, int64_t i, int64_t jb, const uint8_t* cells, size_t n);
// `r` widened to whole segments.
IndexRange SegmentAligned(const IndexRange& r);

}  // namespace nbi::tiles
