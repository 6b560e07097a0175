// The storage interfaces, split by role. One backend object implements all four roles
// (SqliteStore, the embedded default; PgStore, production), so a caller that needs only one
// role takes only that interface:
//
//   CityStore  cities (slug, name, bounds)           used by: commands, HTTP, JobService
//   PoiStore   points of interest, the walk network  used by: import, the job runner, HTTP
//   CellStore  computed heat cells (reads)           used by: HTTP, export, coverage
//   JobQueue   the job queue + checkpointed writes   used by: JobService, runner, worker
//   TileStore  overview levels, area versions         used by: HTTP tiles (store/tile_store.h)
//
// Each role has its own conformance suite in tests/ that both backends pass; behaviour
// described here holds for both.
//
// Threading: a Store is thread-safe; each call takes a connection from an internal pool.
// Errors: kTransient when the database is unreachable or a connection broke (the call may be
// retried; the implementation reconnects on the next call), kConflict when a lease check
// fails (the caller no longer owns the job), kNotFound for unknown ids/slugs,
// kInvalidArgument for bad input, kInternal otherwise. No call leaves half-written data:
// each call is one transaction.
//
// Time: every timestamp written comes from the Clock given at Open (tests use FakeClock).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/walk_network.h"
#include "geo/geo.h"
#include "poi/poi.h"
#include "score/model.h"
#include "store/job.h"
#include "store/parts.h"
#include "store/tile_store.h"
#include "tiles/streets.h"

namespace nbi {

// ---------------------------------------------------------------- cities
struct City {
  int64_t id = 0;
  std::string slug, name, country;
  BBox bounds;
};

class CityStore {
 public:
  virtual ~CityStore() = default;
  // Inserts, or updates the city with the same slug. Returns the stored city.
  virtual Result<City> UpsertCity(const City& city) = 0;
  virtual Result<std::vector<City>> ListCities() = 0;
  virtual Result<City> GetCity(const std::string& slug) = 0;  // kNotFound
};

// ---------------------------------------------------------------- POIs
struct PoiImportSummary {
  int64_t inserted = 0, updated = 0;
  int64_t removed = 0;  // POIs deleted (PoiWrite::poi_deletes that were stored)
  // Rows of the walk network this import added (a node or edge already stored is no new row).
  int64_t walk_nodes_inserted = 0, walk_edges_inserted = 0;
  // Rows of the walk network deleted: nodes of PoiWrite::node_deletes, edges of edge_deletes
  // and every edge that touched a deleted node.
  int64_t walk_nodes_removed = 0, walk_edges_removed = 0;
  // The positions of both ends of every edge deleted because it touched a deleted node (the
  // caller's dirty areas need them; an end outside the caller's view is found here).
  std::vector<LatLng> cascaded_edge_ends;
};

// One import's writes, applied by PoiStore::ApplyPoiWrite in one transaction: upserts first,
// then the deletes (a POI or node both upserted and deleted ends deleted).
struct PoiWrite {
  std::vector<Poi> pois;  // upserted by source_id
  // Nodes upserted by id (a known node takes the new position); edges upserted by (a, b): a
  // known edge takes the new length (its node moved), so the stored network always measures
  // its stored node positions.
  WalkNetwork network;
  std::vector<std::string> poi_deletes;                   // source ids
  std::vector<int64_t> node_deletes;                      // with every edge touching them
  std::vector<std::pair<int64_t, int64_t>> edge_deletes;  // (a, b), a < b
  // The node lists of OSM ways (common/walk_network.h OsmWayNodes): each replaces what was
  // stored for its way; way_deletes forgets ways. Applied after the other deletes.
  std::vector<OsmWayNodes> ways;
  std::vector<int64_t> way_deletes;
};

class PoiStore {
 public:
  virtual ~PoiStore() = default;
  // Applies `write` in one transaction (all or nothing). POIs are keyed by source_id: a known
  // source_id is updated, not duplicated. The walk network (common/walk_network.h): nodes keyed
  // by their OSM id, edges by (a, b). So the networks of neighbouring extracts join at the node
  // ids they share. `write.network` must keep the WalkNetwork invariants (kInvalidArgument).
  // A write that adds, changes or deletes a node or an edge bumps WalkNetworkVersion.
  virtual Result<PoiImportSummary> ApplyPoiWrite(const PoiWrite& write) = 0;
  // Upserts of POIs and the walk network of one file, nothing deleted.
  Result<PoiImportSummary> UpsertPois(const std::vector<Poi>& pois, const WalkNetwork& network) {
    PoiWrite w;
    w.pois = pois;
    w.network = network;
    return ApplyPoiWrite(w);
  }
  // POIs alone (no network).
  Result<PoiImportSummary> UpsertPois(const std::vector<Poi>& pois) {
    return UpsertPois(pois, WalkNetwork{});
  }
  // Gives an import's POIs batch by batch: fills *batch (replacing it) and returns true;
  // false when there are no more; or an error.
  using PoiBatchSource = std::function<Result<bool>(std::vector<Poi>* batch)>;
  // Upserts every batch `next` gives in one transaction, all or nothing: an error from `next`
  // (a bad line late in a file) rolls back the batches before it. So a file's POIs need not
  // be held at once. Each batch is upserted as ApplyPoiWrite upserts POIs. `inserted` counts
  // the new rows; `updated` the POIs sent minus those (a POI sent in two batches is counted
  // in both: the caller knows its duplicates).
  virtual Result<PoiImportSummary> UpsertPoiBatches(const PoiBatchSource& next) = 0;
  // Both loads below also read the original app's overture_pois where that table exists
  // (PostgreSQL; SPEC §2a), through the Overture mapping (poi/overture.h), never writing it.
  // POIs whose position lies in the box, in one query; at most `limit` of them (-1: all).
  virtual Result<std::vector<Poi>> LoadPois(const BBox& box, int64_t limit) = 0;
  // The POIs in `box` as scoring needs them (position, category, sub-type), in id order.
  virtual Result<std::vector<PoiPoint>> LoadPoiPoints(const BBox& box) = 0;
  virtual Result<std::vector<std::pair<Category, int64_t>>> CountPoisByCategory() = 0;
  // In one query, every stored walk edge both of whose nodes lie in the box, with those
  // nodes: a WalkNetwork (nodes sorted by id, edges by (a, b)).
  virtual Result<WalkNetwork> LoadWalkNetwork(const BBox& box) = 0;
  // The number of stored walk edges.
  virtual Result<int64_t> CountWalkEdges() = 0;
  // What an import compares its file with (jobs/refresh.h): the stored POIs with these source
  // ids, the stored walk nodes with these ids (unknown ids are left out; any order), and the
  // walk nodes inside the box (edges or not).
  virtual Result<std::vector<Poi>> LoadPoisById(const std::vector<std::string>& ids) = 0;
  virtual Result<std::vector<WalkNode>> LoadWalkNodesById(const std::vector<int64_t>& ids) = 0;
  virtual Result<std::vector<WalkNode>> LoadWalkNodesIn(const BBox& box) = 0;
  // The stored node lists of these OSM ways, and of every way holding one of these nodes
  // (each way once, refs in order; unknown ids are left out).
  virtual Result<std::vector<OsmWayNodes>> LoadOsmWays(const std::vector<int64_t>& way_ids) = 0;
  virtual Result<std::vector<OsmWayNodes>> LoadOsmWaysOfNodes(
      const std::vector<int64_t>& node_ids) = 0;
  // The version of the data cells are scored from: grows with every import that writes POIs
  // or the walk network (in its transaction). An index records it before it loads
  // (ModelIndex::data_version), and a checkpoint carrying it is refused once it moved
  // (Checkpoint::data_version, DataChanged).
  virtual Result<int64_t> ScoringDataVersion() = 0;
  // The walk network's version: grows with every import that adds or changes a node or an
  // edge (in its transaction). Street tiles are current while it holds (their ETag). Any
  // other writer of walk_nodes / walk_edges must bump it too.
  virtual Result<int64_t> WalkNetworkVersion() = 0;
  // The stored walk edges whose street cell (tiles/streets.h: kept per edge, of its midpoint
  // at its import) lies in `cells`, of drawing class >= min_class (an edge stored before
  // classes were kept counts as a street), with both ends' positions. Replaces *out.
  virtual Status LoadStreetSegments(const tiles::StreetCellRange& cells, int min_class,
                                    std::vector<tiles::StreetSegment>* out) = 0;
};

// Every POI within `margin_m` of the box (one query per box of BBox::ExpandedWrapped, so
// regions next to the antimeridian see the POIs across it).
Result<std::vector<Poi>> LoadPoisAround(PoiStore* store, const BBox& box, double margin_m);
// The same POIs as points (PoiStore::LoadPoiPoints).
Result<std::vector<PoiPoint>> LoadPoiPointsAround(PoiStore* store, const BBox& box,
                                                  double margin_m);
// The walk network within `margin_m` of the box: the edges with both nodes in one of the
// boxes of BBox::ExpandedWrapped, merged into one WalkNetwork (an edge across the
// antimeridian, with one node in each box, is not in it).
Result<WalkNetwork> LoadWalkNetworkAround(PoiStore* store, const BBox& box, double margin_m);

// ---------------------------------------------------------------- cells
// One stored cell. Cells of different models over the same grid point are separate rows:
// the key is (lat, lng, grid_step, model).
struct HeatCell {
  double lat = 0, lng = 0;
  int score = 0;
  double grid_step = 0;
};

class CellStore {
 public:
  virtual ~CellStore() = default;
  // Cells of `grid_step` and `model` in the box with score >= min_score, at most `limit` (+1
  // so the caller can tell the cap was hit), ordered by lat, lng.
  virtual Result<std::vector<HeatCell>> QueryCells(const BBox& box, double grid_step,
                                                   HeatModel model, int min_score,
                                                   int64_t limit) = 0;
  // Cells of every model; of one grid step when given.
  virtual Result<int64_t> CountCells(std::optional<double> grid_step) = 0;
  // True when a cell of `grid_step` and `model` lies within one step of the point.
  virtual Result<bool> HasCoverage(double lat, double lng, double grid_step, HeatModel model) = 0;
  // The (grid step, model) pairs of the cells stored in the box, each once.
  virtual Result<std::vector<std::pair<double, HeatModel>>> CellGridsIn(const BBox& box) = 0;
};

// ---------------------------------------------------------------- the queue
// The job's cells done (its lastProcessedIndex: the sum over its parts) before and after a
// checkpoint, so that the runner that crosses a progress step says so (once per job).
struct CheckpointProgress {
  int64_t done_before = 0, done_after = 0;
};

// Filled by a checkpoint that was asked to complete its part (Checkpoint::complete).
struct CheckpointCompletion {
  bool done = false;           // the part completed in the checkpoint's transaction
  bool job_completed = false;  // and its job with it (CompletePart's result)
};

// One chunk's output plus the part's and the job's checkpoint, written in one transaction. A view:
// `region` and `scores` are borrowed and need only live until WriteCheckpoint returns.
struct Checkpoint {
  int64_t job_id = 0;
  int part = 0;  // the claimed part the chunk belongs to
  std::string worker_id;
  const GridRegion* region = nullptr;  // never null when passed to WriteCheckpoint
  int64_t begin = 0;                   // first cell number of the chunk
  std::span<const uint8_t> scores;     // scores of cells begin .. begin+scores.size()-1
  std::optional<int64_t> city_id;
  HeatModel model = HeatModel::kGrocery;   // the cells' model (part of their key)
  CheckpointProgress* progress = nullptr;  // optional: filled when the write commits
  // Optional, for the chunk that ends its part: the same transaction also completes the part
  // (CompletePart's effects and result, the overview levels of its cells included), saving
  // the part a transaction of its own (a one-cell job: one transaction fewer in about three).
  // A store that does not sets nothing: the caller then calls CompletePart.
  CheckpointCompletion* complete = nullptr;
  // The store's ScoringDataVersion when the cells' index began to load, or nullopt (no
  // check). Where the store's version is another, the checkpoint is refused (DataChanged) and
  // nothing of it is written: an import committed since, and its refresh jobs may already
  // have written these cells from the new data, which the old index must not overwrite.
  // PostgreSQL: the check holds a shared lock to COMMIT that an import's version bump waits
  // for, so no import commits between the check and the checkpoint's commit.
  std::optional<int64_t> data_version;
  int64_t count() const { return static_cast<int64_t>(scores.size()); }
  // Stored in the part: next = begin + count. In the job: metadata.lastProcessedIndex = the
  // cells its parts have stored (for a job of one part, begin + count: cells
  // [0, lastProcessedIndex) are stored), progress = floor(100 * lastProcessedIndex / total).
};

// A checkpoint or completion refused because the part's stored position is not where the
// writer's chunk begins (or, completing, not at the end it wrote to): the database lost
// acknowledged commits (a crash with synchronous_commit=off, a failover to an asynchronous
// replica), or another writer moved it. kConflict with this reason; nothing is written. The
// database is the truth: the runner hands the part back, and its next claim resumes from the
// position the database holds.
inline constexpr std::string_view kPositionMovedReason = "position_moved";
Status PositionMoved(int64_t job_id, int part, int64_t stored, int64_t expected);
inline bool IsPositionMoved(const Status& s) {
  return s.code() == StatusCode::kConflict && s.reason() == kPositionMovedReason;
}

// A checkpoint refused because the data its index was loaded from changed since
// (Checkpoint::data_version). kConflict with this reason; nothing is written. The runner hands
// the part back, and its next claim loads an index of the new data.
inline constexpr std::string_view kDataChangedReason = "data_changed";
Status DataChanged(int64_t job_id, int part, int64_t loaded, int64_t stored);
inline bool IsDataChanged(const Status& s) {
  return s.code() == StatusCode::kConflict && s.reason() == kDataChangedReason;
}

// A chunk sent to the database by JobQueue::StageCheckpoint, not yet committed.
class StagedCheckpoint {
 public:
  virtual ~StagedCheckpoint() = default;  // rolls the chunk back unless it committed
  // The checkpoint and the commit; WriteCheckpoint's result. Call at most once.
  virtual Result<bool> Commit() = 0;
};

// Wake-ups from other processes: calls `wake` soon after another process may have made a
// job runnable, so a worker starts it in milliseconds instead of at its next poll. A wake-up
// is only a hint (the worker then claims as usual); bursts coalesce. Destroying the watch
// stops it (the callback is not called after the destructor returns).
class JobWatch {
 public:
  virtual ~JobWatch() = default;
};

// Proof that a claimer is alive: while the lease exists, jobs locked by its worker id count as
// having a live owner, and RescueDeadOwners leaves them alone. When the process dies, the
// operating system or the database ends the lease at once.
//   PostgreSQL: a session-level advisory lock on the worker id, on a dedicated connection.
//   SQLite:     an flock() on a file named after the worker id, beside the database file.
class OwnerLease {
 public:
  virtual ~OwnerLease() = default;  // releases the lease
  // Re-acquires the lease if it was lost (the PostgreSQL connection broke). Call it now and
  // then (the worker does at each heartbeat).
  virtual Status Check() = 0;
};

class JobQueue {
 public:
  static constexpr int64_t kAnyPartCells = INT64_MAX;
  virtual ~JobQueue() = default;
  // Enqueues a heatmap job; total_items = cells of the region (the caller has validated it).
  // A job over more than spec.part_cells cells is stored with its parts (SplitParts). It is
  // claimable from spec.run_at_ms (default: now). When an equal job is active it is returned
  // instead, its priority raised to spec.priority when that is higher (priority_raised).
  virtual Result<EnqueueResult> EnqueueHeatmap(const HeatmapJobSpec& spec) = 0;
  // Atomically takes the best ready part (of a job pending or running, not cancelling, whose
  // run_at has come; job priority desc, then oldest job, then lowest part): the part running
  // under worker_id with attempts + 1 and heartbeat now, its job running. Returns the job row
  // with the part's fields (Job::part..., attempts, locked_by) filled in. nullopt: none ready.
  // A job the original app enqueued (IsSeedJob) is taken over by its first claim (PostgreSQL,
  // SPEC §2a): SeedJobModel() pinned in its metadata, total_items and its part the engine's
  // cell count from 0, and its dedupe key; EnqueueHeatmap finds it as an equal job before.
  virtual Result<std::optional<Job>> Claim(const std::string& worker_id) = 0;
  // Claims up to `max` ready parts in one transaction, in Claim's order and with its effects
  // (several parts of one job when it has them: one per free slot). With `max_part_cells`,
  // only parts with at most that many cells left to score (a worker's local queue of small
  // jobs): larger ones are passed over, never claimed.
  virtual Result<std::vector<Job>> ClaimBatch(const std::string& worker_id, int max,
                                              int64_t max_part_cells = kAnyPartCells) = 0;
  // Refreshes the heartbeat of every part of the job that worker_id runs. Returns
  // cancel_requested. kConflict if worker_id runs no part of it.
  virtual Result<bool> Heartbeat(int64_t job_id, const std::string& worker_id) = 0;
  // Writes the chunk's cells (replacing existing ones) + the part's next index + the job's
  // progress and lastProcessedIndex + heartbeat in one transaction. Returns cancel_requested.
  // kConflict if worker_id does not run the part or the job is no longer running (nothing is
  // written then); PositionMoved unless the part's stored next index is cp.begin (a
  // compare-and-set: the progress added is the stored rows' own).
  virtual Result<bool> WriteCheckpoint(const Checkpoint& cp) = 0;
  // WriteCheckpoint in two steps, so that the next chunk of a part can travel to the database
  // while this one commits: StageCheckpoint sends the chunk's cells in a transaction of its
  // own, not yet committed; StagedCheckpoint::Commit adds the checkpoint and commits, with
  // WriteCheckpoint's result. The caller commits the chunks of one part in order: a chunk only
  // after the one before it has committed. Destroying a staged chunk uncommitted rolls it
  // back.
  // `cp`'s region and scores must live until Commit returns. The default stages nothing and
  // writes at Commit (SQLite: one writer at a time).
  virtual Result<std::unique_ptr<StagedCheckpoint>> StageCheckpoint(const Checkpoint& cp);
  // Several checkpoints (of different parts, typically each completing a small part) written
  // together: in one transaction where the store can, one WriteCheckpoint each by default.
  // Element k is WriteCheckpoint(cps[k])'s result; one refused (not the owner, position
  // moved, ...) writes nothing of its own and leaves the others written. An error of the
  // whole call: nothing was written.
  virtual Result<std::vector<Result<bool>>> WriteCheckpoints(std::span<const Checkpoint> cps);
  // The part running -> completed; the job completes (progress 100) with its last part,
  // atomically and exactly once. Returns whether this call completed the job. kConflict if
  // not the owner. With `written_to` (the runner's: the end of its last chunk), PositionMoved
  // unless the part's stored next index is that (nothing is written then).
  virtual Result<bool> CompletePart(int64_t job_id, int part, const std::string& worker_id,
                                    std::optional<int64_t> written_to = std::nullopt) = 0;
  // Completes every part that worker_id runs of each of `job_ids`, in one transaction;
  // returns how many jobs completed.
  virtual Result<int> CompleteBatch(const std::vector<int64_t>& job_ids,
                                    const std::string& worker_id) = 0;
  // A failed attempt of a part: the part back to pending and the job's run_at after a backoff
  // while the part's attempts < max_attempts (never when `permanent`), else the job failed.
  // `error` is kept in the job either way, naming the part when the job has several.
  // kConflict if not the owner.
  virtual Result<Job> FailPart(int64_t job_id, int part, const std::string& worker_id,
                               const std::string& error, bool permanent) = 0;
  // The owner stops a part: back to pending (shutdown hand-back; the attempt is given back),
  // and the job ends cancelled once a requested cancel has stopped its last running part.
  virtual Result<Job> ReleasePart(int64_t job_id, int part, const std::string& worker_id) = 0;
  // The parts of a job, in order (empty for an unknown job).
  virtual Result<std::vector<JobPart>> ListParts(int64_t job_id) = 0;
  // The failed and rescued attempts of a job's parts, oldest first (FailPart and the rescues
  // record them; they are deleted with the job). Empty for an unknown job.
  virtual Result<std::vector<JobAttempt>> ListAttempts(int64_t job_id) = 0;
  // pending -> cancelled at once; running -> cancel_requested (the owner stops at its next
  // chunk). Finished jobs: kInvalidArgument. Unknown: kNotFound.
  virtual Result<Job> Cancel(int64_t job_id) = 0;
  // failed/cancelled -> pending with attempts reset; only its unfinished parts run again,
  // each from its checkpoint.
  // Other states: kInvalidArgument. Unknown: kNotFound. kConflict if an equal job is active.
  virtual Result<Job> Retry(int64_t job_id) = 0;
  // Holds the lease of `worker_id` (see OwnerLease). kConflict if it is already held.
  virtual Result<std::unique_ptr<OwnerLease>> HoldOwnerLease(const std::string& worker_id) = 0;
  // Rescues the running parts whose owner holds no lease (its process died): each goes back
  // to pending (resuming from its checkpoint); its job ends cancelled when a cancel was
  // requested and no part runs any more, or failed once the part's attempts reached
  // max_attempts without progress (DecideRescue). Returns parts rescued. Wakes other workers.
  virtual Result<int> RescueDeadOwners() = 0;
  // The backstop for a live but hung owner and for a vanished machine: running jobs whose
  // heartbeat is older than now - timeout: their running parts are rescued as by
  // RescueDeadOwners.
  virtual Result<int> RescueStale(int64_t timeout_ms) = 0;
  // The job with ready parts that becomes ready first (smallest run_at), if any: a worker
  // sleeps until its run_at instead of a whole poll interval.
  virtual Result<std::optional<Job>> NextPending() = 0;
  // Every running part -> pending; every running job -> pending with started_at cleared (or
  // cancelled when its cancel was requested): the troubleshooting force reset.
  virtual Result<int> ResetRunning() = 0;
  // Deletes completed/failed/cancelled jobs finished more than `age_ms` ago.
  virtual Result<int> PruneFinished(int64_t age_ms) = 0;
  virtual Result<Job> GetJob(int64_t job_id) = 0;                          // kNotFound
  virtual Result<std::vector<Job>> ListJobs(const JobFilter& filter) = 0;  // newest first
  virtual Result<std::vector<std::pair<JobStatus, int64_t>>> CountJobsByStatus() = 0;
  // The queue's wall time, in which its run_at, heartbeats and the like are written: the
  // database's clock on PostgreSQL (whatever this machine's clock says), this machine's on
  // SQLite (one machine: consistent by construction).
  virtual int64_t NowMs() = 0;
  // The cells not yet computed (total_items - lastProcessedIndex) of every active (pending or
  // running) job, and per job of those of `ids` that are active: the admission caps.
  virtual Result<int64_t> QueuedCells() = 0;
  virtual Result<std::vector<std::pair<int64_t, int64_t>>> QueuedCellsOf(
      const std::vector<int64_t>& ids) = 0;
  // The active (pending or running) job equal to `spec` (same bounds, step and model).
  virtual Result<std::optional<Job>> ActiveJobFor(const HeatmapJobSpec& spec) = 0;
  // The active job of `grid_step` and `model` whose bounds contain the point, if any (the
  // coverage rule: only a job that will write the cells coverage looks for counts).
  virtual Result<std::optional<Job>> FindActiveJobCovering(double lat, double lng, double grid_step,
                                                           HeatModel model) = 0;
  // `schedule --reset`, in one transaction: deletes the cells of the spec's area, step and
  // model and its finished jobs (same bounds, step and model; no other), then enqueues the
  // spec. kConflict, naming the job, while an equal job is active (nothing is deleted then).
  // Returns the cells removed and the new job.
  virtual Result<std::pair<int64_t, EnqueueResult>> ResetAndEnqueue(const HeatmapJobSpec& spec) = 0;

  // Starts the cross-process wake-up watch of this backend:
  //   PostgreSQL: LISTEN on a dedicated connection, waiting on its socket; after any error
  //               it reconnects with backoff (and wakes once, in case a notification was
  //               missed while it was down).
  //   SQLite:     watches PRAGMA data_version every 5 ms (it changes when another
  //               connection commits).
  // The watch may outlive nothing: destroy it before the store.
  virtual std::unique_ptr<JobWatch> Watch(std::function<void()> wake) = 0;
};

// The base cells (global row and column indices) of cells [begin, end) of `job`, with the
// job's grid step and model: the area whose overview levels a completed part rebuilds.
// nullopt for a job whose metadata is not a heatmap job's, or an empty range.
struct PartOverviewArea {
  tiles::IndexRange base;
  double grid_step = 0;
  HeatModel model = HeatModel::kGrocery;
};
std::optional<PartOverviewArea> OverviewAreaOfPart(const Job& job, int64_t begin, int64_t end);

// ---------------------------------------------------------------- a backend
class Store : public CityStore,
              public PoiStore,
              public CellStore,
              public JobQueue,
              public TileStore {
 public:
  ~Store() override = default;

  // "sqlite:/abs/path" or "postgresql://user@host:port/db" (never a password).
  virtual std::string Describe() const = 0;

  // Creates or upgrades the schema to the newest version; idempotent. Open() runs it.
  virtual Status Migrate() = 0;
  virtual Result<int> SchemaVersion() = 0;
  // Readiness: the database answers, can be written (SQLite: the file is still there and
  // writable) and the schema is current. kTransient when not.
  virtual Status Ping() = 0;
};

// Limits of a store's sessions. A lock or statement over its limit is kTransient (the caller
// retries or answers 503), never an endless wait behind another session.
struct StoreOptions {
  // Wait for another session's lock: SQLite's busy timeout, PostgreSQL's lock_timeout.
  int64_t lock_timeout_ms = 30'000;
  // PostgreSQL statement_timeout (0: none). SQLite has no equivalent.
  int64_t statement_timeout_ms = 600'000;
};
// What API requests get: a request is answered (503 at worst) within seconds.
inline constexpr StoreOptions kApiStoreOptions{5'000, 30'000};

// Opens the store named by `url`: "sqlite:PATH" or "postgres://..." / "postgresql://...".
// Runs migrations. `clock` must outlive the store.
Result<std::unique_ptr<Store>> OpenStore(const std::string& url, Clock* clock = SystemClock::Get(),
                                         const StoreOptions& opts = {});

inline constexpr const char* kDefaultDatabaseUrl = "sqlite:nearbyindex.db";

// The URL with any password replaced by "***" (user:secret@host and password=secret), for
// messages and logs. No password may reach an error, a log line, /metrics or /api/config.
std::string RedactDatabaseUrl(const std::string& url);
// `text` (an error from the driver, a description) with every text that may be the URL's
// password replaced by "***": the userinfo's password up to the last '@' (as written and
// percent-decoded, and each part a driver may split it into) and any password= value.
std::string ScrubDatabaseSecrets(const std::string& text, const std::string& url);

std::vector<City> PresetCities();  // shipped presets (cancun, ...)

}  // namespace nbi
