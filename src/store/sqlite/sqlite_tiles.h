// The SQLite store's tile hooks: called inside the write transactions of sqlite_queue.cc so
// that overview levels and version counters commit with the cells (store/tile_store.h).
// Internal to src/store/sqlite.
#pragma once

#include <cstdint>

#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace nbi {

// WriteCheckpoint: bumps the version blocks of the checkpoint's cells.
Status SqliteTilesOnCells(SqliteConn& c, const Checkpoint& cp);
// CompletePart: rebuilds the overview levels over the rows of the completed part's cells
// of `job` (the whole area for a job of one part).
Status SqliteTilesOnPartCompleted(SqliteConn& c, const Job& job, const JobPart& part);
// ResetAndEnqueue, after the area's cells are deleted: rebuilds its overview levels.
Status SqliteTilesOnAreaReset(SqliteConn& c, const HeatmapJobSpec& spec);
// The rebuild itself (levels 1..max over `area`, and the area's version blocks bumped).
Status SqliteRebuildOverviews(SqliteConn& c, const BBox& area, double step, HeatModel model);
// The same over a range of base cells (global row and column indices).
Status SqliteRebuildOverviewRange(SqliteConn& c, const tiles::IndexRange& base, double step,
                                  HeatModel model);

}  // namespace nbi
