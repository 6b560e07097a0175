// SQLite store (the embedded default). See store/store.h for the contract.
//
// One file in WAL mode, shared safely by several processes: every write is one
// BEGIN IMMEDIATE transaction (one writer at a time, the claim included), readers never
// block. busy_timeout absorbs contention between processes.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/store.h"

struct sqlite3;

namespace nbi {

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, Clock* clock);
  ~SqliteStore() override;

  std::string Describe() const override;
  bool is_postgres() const override { return false; }
  Status Migrate() override;
  Result<int> SchemaVersion() override;
  Status Ping() override;

  Result<City> UpsertCity(const City& city) override;
  Result<std::vector<City>> ListCities() override;
  Result<City> GetCity(const std::string& slug) override;

  Result<PoiImportSummary> UpsertPois(const std::vector<Poi>& pois) override;
  Result<std::vector<Poi>> LoadPois(const BBox& box, int64_t limit) override;
  Result<std::vector<std::pair<Category, int64_t>>> CountPoisByCategory() override;

  Result<EnqueueResult> EnqueueHeatmap(const HeatmapJobSpec& spec) override;
  Result<std::optional<Job>> Claim(const std::string& worker_id) override;
  Result<std::vector<Job>> ClaimBatch(const std::string& worker_id, int max) override;
  Result<bool> Heartbeat(int64_t job_id, const std::string& worker_id) override;
  Result<bool> WriteCheckpoint(const Checkpoint& cp) override;
  Status Complete(int64_t job_id, const std::string& worker_id) override;
  Result<int> CompleteBatch(const std::vector<int64_t>& job_ids,
                            const std::string& worker_id) override;
  Result<Job> FailAttempt(int64_t job_id, const std::string& worker_id, const std::string& error,
                          bool permanent) override;
  Result<Job> Release(int64_t job_id, const std::string& worker_id) override;
  Result<Job> Cancel(int64_t job_id) override;
  Result<Job> Retry(int64_t job_id) override;
  Result<int> RescueStale(int64_t timeout_ms) override;
  Result<int> ResetRunning() override;
  Result<int> PruneFinished(int64_t age_ms) override;
  Result<Job> GetJob(int64_t job_id) override;
  Result<std::vector<Job>> ListJobs(const JobFilter& filter) override;
  Result<std::vector<std::pair<JobStatus, int64_t>>> CountJobsByStatus() override;
  Result<std::optional<Job>> FindActiveJobCovering(double lat, double lng) override;
  Result<int64_t> ResetArea(const BBox& box, double grid_step) override;

  Result<std::vector<HeatCell>> QueryCells(const BBox& box, double grid_step, int min_score,
                                           int64_t limit) override;
  Result<int64_t> CountCells(std::optional<double> grid_step) override;
  Result<bool> HasCoverage(double lat, double lng, double grid_step) override;

  Status RawInsertCells(const GridRegion& region, int64_t begin, const uint8_t* scores,
                        int64_t count) override;
  Status TruncateCells() override;

  class Conn;  // one sqlite3 handle; public only for the .cc's helpers

 private:
  class Lease;
  Result<std::unique_ptr<Conn>> Take();
  void Give(std::unique_ptr<Conn> c);
  // Runs fn(conn) inside BEGIN IMMEDIATE ... COMMIT; rolls back when fn fails.
  template <typename T, typename F>
  Result<T> WriteTxn(F&& fn);
  template <typename T, typename F>
  Result<T> Read(F&& fn);

  const std::string path_;
  Clock* const clock_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_;  // guarded by mu_
};

}  // namespace nbi
