// Keeping heatmaps fresh as the map changes (an import of a newer extract, an OSM change
// file): what an import changed, and the recompute jobs for exactly the stored cells that the
// change can reach.
//
// An import is planned against the store (PlanImport): the file's POIs and walk network are
// compared with the stored rows, which gives the write (upserts; with `replace`, the deletes
// of what the file no longer holds inside its bounds) and the ChangeSet: every POI added,
// removed, moved or given another category (its old and new state), and every walk node and
// edge added, removed, moved or re-measured (the positions of their ends, old and new).
//
// The dirty-area rule (PlanRefresh). A cell's score depends only on the POIs of its model's
// categories within the model's radius r (the largest of those categories), so:
//   - straight-line models: the cells within r of a changed POI of the model's categories
//     (old and new position) -- exactly the cells whose score can change;
//   - walking models (SPEC §4a, distance h(c, n_c) + G(n_c, n_p) + h(n_p, p), snapping
//     limited to r): the cells within r (straight line) of
//       (a) a changed POI of the model's categories (walking distance >= straight line);
//       (b) a changed walk position P (a node added, removed or moved, an end of an edge
//           added, removed or re-measured, old and new): a shortest path that changed uses a
//           changed edge, whose first end lies within r of the cell; a cell whose snapped node
//           changed lies within r of the changed node;
//       (c) a stored POI of the model's categories that lies within r of such a P: its own
//           snapped node may have changed.
//     This is a superset of the cells whose walking score can change (network distance >=
//     straight-line distance; a point farther than r from its node counts nothing).
// Each disk is cut to the cells stored there (every grid step and model that has cells in
// the disk's box), so a refresh never creates cells that were not computed before, and to
// the cells of every heatmap job that has begun (running, or pending after a part ran): such
// a job may have read the data before the import and write cells from it afterwards, which
// the refresh, queued behind it, then recomputes. A job not begun loads the new data.
//
// Jobs. Per (grid step, model), the union of the disks is covered by disjoint boxes of whole
// stored cells (CoverCells: each box wastes at most kMaxRefreshWaste of its cells on cells
// outside the union), and each box becomes a job of type heatmap_refresh at
// kRefreshPriority (below every user-scheduled job), under the usual queue rules (parts,
// checkpoints, dedupe against an equal refresh job that has not begun, retries, cancel). Disjoint
// boxes rather than one job over a list of ranges: a box is what the queue, the runner, the tile
// versions and the overview rebuild already handle, so every reader stays consistent with no
// second code path; the price is a few jobs per changed place instead of one.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/walk_network.h"
#include "geo/geo.h"
#include "poi/import.h"
#include "poi/osm_change.h"
#include "poi/poi.h"
#include "store/job.h"
#include "store/parts.h"
#include "store/store.h"

namespace nbi {

// Below the lowest priority a user may give (-1000).
inline constexpr int kRefreshPriority = -1001;
// The largest share of a refresh box's cells that lie outside the union of the disks.
inline constexpr double kMaxRefreshWaste = 0.08;

// What an import changed, as the dirty-area rule needs it.
struct ChangeSet {
  // The old and the new state (each a point) of every POI added, removed, moved or given
  // another category or sub-type. A renamed POI is no change: names do not score.
  std::vector<PoiPoint> pois;
  // Positions, old and new, of walk nodes added, removed or moved and of the ends of walk
  // edges added, removed or re-measured.
  std::vector<LatLng> walk_points;
  bool empty() const { return pois.empty() && walk_points.empty(); }
};

struct ImportPlan {
  PoiWrite write;
  ChangeSet changes;
};

// True for the source ids of OSM objects ("n123", "w456", "r789"): the POIs an OSM extract
// is authoritative for.
bool IsOsmSourceId(const std::string& source_id);

// Plans writing `pois` and `network` (one file's content). With `replace`, the OSM POIs
// (IsOsmSourceId) and walk nodes stored inside the box (edges included) that the file does
// not hold are deleted, and the walk edges with both ends inside it that the file does not
// hold; nothing is deleted without it.
Result<ImportPlan> PlanImport(PoiStore* store, std::vector<Poi> pois, WalkNetwork network,
                              const std::optional<BBox>& replace);

// Plans applying an OSM change file (poi/osm_change.h): nodes and ways created or modified
// are upserted as POIs (a way placed at the mean of its nodes, as an extract places it: the
// file's positions, else the stored ones), deleted ones or ones without a category any more
// are removed; a stored way POI whose node moved moves too. The walk network: the edges of
// the file's walk ways, minus those of their stored versions that are gone; walk nodes
// deleted (with their edges) or moved (their stored edges re-measured). Node lists of ways
// (store.h PoiWrite::ways) are kept current for the next change file. Counts POIs per kind
// into stats->nodes and stats->ways, and the ways with a category that none of their nodes'
// known positions can place into stats->ways_not_placed (they are not imported). One limit:
// an edge two ways share is removed with either of them (the next extract imported with
// --replace brings it back).
Result<ImportPlan> PlanChange(PoiStore* store, const OsmChange& change, ImportStats* stats);

// One box of whole cells of one grid step and model to recompute.
struct RefreshBox {
  double grid_step = 0;
  HeatModel model = HeatModel::kGrocery;
  int64_t i0 = 0, i1 = 0, j0 = 0, j1 = 0;  // global rows [i0, i1), columns [j0, j1)
  int64_t cells() const { return (i1 - i0) * (j1 - j0); }
  BBox bounds() const;  // a box holding exactly these cells (GridRegion::Make gives them back)
};

struct RefreshPlan {
  std::vector<RefreshBox> boxes;
  // Per (step, model): the stored cells the rule marks dirty (the union of the cut disks).
  int64_t dirty_cells = 0;
  std::array<int64_t, kAllHeatModels.size()> dirty_per_model{};  // indexed by HeatModel
  int64_t cells() const;  // the cells the boxes recompute (>= dirty_cells)
};

// The boxes to recompute after `changes` (the rule above), from the cells stored now.
Result<RefreshPlan> PlanRefresh(Store* store, const ChangeSet& changes);

// A box holding every cell the rule can mark dirty for `changes` (for any model), without
// reading the store: each changed point grown by twice the largest radius (rule (c) reaches
// a stored POI within r of a changed walk position, and the cells within r of that POI).
BBox ReachOf(const ChangeSet& changes);
// PlanRefresh in steps, for an import read in batches: Add each batch's changes (the stored
// cells they reach are marked at once), then Finish. It holds the cells marked, not the
// changes, so its memory does not grow with the file.
class RefreshPlanner {
 public:
  explicit RefreshPlanner(Store* store);
  ~RefreshPlanner();
  Status Add(const ChangeSet& changes);
  RefreshPlan Finish();

 private:
  struct State;
  Store* store_;
  std::unique_ptr<State> state_;
};

// Covers `dirty` (global (row, col) cells, any order, no duplicates) with disjoint boxes of
// cells from `allowed` (a superset of dirty) so that each box has at most
// kMaxRefreshWaste of its cells outside `dirty`. Exposed for tests.
struct CellKey {
  int64_t i = 0, j = 0;
  auto operator<=>(const CellKey&) const = default;
};
std::vector<RefreshBox> CoverCells(std::vector<CellKey> dirty, const std::vector<CellKey>& allowed,
                                   double grid_step, HeatModel model);

// Enqueues a heatmap_refresh job per box (kRefreshPriority). Returns the jobs enqueued or
// found pending and not begun (the duplicate rule; an equal job that has begun gets a new
// one behind it: HeatmapJobSpec::dedupe_tag).
Result<std::vector<EnqueueResult>> EnqueueRefresh(JobQueue* queue, const RefreshPlan& plan,
                                                  int64_t part_cells);

// The whole import of one file: read, plan, write in one transaction, then (unless
// `recompute` is false) plan and enqueue the refresh. The CLI's `import`. An OSM change file
// (IsOsmChangePath) is applied by PlanChange; --replace does not apply to it.
struct ImportRun {
  ImportStats stats;
  std::vector<Poi> pois;  // as read (none for a CSV file: it is read in batches)
  // The POIs stored, in all and per category (indexed by Category).
  int64_t poi_count = 0;
  std::array<int64_t, kCategoryCount> per_category{};
  // The points of `changes` (a CSV import marks its dirty cells batch by batch and keeps
  // none in `changes`: this counts them).
  int64_t change_points = 0;
  WalkNetwork network;  // as read
  bool osm = false;
  bool change_file = false;      // an .osc applied (pois and network: what it wrote)
  std::optional<BBox> replaced;  // the bounds --replace applied to
  PoiImportSummary summary;
  ChangeSet changes;
  RefreshPlan refresh;
  std::vector<EnqueueResult> jobs;
};
struct ImportOptions {
  bool replace = false;   // the file is authoritative for its bounds
  bool recompute = true;  // enqueue heatmap_refresh jobs for the dirty cells
  int64_t part_cells = kDefaultPartCells;
  ImportProgress progress;
  size_t csv_batch = 50'000;  // POIs a CSV file is read and written in at a time
};
Result<ImportRun> RunImport(Store* store, const std::string& path, const ImportOptions& opts);

}  // namespace nbi
