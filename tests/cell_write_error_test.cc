// A database error while writing cells fails the attempt with that error, in the job's `error`
// and the log, never as a lost lease (SPEC §2a). The error here is a unique index on heat_cells
// beside the cells' own key, as the original app's (lat, lng, grid_step), which a second model
// over the same cells violates. Both paths of the runner: a job written chunk by chunk, and
// small jobs written in batches (the worker's local queue). Both stores, through the binary.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/clock.h"
#include "geo/geo.h"
#include "store/store.h"
#include "store_fixture.h"
#include "store_test_util.h"
#include "test_util.h"

namespace nbi {
namespace {

using testing::Backend;

constexpr double kStep = 0.001;

class CellWriteErrorTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    testing::StoreTest::SetUp();
    // The jobs this process enqueues are due now for the binary, which runs on real time.
    clock_.Set(SystemClock::Get()->NowMs());
  }
  // Runs the binary on this test's store; returns its output (any exit code).
  std::string Run(const std::string& args) {
    std::string out;
    testing::RunCommand("env DATABASE_URL='" + url_ + "' NBI_TEST_PG_URL= METRICS_ADDR=off " +
                            testing::BinaryPath() + " " + args + " 2>&1",
                        &out);
    return out;
  }
  // The original app's unique index, over cells of one model only so far.
  void AddTheOriginalsUniqueIndex() {
    testing::ExecSql(url_,
                     "CREATE UNIQUE INDEX heat_cells_coords_step_idx ON heat_cells (lat, lng, "
                     "grid_step)");
  }
  // One-cell jobs of `model` (one attempt each) at points from .. to-1 of rows of 50 grid
  // points from (lat0, 9.47); their ids.
  std::vector<int64_t> OneCellJobs(int from, int to, HeatModel model, double lat0 = 47.05) {
    std::vector<int64_t> ids;
    for (int i = from; i < to; ++i) {
      const double lat = lat0 + (i / 50) * kStep, lng = 9.47 + (i % 50) * kStep;
      HeatmapJobSpec spec;
      spec.bounds = {lat - kStep / 4, lng - kStep / 4, lat + kStep / 4, lng + kStep / 4};
      spec.grid_step = kStep;
      spec.model = model;
      spec.max_attempts = 1;
      auto e = store_->EnqueueHeatmap(spec);
      EXPECT_TRUE(e.ok()) << e.status().ToString();
      if (!e.ok()) break;
      EXPECT_TRUE(e->is_new);
      EXPECT_EQ(e->job.total_items, 1);
      ids.push_back(e->job.id);
    }
    return ids;
  }
  Job Get(int64_t id) {
    auto j = store_->GetJob(id);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return j.ok() ? *j : Job{};
  }
  // Expects job `id` failed with the database's unique violation as its error.
  void ExpectFailedWithTheViolation(int64_t id) {
    const Job j = Get(id);
    EXPECT_EQ(j.status, JobStatus::kFailed) << "job " << id;
    const std::string error = j.error.value_or("");
    EXPECT_NE(error.find("writing the cells of job " + std::to_string(id) + ": "),
              std::string::npos)
        << error;
    EXPECT_NE(error.find(GetParam() == Backend::kPostgres
                             ? "duplicate key value violates unique constraint "
                               "\"heat_cells_coords_step_idx\""
                             : "UNIQUE constraint failed: heat_cells.lat, heat_cells.lng, "
                               "heat_cells.grid_step"),
              std::string::npos)
        << error;
  }
};

// Regression (SQLite): the violation was reported as a conflict, logged as "lost its lease";
// the job stayed running and failed only after its lease ran out, without the error.
TEST_P(CellWriteErrorTest, AUniqueViolationFailsTheJobWithItsError) {
  const std::string box = "47.1,9.5,47.11,9.51";  // 4 x 4 cells at 0.0025
  std::string out = Run("schedule --bbox " + box + " --grid-step 0.0025 --model grocery");
  out = Run("process-jobs");
  ASSERT_NE(out.find("completed - 16 cells processed"), std::string::npos) << out;
  AddTheOriginalsUniqueIndex();
  Run("schedule --bbox " + box + " --grid-step 0.0025 --model blend --max-attempts 1");
  out = Run("process-jobs");
  EXPECT_EQ(out.find("lost its lease"), std::string::npos) << out;
  EXPECT_NE(out.find("writing the cells of job 2: "), std::string::npos) << out;
  ExpectFailedWithTheViolation(2);
  EXPECT_EQ(*store_->CountCells(std::nullopt), 16) << "nothing of the failed job is written";
}

// Small jobs go through the local queue's batched write (one transaction for many parts): each
// whose cell violates the index fails with the error; the others of the same batches complete.
TEST_P(CellWriteErrorTest, AUniqueViolationInABatchFailsEachSmallJobWithItsError) {
  const int n = 60;
  OneCellJobs(0, n, HeatModel::kGrocery);
  std::string out = Run("process-jobs");
  ASSERT_NE(out.find("Processed " + std::to_string(n) + " job(s)"), std::string::npos) << out;
  AddTheOriginalsUniqueIndex();
  // Interleaved in claim order: blend jobs over the grocery cells (they violate the index) and
  // blend jobs over cells no job wrote.
  std::vector<int64_t> violating, fresh;
  for (int k = 0; k < n; k += 10) {
    for (int64_t id : OneCellJobs(k, k + 10, HeatModel::kBlend)) violating.push_back(id);
    for (int64_t id : OneCellJobs(k, k + 5, HeatModel::kBlend, 47.2)) fresh.push_back(id);
  }
  ASSERT_EQ(violating.size(), size_t(n));
  ASSERT_EQ(fresh.size(), size_t(n / 2));
  out = Run("process-jobs");
  EXPECT_EQ(out.find("lost its lease"), std::string::npos) << out;
  EXPECT_NE(out.find("writing the cells of job " + std::to_string(violating.back()) + ": "),
            std::string::npos)
      << out;
  for (int64_t id : violating) ExpectFailedWithTheViolation(id);
  for (int64_t id : fresh) EXPECT_EQ(Get(id).status, JobStatus::kCompleted) << "job " << id;
  EXPECT_EQ(*store_->CountCells(std::nullopt), n + n / 2);
}

// The store's batched write reports the violation as the database error it is (the batch
// ends, nothing written), never as one part refused to a worker that lost it (kConflict).
TEST_P(CellWriteErrorTest, TheBatchedWriteReportsTheViolationAsADatabaseError) {
  OneCellJobs(0, 1, HeatModel::kGrocery);
  Run("process-jobs");
  AddTheOriginalsUniqueIndex();
  const std::vector<int64_t> ids = OneCellJobs(0, 1, HeatModel::kBlend);
  const std::vector<int64_t> other = OneCellJobs(0, 1, HeatModel::kBlend, 47.2);
  ASSERT_EQ(ids.size() + other.size(), 2u);
  auto claimed = store_->ClaimBatch("w", 2);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), 2u);
  std::vector<GridRegion> regions;
  std::vector<uint8_t> score = {42};
  std::vector<Checkpoint> cps(2);
  for (size_t i = 0; i < 2; ++i) {
    auto meta = DecodeHeatmapMetadata((*claimed)[i]);
    ASSERT_TRUE(meta.ok());
    regions.push_back(GridRegion::Make(meta->bounds, meta->grid_step).value());
  }
  for (size_t i = 0; i < 2; ++i) {
    cps[i].job_id = (*claimed)[i].id;
    cps[i].worker_id = "w";
    cps[i].region = &regions[i];
    cps[i].scores = score;
    cps[i].model = HeatModel::kBlend;
  }
  auto r = store_->WriteCheckpoints(cps);
  ASSERT_FALSE(r.ok()) << "the batch stood";
  EXPECT_EQ(r.status().code(), StatusCode::kInternal) << r.status().ToString();
  EXPECT_NE(r.status().message().find("writing the cells of job " + std::to_string(ids[0])),
            std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(*store_->CountCells(std::nullopt), 1) << "the batch wrote nothing";
}

INSTANTIATE_TEST_SUITE_P(Stores, CellWriteErrorTest, testing::BothBackends(),
                         testing::BackendParamName);

}  // namespace
}  // namespace nbi
