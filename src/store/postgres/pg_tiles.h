// The PostgreSQL store's tile hooks: called inside the write transactions of pg_queue.cc so
// that overview levels and version counters commit with the cells (store/tile_store.h).
// Internal to src/store/postgres.
#pragma once

#include <cstdint>
#include <optional>

#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_tiles_sql.h"
#include "store/store.h"

namespace nbi {

// WriteCheckpoint: the parameters of kPgBumpAreaVersions that bump the version blocks of the
// checkpoint's cells (an empty range for no cells), run in the checkpoint's transaction.
PgParams PgTilesBumpParams(const Checkpoint& cp);
// CompletePart: rebuilds the overview levels over the rows of the completed part's cells
// of `job` (the whole area for a job of one part).
Status PgTilesOnPartCompleted(PgConn& c, const Job& job, const JobPart& part);
// The parameters of kPgOverviewLock for rebuilds of (model, step), for a caller that sends the
// lock in a pipeline of its own.
PgParams PgOverviewLockParams(double step, HeatModel model);
// PgTilesOnPartCompleted for a caller that already holds the lock of (locked_step,
// locked_model) and sends the version bump with its COMMIT: returns kPgBumpAreaVersions'
// parameters (nullopt: nothing to bump, or the part's step and model were not the locked ones
// and the whole hook ran, lock and bump included).
Result<std::optional<PgParams>> PgTilesOnPartCompletedLocked(PgConn& c, const Job& job,
                                                             const JobPart& part,
                                                             double locked_step,
                                                             HeatModel locked_model);
// ResetAndEnqueue, after the area's cells are deleted: rebuilds its overview levels.
Status PgTilesOnAreaReset(PgConn& c, const HeatmapJobSpec& spec);
// The rebuild itself (levels 1..max over `area`, the area's version blocks bumped), in the
// caller's transaction; rebuilds of one (model, step) take turns (advisory lock).
Status PgRebuildOverviews(PgConn& c, const BBox& area, double step, HeatModel model);
// The same over a range of base cells (global row and column indices).
Status PgRebuildOverviewRange(PgConn& c, const tiles::IndexRange& base, double step,
                              HeatModel model);

}  // namespace nbi
