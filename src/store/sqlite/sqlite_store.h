// SQLite store (the embedded default). See store/store.h for the contract of every method.
//
// Storage: one database file in WAL mode, shared safely by several processes (CLI, worker,
// HTTP server): readers never block the writer and see a consistent snapshot.
// Transactions: every write is one BEGIN IMMEDIATE transaction, so there is one writer at a
// time across all processes; the claim is a single UPDATE ... RETURNING inside it, which is
// what makes two workers never take the same job. A busy timeout (StoreOptions, 30 s by
// default) absorbs contention between processes; SQLITE_BUSY beyond it is kTransient.
// Threading: thread-safe. Each call takes a connection from one of two internal pools (one
// sqlite3 handle per concurrent call; handles are never shared between threads at once):
// writes from the writers' pool, reads from a separate pool of query-only connections, so
// reads never queue behind writes waiting for the lock (WAL readers need no lock).
// Multi-process wake-ups: Watch() polls PRAGMA data_version on its own connection.
//
// Layout of the implementation (src/store/sqlite/):
//   sqlite_sql.h     schema migrations and every SQL statement
//   sqlite_db.*      connection, statement helper, errors, Transaction, pool
//   sqlite_store.cc  schema, cities, POIs, cells, Watch
//   sqlite_queue.cc  the JobQueue methods
//   sqlite_watch.*   the data_version watch
//   sqlite_tiles.*   the TileStore methods and the tile hooks of the write paths
//   sqlite_walk.*    the walk network: its writes within UpsertPois, its loads
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "store/store.h"

namespace nbi {

class SqliteConn;
class SqlitePool;

class SqliteStore final : public Store {
 public:
  // Opens lazily: the file is opened (and created) by the first call. `clock` must outlive
  // the store.
  SqliteStore(std::string path, Clock* clock, const StoreOptions& opts = {});
  ~SqliteStore() override;

  std::string Describe() const override;
  Status Migrate() override;
  Result<int> SchemaVersion() override;
  Status Ping() override;

  // CityStore
  Result<City> UpsertCity(const City& city) override;
  Result<std::vector<City>> ListCities() override;
  Result<City> GetCity(const std::string& slug) override;

  // PoiStore
  using PoiStore::UpsertPois;  // the overload without a network
  Result<PoiImportSummary> ApplyPoiWrite(const PoiWrite& write) override;
  Result<PoiImportSummary> UpsertPoiBatches(const PoiBatchSource& next) override;
  Result<std::vector<Poi>> LoadPois(const BBox& box, int64_t limit) override;
  Result<std::vector<PoiPoint>> LoadPoiPoints(const BBox& box) override;
  Result<std::vector<std::pair<Category, int64_t>>> CountPoisByCategory() override;
  Result<WalkNetwork> LoadWalkNetwork(const BBox& box) override;  // sqlite_walk.cc
  Result<int64_t> CountWalkEdges() override;
  Result<std::vector<Poi>> LoadPoisById(const std::vector<std::string>& ids) override;
  Result<std::vector<WalkNode>> LoadWalkNodesById(const std::vector<int64_t>& ids) override;
  Result<std::vector<WalkNode>> LoadWalkNodesIn(const BBox& box) override;
  Result<std::vector<OsmWayNodes>> LoadOsmWays(const std::vector<int64_t>& way_ids) override;
  Result<std::vector<OsmWayNodes>> LoadOsmWaysOfNodes(
      const std::vector<int64_t>& node_ids) override;
  Result<int64_t> ScoringDataVersion() override;
  Result<int64_t> WalkNetworkVersion() override;
  Status LoadStreetSegments(const tiles::StreetCellRange& cells, int min_class,
                            std::vector<tiles::StreetSegment>* out) override;

  // CellStore
  Result<std::vector<HeatCell>> QueryCells(const BBox& box, double grid_step, HeatModel model,
                                           int min_score, int64_t limit) override;
  Result<int64_t> CountCells(std::optional<double> grid_step) override;
  Result<bool> HasCoverage(double lat, double lng, double grid_step, HeatModel model) override;
  Result<std::vector<std::pair<double, HeatModel>>> CellGridsIn(const BBox& box) override;

  // JobQueue (sqlite_queue.cc)
  Result<EnqueueResult> EnqueueHeatmap(const HeatmapJobSpec& spec) override;
  Result<std::optional<Job>> Claim(const std::string& worker_id) override;
  Result<std::vector<Job>> ClaimBatch(const std::string& worker_id, int max,
                                      int64_t max_part_cells = kAnyPartCells) override;
  Result<bool> Heartbeat(int64_t job_id, const std::string& worker_id) override;
  Result<bool> WriteCheckpoint(const Checkpoint& cp) override;
  Result<std::vector<Result<bool>>> WriteCheckpoints(std::span<const Checkpoint> cps) override;
  Result<bool> CompletePart(int64_t job_id, int part, const std::string& worker_id,
                            std::optional<int64_t> written_to = std::nullopt) override;
  Result<int> CompleteBatch(const std::vector<int64_t>& job_ids,
                            const std::string& worker_id) override;
  Result<Job> FailPart(int64_t job_id, int part, const std::string& worker_id,
                       const std::string& error, bool permanent) override;
  Result<Job> ReleasePart(int64_t job_id, int part, const std::string& worker_id) override;
  Result<std::vector<JobPart>> ListParts(int64_t job_id) override;
  Result<std::vector<JobAttempt>> ListAttempts(int64_t job_id) override;
  Result<Job> Cancel(int64_t job_id) override;
  Result<Job> Retry(int64_t job_id) override;
  Result<int> RescueStale(int64_t timeout_ms) override;
  Result<std::unique_ptr<OwnerLease>> HoldOwnerLease(const std::string& worker_id) override;
  Result<int> RescueDeadOwners() override;
  Result<std::optional<Job>> NextPending() override;
  Result<int> ResetRunning() override;
  Result<int> PruneFinished(int64_t age_ms) override;
  Result<Job> GetJob(int64_t job_id) override;
  Result<std::vector<Job>> ListJobs(const JobFilter& filter) override;
  Result<std::vector<std::pair<JobStatus, int64_t>>> CountJobsByStatus() override;
  int64_t NowMs() override { return clock_->NowMs(); }
  Result<int64_t> QueuedCells() override;
  Result<std::vector<std::pair<int64_t, int64_t>>> QueuedCellsOf(
      const std::vector<int64_t>& ids) override;
  Result<std::optional<Job>> FindActiveJobCovering(double lat, double lng, double grid_step,
                                                   HeatModel model) override;
  Result<std::pair<int64_t, EnqueueResult>> ResetAndEnqueue(const HeatmapJobSpec& spec) override;
  Result<std::optional<Job>> ActiveJobFor(const HeatmapJobSpec& spec) override;
  std::unique_ptr<JobWatch> Watch(std::function<void()> wake) override;

  // TileStore (sqlite_tiles.cc)
  Status ReadLevel(double step, HeatModel model, int level, const tiles::IndexRange& r,
                   tiles::DenseLevel* out) override;
  Result<int64_t> AreaVersion(double step, HeatModel model,
                              const tiles::IndexRange& blocks) override;
  Status RebuildOverviews(const BBox& area, double step, HeatModel model) override;

 private:
  friend struct StoreTesting;  // the test and benchmark hooks (store/testing.h)

  // WriteCheckpoint's work in the caller's write transaction.
  Result<bool> CheckpointIn(SqliteConn& c, const Checkpoint& cp, int64_t now,
                            const std::string& ts);
  // DataChanged unless the checkpoint carries no data version or the stored one.
  static Status CheckDataVersion(SqliteConn& c, const Checkpoint& cp);

  const std::string path_;
  Clock* const clock_;
  const std::unique_ptr<SqlitePool> pool_;     // writes (and the first open, which creates)
  const std::unique_ptr<SqlitePool> readers_;  // reads: query-only connections
};

}  // namespace nbi
