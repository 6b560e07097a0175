// PostgreSQL store: what a batch of checkpoints (PgStore::WriteCheckpoints) writes together.
// A worker's batch is mostly small jobs of one part and one chunk (a cell or a few each, such
// as a click's coverage job or an import's refresh boxes). Per job, the checkpoint, the
// completion, the COPY of its cells and the rebuild of its overview levels were most of the
// server's work and of the round trips (pg_stat_statements over 3,000 one-cell jobs); here
// they are statements over the whole batch. Internal to src/store/postgres.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "store/postgres/pg_conn.h"
#include "store/store.h"
#include "tiles/tiles.h"

namespace nbi {

// What a batch defers to its end: the cells of its jobs of one part go in as one COPY, and
// the overview levels of their areas are rebuilt once per neighbourhood instead of once per
// job. A checkpoint reaches the tail only once its part's position has committed (in its
// savepoint, or in the batch's statement), so a refused one never writes cells.
class PgBatchTail {
 public:
  explicit PgBatchTail(int64_t now) : now_(now) {}

  // Whether cells of `cp` may already wait in the tail: then the tail's cells are written
  // first, so that the checkpoint's DELETE sees them (the later write of a cell wins).
  bool Overlaps(const Checkpoint& cp) const;
  // The cells of a checkpoint that committed.
  void AddCells(const Checkpoint& cp);
  // The cells of a part that completed: its overview levels are rebuilt by Flush.
  void AddArea(const PartOverviewArea& a) { areas_.push_back(a); }

  // Writes the cells waiting (one COPY; an upsert through the staging table, which the
  // caller created, if another writer's rows are in the way).
  Status FlushCells(PgConn& c);
  // FlushCells, then the overview levels of every area added.
  Status Flush(PgConn& c);

 private:
  using Key = std::pair<int64_t, HeatModel>;
  struct Pending {
    Key key;
    tiles::IndexRange range;
  };

  const int64_t now_;
  PgBinaryCopy copy_;
  std::vector<Pending> cells_;
  std::vector<int64_t> jobs_;  // of the cells waiting, for an error's words
  std::vector<PartOverviewArea> areas_;
};

// The parameters of kDeleteChunkCells for cells [begin, end) of `region`.
PgParams PgChunkCellsParams(const GridRegion& region, int64_t begin, int64_t end, HeatModel model);

// Whether `cp` is a whole job's only chunk (its job's region, from cell 0): what
// PgWriteWholeJobs takes.
bool IsWholeJobChunk(const Checkpoint& cp);

// Whether `a` and `b` may hold the same cells (same step and model, overlapping ranges).
bool CellsOverlap(const Checkpoint& a, const Checkpoint& b);

// Checkpoints that are each a whole job's only chunk (IsWholeJobChunk), of different cells,
// in one statement: each part whose worker still runs it at cell 0 completes with its job,
// its old cells are deleted and its new ones go to `tail` (with its area). out[k] is cps[k]'s
// WriteCheckpoint result (refused: NotOwner or PositionMoved, nothing written), and its
// progress and completion are filled as a checkpoint's are. In the caller's transaction; an
// error leaves it to be rolled back.
Status PgWriteWholeJobs(PgConn& c, std::span<const Checkpoint* const> cps, int64_t now,
                        PgBatchTail* tail, std::vector<Result<bool>>* out);

}  // namespace nbi
