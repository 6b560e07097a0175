// The storage interface the worker, the API and the commands speak to. Two implementations:
// SqliteStore (embedded default) and PgStore (production). Both pass one conformance suite
// (tests/store_conformance_test.cc); behaviour described here holds for both.
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
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "geo/geo.h"
#include "poi/poi.h"
#include "score/model.h"

namespace nbi {

// ---------------------------------------------------------------- cities
struct City {
  int64_t id = 0;
  std::string slug, name, country;
  BBox bounds;
};

// ---------------------------------------------------------------- jobs
enum class JobStatus { kPending, kRunning, kCompleted, kFailed, kCancelled };
std::string_view JobStatusId(JobStatus s);
std::optional<JobStatus> ParseJobStatus(std::string_view s);

inline constexpr const char* kHeatmapJobType = "heatmap_compute";

struct Job {
  int64_t id = 0;
  std::string type;
  JobStatus status = JobStatus::kPending;
  std::optional<int64_t> city_id;
  int progress = 0;  // 0..100
  int64_t total_items = 0;
  std::optional<std::string> error;
  nlohmann::json metadata =
      nlohmann::json::object();  // bounds, gridStep, model, lastProcessedIndex
  int64_t created_at_ms = 0;
  std::optional<int64_t> started_at_ms, completed_at_ms;
  // Queue columns.
  int attempts = 0, max_attempts = 3, priority = 0;
  int64_t run_at_ms = 0;
  std::optional<int64_t> heartbeat_at_ms;
  std::optional<std::string> locked_by;
  bool cancel_requested = false;

  bool active() const { return status == JobStatus::kPending || status == JobStatus::kRunning; }
  int64_t last_processed_index() const { return metadata.value("lastProcessedIndex", int64_t{0}); }
};

// What to compute. The duplicate rule compares (bounds, grid_step, model) of active jobs.
struct HeatmapJobSpec {
  BBox bounds;
  double grid_step = 0.0025;
  HeatModel model = HeatModel::kGrocery;
  std::optional<int64_t> city_id;
  int priority = 0;  // higher runs first
  int max_attempts = 3;
};

struct EnqueueResult {
  Job job;
  bool is_new = false;  // false: an active job for the same area/step/model was returned
};

struct JobFilter {
  std::optional<JobStatus> status;
  int limit = 50;
  std::optional<int64_t> before_id;  // cursor: jobs with id < before_id (newest first)
};

// One chunk's output plus the job's checkpoint, written in one transaction.
struct Checkpoint {
  int64_t job_id = 0;
  std::string worker_id;
  const GridRegion* region = nullptr;
  int64_t begin = 0;                // first cell number of the chunk
  const uint8_t* scores = nullptr;  // scores of cells begin .. begin+count-1
  int64_t count = 0;
  std::optional<int64_t> city_id;
  // Stored in the job: progress = floor(100 * (begin+count) / total), and
  // metadata.lastProcessedIndex = begin + count (cells [0, lastProcessedIndex) are stored).
};

// ---------------------------------------------------------------- cells
struct HeatCell {
  double lat = 0, lng = 0;
  int score = 0;
  double grid_step = 0;
};

struct PoiImportSummary {
  int64_t inserted = 0, updated = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // "sqlite:/abs/path" or "postgresql://user@host:port/db" (no password).
  virtual std::string Describe() const = 0;
  virtual bool is_postgres() const = 0;

  // Creates or upgrades the schema to the newest version; idempotent. Open() runs it.
  virtual Status Migrate() = 0;
  virtual Result<int> SchemaVersion() = 0;
  // Readiness: the database answers and the schema is current.
  virtual Status Ping() = 0;

  // ---- cities
  // Inserts, or updates the city with the same slug. Returns the stored city.
  virtual Result<City> UpsertCity(const City& city) = 0;
  virtual Result<std::vector<City>> ListCities() = 0;
  virtual Result<City> GetCity(const std::string& slug) = 0;  // kNotFound

  // ---- POIs
  // Stores POIs keyed by source_id: a known source_id is updated, not duplicated. All or
  // nothing.
  virtual Result<PoiImportSummary> UpsertPois(const std::vector<Poi>& pois) = 0;
  // POIs whose position lies in the box, in one query; at most `limit` of them (-1: all).
  virtual Result<std::vector<Poi>> LoadPois(const BBox& box, int64_t limit) = 0;
  virtual Result<std::vector<std::pair<Category, int64_t>>> CountPoisByCategory() = 0;

  // ---- queue
  // Enqueues a heatmap job; total_items = cells of the region (the caller has validated it).
  virtual Result<EnqueueResult> EnqueueHeatmap(const HeatmapJobSpec& spec) = 0;
  // Atomically takes the best pending job whose run_at has come (priority desc, then oldest):
  // status running, locked_by = worker_id, attempts + 1, heartbeat now. nullopt: none ready.
  virtual Result<std::optional<Job>> Claim(const std::string& worker_id) = 0;
  // Claims up to `max` ready jobs in one statement, in Claim's order and with its effects
  // (batched fetch for workers with several free slots and for short jobs).
  virtual Result<std::vector<Job>> ClaimBatch(const std::string& worker_id, int max) = 0;
  // Refreshes the heartbeat. Returns cancel_requested. kConflict if worker_id lost the job.
  virtual Result<bool> Heartbeat(int64_t job_id, const std::string& worker_id) = 0;
  // Writes the chunk's cells (replacing existing ones) + progress + lastProcessedIndex +
  // heartbeat in one transaction. Returns cancel_requested. kConflict if not the owner
  // (nothing is written then).
  virtual Result<bool> WriteCheckpoint(const Checkpoint& cp) = 0;
  // running -> completed (progress 100). kConflict if not the owner.
  virtual Status Complete(int64_t job_id, const std::string& worker_id) = 0;
  // Completes those of `job_ids` that worker_id owns, in one statement; returns how many.
  virtual Result<int> CompleteBatch(const std::vector<int64_t>& job_ids,
                                    const std::string& worker_id) = 0;
  // A failed attempt: back to pending with backoff while attempts < max_attempts (or never
  // when `permanent`), else failed. `error` is kept either way. kConflict if not the owner.
  virtual Result<Job> FailAttempt(int64_t job_id, const std::string& worker_id,
                                  const std::string& error, bool permanent) = 0;
  // The owner stops: running -> pending (shutdown hand-back), or -> cancelled when a cancel
  // was requested. Attempts are given back on a plain hand-back.
  virtual Result<Job> Release(int64_t job_id, const std::string& worker_id) = 0;
  // pending -> cancelled at once; running -> cancel_requested (the owner stops at its next
  // chunk). Finished jobs: kInvalidArgument. Unknown: kNotFound.
  virtual Result<Job> Cancel(int64_t job_id) = 0;
  // failed/cancelled -> pending with attempts reset (resumes from its checkpoint).
  // Other states: kInvalidArgument. Unknown: kNotFound. kConflict if an equal job is active.
  virtual Result<Job> Retry(int64_t job_id) = 0;
  // running jobs whose heartbeat is older than now - timeout -> pending. Returns how many.
  virtual Result<int> RescueStale(int64_t timeout_ms) = 0;
  // Every running job -> pending, started_at cleared (the troubleshooting force reset).
  virtual Result<int> ResetRunning() = 0;
  // Deletes completed/failed/cancelled jobs finished more than `age_ms` ago.
  virtual Result<int> PruneFinished(int64_t age_ms) = 0;
  virtual Result<Job> GetJob(int64_t job_id) = 0;                          // kNotFound
  virtual Result<std::vector<Job>> ListJobs(const JobFilter& filter) = 0;  // newest first
  virtual Result<std::vector<std::pair<JobStatus, int64_t>>> CountJobsByStatus() = 0;
  // Active job whose bounds contain the point, if any (on-demand coverage).
  virtual Result<std::optional<Job>> FindActiveJobCovering(double lat, double lng) = 0;
  // `schedule --reset`: deletes the area's cells of that step and its finished jobs.
  virtual Result<int64_t> ResetArea(const BBox& box, double grid_step) = 0;

  // ---- cells
  // Cells of `grid_step` in the box with score >= min_score, at most `limit` (+1 so the
  // caller can tell the cap was hit), ordered by lat, lng.
  virtual Result<std::vector<HeatCell>> QueryCells(const BBox& box, double grid_step, int min_score,
                                                   int64_t limit) = 0;
  virtual Result<int64_t> CountCells(std::optional<double> grid_step) = 0;
  // True when a cell of `grid_step` lies within one step of the point.
  virtual Result<bool> HasCoverage(double lat, double lng, double grid_step) = 0;

  // ---- benchmark support: the fastest raw path into heat_cells (binary COPY / one
  // prepared insert per transaction) into an empty table, for comparison.
  virtual Status RawInsertCells(const GridRegion& region, int64_t begin, const uint8_t* scores,
                                int64_t count) = 0;
  virtual Status TruncateCells() = 0;

  // Fault injection for tests: called just before every COMMIT of a write; when it returns
  // true the transaction is rolled back and the call fails with kTransient. Set it before
  // the store is shared between threads.
  void SetCommitFaultHook(std::function<bool()> hook) { commit_fault_ = std::move(hook); }

 protected:
  bool InjectCommitFault() const { return commit_fault_ && commit_fault_(); }

 private:
  std::function<bool()> commit_fault_;
};

// Opens the store named by `url`: empty -> sqlite:nearbyindex.db; "sqlite:PATH";
// "postgres://..." / "postgresql://...". Runs migrations. `clock` must outlive the store.
Result<std::unique_ptr<Store>> OpenStore(const std::string& url, Clock* clock = SystemClock::Get());

// DATABASE_URL or the default.
std::string DatabaseUrlFromEnv();

// Every POI within `margin_m` of the box (one query per box of BBox::ExpandedWrapped, so
// regions next to the antimeridian see the POIs across it).
Result<std::vector<Poi>> LoadPoisAround(Store* store, const BBox& box, double margin_m);

// Shared by both stores.
int64_t RetryBackoffMs(int attempts);           // delay before attempt `attempts + 1`
void SortInClaimOrder(std::vector<Job>* jobs);  // priority desc, then oldest first
std::string DedupeKey(const HeatmapJobSpec& spec);
nlohmann::json HeatmapMetadata(const HeatmapJobSpec& spec);
std::vector<City> PresetCities();  // shipped presets (cancun, ...)

}  // namespace nbi
