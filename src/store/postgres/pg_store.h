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
  Result<std::vector<Poi>> LoadPois(const BBox& box, int64_t limit) override;
  Result<std::vector<PoiPoint>> LoadPoiPoints(const BBox& box) override;
  Result<std::vector<std::pair<Category, int64_t>>> CountPoisByCategory() override;
  Result<WalkNetwork> LoadWalkNetwork(const BBox& box) override;  // pg_walk.cc
  Result<int64_t> CountWalkEdges() override;
  Result<std::vector<Poi>> LoadPoisById(const std::vector<std::string>& ids) override;
  Result<std::vector<WalkNode>> LoadWalkNodesById(const std::vector<int64_t>& ids) override;
  Result<std::vector<WalkNode>> LoadWalkNodesIn(const BBox& box) override;

  Result<EnqueueResult> EnqueueHeatmap(const HeatmapJobSpec& spec) override;
  Result<std::optional<Job>> Claim(const std::string& worker_id) override;
  Result<std::vector<Job>> ClaimBatch(const std::string& worker_id, int max) override;
  Result<bool> Heartbeat(int64_t job_id, const std::string& worker_id) override;
  Result<bool> WriteCheckpoint(const Checkpoint& cp) override;
  Result<std::unique_ptr<StagedCheckpoint>> StageCheckpoint(const Checkpoint& cp) override;
  Result<bool> CompletePart(int64_t job_id, int part, const std::string& worker_id) override;
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

  Status RawInsertCells(const GridRegion& region, int64_t begin,
                        std::span<const uint8_t> scores) override;
  Status TruncateCells() override;

  // TileStore (pg_tiles.cc)
  Status ReadLevel(double step, HeatModel model, int level, const tiles::IndexRange& r,
                   tiles::DenseLevel* out) override;
  Result<int64_t> AreaVersion(double step, HeatModel model,
                              const tiles::IndexRange& blocks) override;
  Status RebuildOverviews(const BBox& area, double step, HeatModel model) override;

  const std::string& conninfo() const { return conninfo_; }

 private:
  // Constant after construction.
  const std::string conninfo_;
  Clock* const clock_;
  const std::unique_ptr<PgPool> pool_;
};

// kConflict: worker_id does not run the job's part (shared by pg_queue.cc and
// pg_checkpoint.cc).
Status PgNotOwner(int64_t job_id, const std::string& worker_id);
// kInvalidArgument unless `city_id` fits the city column.
Status PgCheckCityId(std::optional<int64_t> city_id);

}  // namespace nbi
