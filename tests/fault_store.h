// Fault injection for tests, as a wrapping store: FaultStore forwards every call to a real
// store and, when armed, makes the N-th checkpoint commit (WriteCheckpoint, or Commit of a
// StageCheckpoint) fail inside the real database, so the backend's own rollback is what the
// test observes. It also counts the chunks staged and not yet committed or rolled back.
//
// The fault is a trigger installed in the test database (never in the product's schema):
//   SQLite:      an AFTER INSERT/UPDATE trigger on heat_cells that RAISEs while armed: the
//                checkpoint's job update has run, its cell writes abort, the transaction
//                must roll back as a whole.
//   PostgreSQL:  a DEFERRABLE INITIALLY DEFERRED constraint trigger on heat_cells: the
//                checkpoint runs to the end and its COMMIT fails, a true commit fault
//                (SQLSTATE 40001, or P0001 when permanent).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "store/store.h"

namespace nbi::testing {

class FaultStore final : public Store {
 public:
  // `url` names the database behind `inner` (the trigger is installed through it).
  FaultStore(Store* inner, std::string url);

  // The n-th checkpoint commit from now fails in the database (n >= 1); 0 disarms. On
  // PostgreSQL the failure is a serialization failure (retried as transient) or, when
  // `permanent`, a plain error; on SQLite it is always the trigger's abort.
  void FailNthCheckpoint(int n, bool permanent = false) {
    checkpoints_ = 0;
    permanent_ = permanent;
    fail_at_ = n;
  }
  // The most chunks that were staged at once (StageCheckpoint, until commit or rollback).
  int max_staged() const { return max_staged_; }
  // Called with each checkpoint (WriteCheckpoint, StageCheckpoint) before the inner store
  // sees it: something to happen between a runner's scoring and its write.
  std::function<void(const Checkpoint&)> before_checkpoint;

  std::string Describe() const override { return inner_->Describe(); }
  Status Migrate() override { return inner_->Migrate(); }
  Result<int> SchemaVersion() override { return inner_->SchemaVersion(); }
  Status Ping() override { return inner_->Ping(); }

  Result<City> UpsertCity(const City& c) override { return inner_->UpsertCity(c); }
  Result<std::vector<City>> ListCities() override { return inner_->ListCities(); }
  Result<City> GetCity(const std::string& slug) override { return inner_->GetCity(slug); }

  using PoiStore::UpsertPois;
  Result<PoiImportSummary> ApplyPoiWrite(const PoiWrite& w) override {
    return inner_->ApplyPoiWrite(w);
  }
  Result<PoiImportSummary> UpsertPoiBatches(const PoiBatchSource& next) override {
    return inner_->UpsertPoiBatches(next);
  }
  Result<std::vector<PoiPoint>> LoadPoiPoints(const BBox& b) override {
    return inner_->LoadPoiPoints(b);
  }
  Result<std::vector<Poi>> LoadPois(const BBox& b, int64_t limit) override {
    return inner_->LoadPois(b, limit);
  }
  Result<std::vector<std::pair<Category, int64_t>>> CountPoisByCategory() override {
    return inner_->CountPoisByCategory();
  }
  Result<WalkNetwork> LoadWalkNetwork(const BBox& b) override { return inner_->LoadWalkNetwork(b); }
  Result<int64_t> CountWalkEdges() override { return inner_->CountWalkEdges(); }
  Result<std::vector<Poi>> LoadPoisById(const std::vector<std::string>& ids) override {
    return inner_->LoadPoisById(ids);
  }
  Result<std::vector<WalkNode>> LoadWalkNodesById(const std::vector<int64_t>& ids) override {
    return inner_->LoadWalkNodesById(ids);
  }
  Result<std::vector<WalkNode>> LoadWalkNodesIn(const BBox& b) override {
    return inner_->LoadWalkNodesIn(b);
  }
  Result<std::vector<OsmWayNodes>> LoadOsmWays(const std::vector<int64_t>& ids) override {
    return inner_->LoadOsmWays(ids);
  }
  Result<std::vector<OsmWayNodes>> LoadOsmWaysOfNodes(const std::vector<int64_t>& ids) override {
    return inner_->LoadOsmWaysOfNodes(ids);
  }
  Result<int64_t> ScoringDataVersion() override { return inner_->ScoringDataVersion(); }
  Result<int64_t> WalkNetworkVersion() override { return inner_->WalkNetworkVersion(); }
  Status LoadStreetSegments(const tiles::StreetCellRange& cells, int min_class,
                            std::vector<tiles::StreetSegment>* out) override {
    return inner_->LoadStreetSegments(cells, min_class, out);
  }

  Result<std::vector<HeatCell>> QueryCells(const BBox& b, double step, HeatModel m, int min_score,
                                           int64_t limit) override {
    return inner_->QueryCells(b, step, m, min_score, limit);
  }
  Result<int64_t> CountCells(std::optional<double> step) override {
    return inner_->CountCells(step);
  }
  Result<bool> HasCoverage(double lat, double lng, double step, HeatModel m) override {
    return inner_->HasCoverage(lat, lng, step, m);
  }
  Result<std::vector<std::pair<double, HeatModel>>> CellGridsIn(const BBox& b) override {
    return inner_->CellGridsIn(b);
  }

  Result<EnqueueResult> EnqueueHeatmap(const HeatmapJobSpec& s) override {
    return inner_->EnqueueHeatmap(s);
  }
  Result<std::optional<Job>> Claim(const std::string& w) override { return inner_->Claim(w); }
  Result<std::vector<Job>> ClaimBatch(const std::string& w, int max,
                                      int64_t max_part_cells = kAnyPartCells) override {
    return inner_->ClaimBatch(w, max, max_part_cells);
  }
  Result<bool> Heartbeat(int64_t id, const std::string& w) override {
    return inner_->Heartbeat(id, w);
  }
  Result<bool> WriteCheckpoint(const Checkpoint& cp) override;
  Result<std::unique_ptr<StagedCheckpoint>> StageCheckpoint(const Checkpoint& cp) override;
  Result<bool> CompletePart(int64_t id, int part, const std::string& w,
                            std::optional<int64_t> written_to = std::nullopt) override {
    return inner_->CompletePart(id, part, w, written_to);
  }
  Result<int> CompleteBatch(const std::vector<int64_t>& ids, const std::string& w) override {
    return inner_->CompleteBatch(ids, w);
  }
  Result<Job> FailPart(int64_t id, int part, const std::string& w, const std::string& e,
                       bool permanent) override {
    return inner_->FailPart(id, part, w, e, permanent);
  }
  Result<Job> ReleasePart(int64_t id, int part, const std::string& w) override {
    return inner_->ReleasePart(id, part, w);
  }
  Result<std::vector<JobPart>> ListParts(int64_t id) override { return inner_->ListParts(id); }
  Result<std::vector<JobAttempt>> ListAttempts(int64_t id) override {
    return inner_->ListAttempts(id);
  }
  Result<Job> Cancel(int64_t id) override { return inner_->Cancel(id); }
  Result<Job> Retry(int64_t id) override { return inner_->Retry(id); }
  Result<int> RescueStale(int64_t t) override { return inner_->RescueStale(t); }
  Result<std::unique_ptr<OwnerLease>> HoldOwnerLease(const std::string& w) override {
    return inner_->HoldOwnerLease(w);
  }
  Result<int> RescueDeadOwners() override { return inner_->RescueDeadOwners(); }
  Result<std::optional<Job>> NextPending() override { return inner_->NextPending(); }
  Result<std::optional<Job>> ActiveJobFor(const HeatmapJobSpec& s) override {
    return inner_->ActiveJobFor(s);
  }
  Result<int> ResetRunning() override { return inner_->ResetRunning(); }
  Result<int> PruneFinished(int64_t age) override { return inner_->PruneFinished(age); }
  Result<Job> GetJob(int64_t id) override { return inner_->GetJob(id); }
  Result<std::vector<Job>> ListJobs(const JobFilter& f) override { return inner_->ListJobs(f); }
  Result<std::vector<std::pair<JobStatus, int64_t>>> CountJobsByStatus() override {
    return inner_->CountJobsByStatus();
  }
  int64_t NowMs() override { return inner_->NowMs(); }
  Result<int64_t> QueuedCells() override { return inner_->QueuedCells(); }
  Result<std::vector<std::pair<int64_t, int64_t>>> QueuedCellsOf(
      const std::vector<int64_t>& ids) override {
    return inner_->QueuedCellsOf(ids);
  }
  Result<std::optional<Job>> FindActiveJobCovering(double lat, double lng, double step,
                                                   HeatModel m) override {
    return inner_->FindActiveJobCovering(lat, lng, step, m);
  }
  Result<std::pair<int64_t, EnqueueResult>> ResetAndEnqueue(const HeatmapJobSpec& s) override {
    return inner_->ResetAndEnqueue(s);
  }
  std::unique_ptr<JobWatch> Watch(std::function<void()> wake) override {
    return inner_->Watch(std::move(wake));
  }

  Status ReadLevel(double step, HeatModel m, int level, const tiles::IndexRange& r,
                   tiles::DenseLevel* out) override {
    return inner_->ReadLevel(step, m, level, r, out);
  }
  Result<int64_t> AreaVersion(double step, HeatModel m, const tiles::IndexRange& b) override {
    return inner_->AreaVersion(step, m, b);
  }
  Status RebuildOverviews(const BBox& area, double step, HeatModel m) override {
    return inner_->RebuildOverviews(area, step, m);
  }

 private:
  class Staged;
  void Arm(bool on);
  // Runs `commit`, armed when it is the n-th checkpoint commit.
  template <typename F>
  Result<bool> CountedCommit(F&& commit);

  Store* const inner_;
  const std::string url_;
  std::atomic<int> fail_at_{0}, checkpoints_{0};
  std::atomic<int> staged_{0}, max_staged_{0};
  std::atomic<bool> permanent_{false};
};

}  // namespace nbi::testing
