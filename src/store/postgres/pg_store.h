// PostgreSQL store (libpq), production backend. It implements the whole contract of
// store/store.h (CityStore, PoiStore, CellStore, JobQueue, Store); this header adds only:
//
// - Construction connects lazily: a bad URL or an unreachable server surfaces from the first
//   call (Migrate() in OpenStore). Connections come from a pool (at most 8 kept idle); a
//   broken connection is dropped with the idle ones and the next call reconnects.
// - Each call is one statement or one transaction; lease checks (worker owns the running
//   job) sit in the same statement as the write they guard.
// - Claims use FOR UPDATE SKIP LOCKED behind a partial index on pending jobs; enqueue sends
//   a NOTIFY on kJobsChannel in the same statement (a wake-up hint only), which Watch()
//   LISTENs to on a dedicated connection; cell writes go through binary COPY.
// - Describe() never shows the password.
//
// Files: pg_sql.h (schema and every SQL statement), pg_conn.{h,cc} (libpq plumbing, pool,
// transactions, error mapping), pg_codec.{h,cc} (row and COPY codecs), pg_store.cc (schema,
// cities, POIs, cells, Watch), pg_queue.cc (the JobQueue methods), pg_watch.{h,cc} (the
// LISTEN thread), pg_tiles.{h,cc} (the TileStore methods and the tile hooks), pg_walk.{h,cc} (the
// walk network). Only files in this folder include libpq.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "store/store.h"

namespace nbi {

inline constexpr const char* kJobsChannel = "nearbyindex_jobs";

class PgPool;
class PgConn;

class PgStore final : public Store {
 public:
  // `conninfo`: a postgres:// or postgresql:// URL (or libpq key=value string).
  PgStore(std::string conninfo, Clock* clock, const StoreOptions& opts = {});
  ~PgStore() override;

  std::string Describe() const override;
  Status Migrate() override;
  Result<int> SchemaVersion() override;
  Status Ping() override;

  Result<City> UpsertCity(const City& city) override;
  Result<std::vector<City>> ListCities() override;
  Result<City> GetCity(const std::string& slug) override;

  using PoiStore::UpsertPois;  // the overload without a network
  Result<PoiImportSummary> ApplyPoiWrite(const PoiWrite& write) override;
  Result<PoiImportSummary> UpsertPoiBatches(const PoiBatchSource& next) override;
  Result<std::vector<Poi>> LoadPois(const BBox& box, int64_t limit) override;
  Result<std::vector<PoiPoint>> LoadPoiPoints(const BBox& box) override;
  Result<std::vector<std::pair<Category, int64_t>>> CountPoisByCategory() override;
  Result<WalkNetwork> LoadWalkNetwork(const BBox& box) override;  // pg_walk.cc
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

  Result<EnqueueResult> EnqueueHeatmap(const HeatmapJobSpec& spec) override;
  Result<std::optional<Job>> Claim(const std::string& worker_id) override;
  Result<std::vector<Job>> ClaimBatch(const std::string& worker_id, int max,
                                      int64_t max_part_cells = kAnyPartCells) override;
  Result<bool> Heartbeat(int64_t job_id, const std::string& worker_id) override;
  Result<bool> WriteCheckpoint(const Checkpoint& cp) override;
  Result<std::vector<Result<bool>>> WriteCheckpoints(std::span<const Checkpoint> cps) override;
  Result<std::unique_ptr<StagedCheckpoint>> StageCheckpoint(const Checkpoint& cp) override;
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
  Result<int64_t> QueuedCells() override;
  Result<std::vector<std::pair<int64_t, int64_t>>> QueuedCellsOf(
      const std::vector<int64_t>& ids) override;
  Result<std::optional<Job>> FindActiveJobCovering(double lat, double lng, double grid_step,
                                                   HeatModel model) override;
  Result<std::pair<int64_t, EnqueueResult>> ResetAndEnqueue(const HeatmapJobSpec& spec) override;
  Result<std::optional<Job>> ActiveJobFor(const HeatmapJobSpec& spec) override;
  std::unique_ptr<JobWatch> Watch(std::function<void()> wake) override;

  Result<std::vector<HeatCell>> QueryCells(const BBox& box, double grid_step, HeatModel model,
                                           int min_score, int64_t limit) override;
  Result<int64_t> CountCells(std::optional<double> grid_step) override;
  Result<bool> HasCoverage(double lat, double lng, double grid_step, HeatModel model) override;
  Result<std::vector<std::pair<double, HeatModel>>> CellGridsIn(const BBox& box) override;

  // TileStore (pg_tiles.cc)
  Status ReadLevel(double step, HeatModel model, int level, const tiles::IndexRange& r,
                   tiles::DenseLevel* out) override;
  Result<int64_t> AreaVersion(double step, HeatModel model,
                              const tiles::IndexRange& blocks) override;
  Status RebuildOverviews(const BBox& area, double step, HeatModel model) override;

  const std::string& conninfo() const { return conninfo_; }
  int64_t NowMs() override { return clock_->NowMs(); }
  // Reads the database's clock into db_clock_ (at open, then from housekeeping every minute).
  Status ReadDatabaseClock();

 private:
  friend struct StoreTesting;  // the test and benchmark hooks (store/testing.h)

  // Whether the original app's overture_pois table is there (SPEC §2a; pg_overture.cc):
  // looked up once, on the first POI read.
  Result<bool> HasOverturePois(PgConn& c);

  // Constant after construction.
  const std::string conninfo_;
  // The database's clock (SourcedClock over the system clock), so that every process of a
  // deployment compares its times on one clock. A test's FakeClock is used as it is.
  const std::unique_ptr<SourcedClock> db_clock_;
  Clock* const clock_;
  const std::unique_ptr<PgPool> pool_;
  std::atomic<int> overture_pois_{-1};  // -1 not looked up yet, 0 absent, 1 present
};

// Jobs the original app enqueued (pg_seed_jobs.cc): the active one equal to `spec` that is not
// taken over yet; and the take-over of the claimed ones, in the claim's transaction (their
// rows in *claimed updated).
Result<std::optional<Job>> PgSeedTwin(PgConn& c, const HeatmapJobSpec& spec);
Status PgAdoptSeedJobs(PgConn& c, std::vector<Job>* claimed);

// The original app's POIs in `box` (overture_pois, read through the Overture mapping,
// poi/overture.h): appended to *out. Source ids are "overture:" + its id.
Status PgLoadOverturePoints(PgConn& c, const BBox& box, std::vector<PoiPoint>* out);
Status PgLoadOverturePois(PgConn& c, const BBox& box, int64_t limit, std::vector<Poi>* out);

// kInvalidArgument unless `city_id` fits the city column.
Status PgCheckCityId(std::optional<int64_t> city_id);

}  // namespace nbi
