// PostgreSQL store (libpq). See store/store.h for the contract.
//
// Claims use FOR UPDATE SKIP LOCKED behind a partial index on pending jobs; enqueue sends a
// NOTIFY on channel kJobsChannel (a wake-up hint only); cell writes go through binary COPY.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

typedef struct pg_conn PGconn;

namespace nbi {

inline constexpr const char* kJobsChannel = "nearbyindex_jobs";

class PgStore final : public Store {
 public:
  // Connects lazily; errors surface from the first call (Migrate() in OpenStore).
  PgStore(std::string conninfo, Clock* clock);
  ~PgStore() override;

  std::string Describe() const override;
  bool is_postgres() const override { return true; }
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

  const std::string& conninfo() const { return conninfo_; }

 private:
  class Conn;  // one libpq connection + its prepared statements
  // Takes a pooled connection (connecting if needed); returned to the pool by the guard
  // unless it broke.
  class Lease;
  class Txn;  // BEGIN ... COMMIT, rolled back unless committed
  Result<Lease> Acquire();
  void Return(std::unique_ptr<Conn> c);

  // fn(Conn&) -> Result<T> on a pooled connection, in autocommit mode.
  template <typename T, typename F>
  Result<T> WithConn(F&& fn);
  // fn(Conn&) -> Result<T> inside one transaction, committed only when fn succeeds.
  template <typename T, typename F>
  Result<T> InTransaction(F&& fn);
  // COMMIT, unless the test fault hook says this commit fails (then kTransient, rollback).
  Status Commit(Txn& txn);
  Status SingleStatementFault() const;
  Result<Job> ExplainNoRow(Conn& c, int64_t job_id, std::string_view verb,
                           std::string_view allowed);

  // Constant after construction.
  const std::string conninfo_;
  std::string conninfo_error_;  // set when conninfo_ does not parse
  Clock* const clock_;

  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_;  // guarded by mu_
};

}  // namespace nbi
