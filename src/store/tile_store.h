// The tile role of a store: what heatmap tiles and zoomed-out heatmaps read, and the
// overview levels and per-area version counters behind them (tiles/tiles.h explains levels,
// segments and version blocks). Both backends implement it; tests/tile_store_test.cc is its
// conformance suite.
//
// Consistency: overview levels and version counters are written inside the transactions that
// write or delete cells, by store-internal hooks:
//   - a checkpoint (WriteCheckpoint) bumps the version blocks its cells touch;
//   - a part's completion (CompletePart; a small job is one part) rebuilds the levels over
//     the rows of the part's cells from the stored cells and bumps their blocks (the last part
//     to complete under an overview cell recomputes it, so once a job has completed its levels
//     are those of all its cells);
//   - a reset (ResetAndEnqueue) rebuilds the levels over the area after deleting its cells
//     (its overview values disappear, or keep only what neighbouring cells contribute) and
//     bumps the area's blocks.
// So levels never disagree with committed cells, except while a part is running: its levels
// are rebuilt when it completes, so low zooms show the rows' previous values until then.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "geo/geo.h"
#include "score/model.h"
#include "tiles/tiles.h"

namespace nbi {

class TileStore {
 public:
  virtual ~TileStore() = default;
  // out->Reset(r), then the values of level `level` (0: the stored cells) of (step, model)
  // in the level range r. Level 0 reads one index range scan per row of r.
  virtual Status ReadLevel(double step, HeatModel model, int level, const tiles::IndexRange& r,
                           tiles::DenseLevel* out) = 0;
  // Sum of the version counters of the blocks in `blocks` (tiles::VersionBlocks): it grows
  // whenever any cell under them is written or deleted, or their levels are rebuilt.
  virtual Result<int64_t> AreaVersion(double step, HeatModel model,
                                      const tiles::IndexRange& blocks) = 0;
  // Rebuilds the overview levels of (step, model) over `area` from the stored cells, in one
  // transaction (what a part's completion does for its rows; also for tools and benchmarks).
  virtual Status RebuildOverviews(const BBox& area, double step, HeatModel model) = 0;
};

}  // namespace nbi
