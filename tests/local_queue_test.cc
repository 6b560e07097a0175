// Small jobs through the worker's local queue (WorkerOptions::local_queue), on both stores: a
// worker claims many small parts in one claim and writes them in batches
// (JobQueue::WriteCheckpoints), each job completed exactly once with its cells; one refused
// checkpoint of a batch leaves the others written; a graceful stop hands queued parts back
// (their attempt undone); kill -9 loses none of them, they come back at once through the
// owner lease.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "jobs/runner.h"
#include "store_test_util.h"
#include "test_util.h"
#include "worker/worker.h"
#include "worker_fixture.h"

namespace nbi {
namespace {

constexpr double kStep = 0.001;

class LocalQueueTest : public WorkerTest {
 protected:
  // `n` one-cell jobs, each a box around one grid point of the generated city, in a row-major
  // walk of the city's centre; returns their ids in enqueue order.
  std::vector<int64_t> EnqueueOneCellJobs(int n) {
    std::vector<int64_t> ids;
    const double lat0 = 47.05, lng0 = 9.47;
    for (int i = 0; i < n; ++i) {
      const double lat = lat0 + (i / 100) * kStep, lng = lng0 + (i % 100) * kStep;
      HeatmapJobSpec spec;
      spec.bounds = {lat - kStep / 4, lng - kStep / 4, lat + kStep / 4, lng + kStep / 4};
      spec.grid_step = kStep;
      auto e = store_->EnqueueHeatmap(spec);
      EXPECT_TRUE(e.ok()) << e.status().ToString();
      if (!e.ok()) break;
      EXPECT_EQ(e->job.total_items, 1);
      ids.push_back(e->job.id);
    }
    return ids;
  }
  // The box holding every job of EnqueueOneCellJobs(n).
  static BBox AllJobs(int n) {
    return {47.05 - kStep, 9.47 - kStep, 47.05 + (n / 100 + 1) * kStep, 9.47 + 100 * kStep};
  }
  int64_t Running() {
    JobFilter f;
    f.status = JobStatus::kRunning;
    f.limit = 100'000;
    auto jobs = store_->ListJobs(f);
    EXPECT_TRUE(jobs.ok()) << jobs.status().ToString();
    return jobs.ok() ? int64_t(jobs->size()) : -1;
  }
  int64_t CellsStored(int n) {
    auto cells = store_->QueryCells(AllJobs(n), kStep, HeatModel::kGrocery, 0, 10'000'000);
    EXPECT_TRUE(cells.ok()) << cells.status().ToString();
    return cells.ok() ? int64_t(cells->size()) : -1;
  }
};

// 150 one-cell jobs, one slot: claimed into the local queue and written in batches; each job
// completed once (one attempt), one cell each, and the worker counts every one.
TEST_P(LocalQueueTest, SmallJobsAreWrittenInBatchesEachExactlyOnce) {
  const int n = 150;
  const std::vector<int64_t> ids = EnqueueOneCellJobs(n);
  ASSERT_EQ(int(ids.size()), n);
  std::mutex mu;
  std::vector<size_t> batches;
  WorkerOptions o;
  o.exit_when_idle = true;
  o.log_polls = false;
  o.on_batch_written = [&](size_t parts) {
    std::lock_guard<std::mutex> l(mu);
    batches.push_back(parts);
  };
  Worker w(store_.get(), nbi::Env{}, o);
  EXPECT_EQ(w.Run(), n);
  for (int64_t id : ids) {
    const Job j = Get(id);
    EXPECT_EQ(j.status, JobStatus::kCompleted) << "job " << id;
    EXPECT_EQ(j.attempts, 1) << "job " << id;
    EXPECT_EQ(j.last_processed_index(), 1) << "job " << id;
  }
  EXPECT_EQ(CellsStored(n), n);
  size_t batched = 0;
  for (size_t b : batches) batched += b;
  ASSERT_FALSE(batches.empty()) << "no batch was written: one transaction per job";
  EXPECT_GT(*std::max_element(batches.begin(), batches.end()), 1u);
  EXPECT_GE(batched, size_t(n) / 2) << "most jobs go through the local queue's batches";
}

// A batch whose second checkpoint is not the writer's (its part was taken over): that one is
// refused with kConflict and writes nothing; the first and third are written and complete.
TEST_P(LocalQueueTest, ARefusedCheckpointLeavesTheRestOfTheBatchWritten) {
  const std::vector<int64_t> ids = EnqueueOneCellJobs(3);
  ASSERT_EQ(ids.size(), 3u);
  auto claimed = store_->ClaimBatch("w", 3);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), 3u);
  // The middle job goes back and another worker takes it.
  ASSERT_TRUE(store_->ReleasePart(ids[1], 0, "w").ok());
  auto other = store_->ClaimBatch("x", 1);
  ASSERT_TRUE(other.ok() && other->size() == 1 && other->front().id == ids[1]);

  std::vector<GridRegion> regions;
  std::vector<uint8_t> score = {42};
  std::vector<CheckpointCompletion> done(3);
  std::vector<Checkpoint> cps(3);
  for (size_t i = 0; i < 3; ++i) {
    auto meta = DecodeHeatmapMetadata((*claimed)[i]);
    ASSERT_TRUE(meta.ok());
    regions.push_back(GridRegion::Make(meta->bounds, meta->grid_step).value());
  }
  for (size_t i = 0; i < 3; ++i) {
    cps[i].job_id = ids[i];
    cps[i].worker_id = "w";
    cps[i].region = &regions[i];
    cps[i].scores = score;
    cps[i].complete = &done[i];
  }
  auto r = store_->WriteCheckpoints(cps);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_TRUE((*r)[0].ok()) << (*r)[0].status().ToString();
  EXPECT_EQ((*r)[1].status().code(), StatusCode::kConflict);
  EXPECT_TRUE((*r)[2].ok()) << (*r)[2].status().ToString();
  EXPECT_TRUE(done[0].done && done[0].job_completed);
  EXPECT_FALSE(done[1].done);
  EXPECT_TRUE(done[2].done && done[2].job_completed);
  EXPECT_EQ(Get(ids[0]).status, JobStatus::kCompleted);
  EXPECT_EQ(Get(ids[2]).status, JobStatus::kCompleted);
  const Job taken = Get(ids[1]);
  EXPECT_EQ(taken.status, JobStatus::kRunning);
  EXPECT_EQ(taken.locked_by.value_or(""), "x");
  EXPECT_EQ(taken.last_processed_index(), 0);
  EXPECT_EQ(CellsStored(3), 2) << "the refused job's cell is not written";
}

// The local queue's claim (ClaimBatch with a cell limit) passes over parts that are not
// small: a large job ahead of a small one stays untouched, no part of it claimed and given
// back; without the limit the large job comes first (claim order).
TEST_P(LocalQueueTest, TheSmallPartClaimPassesOverLargeParts) {
  HeatmapJobSpec large = JobOver(47.04, 9.44, 0.1, 0.0005);  // 40,000 cells
  large.part_cells = 10'000;                                 // 4 parts
  auto big = store_->EnqueueHeatmap(large);
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  const std::vector<int64_t> small = EnqueueOneCellJobs(2);
  ASSERT_EQ(small.size(), 2u);
  auto got = store_->ClaimBatch("w", 10, kSmallPartCells);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].id, small[0]);
  EXPECT_EQ((*got)[1].id, small[1]);
  for (const JobPart& p : Parts(big->job.id)) {
    EXPECT_EQ(p.status, PartStatus::kPending) << "part " << p.part;
    EXPECT_EQ(p.attempts, 0) << "part " << p.part;
  }
  auto any = store_->ClaimBatch("v", 1);
  ASSERT_TRUE(any.ok() && any->size() == 1);
  EXPECT_EQ(any->front().id, big->job.id);
}

// Stop while parts wait in the local queue: they are handed back (pending, their claim's
// attempt undone), nothing is left running, and another run completes them all.
TEST_P(LocalQueueTest, AStopHandsQueuedPartsBack) {
  const int n = 120;
  const std::vector<int64_t> ids = EnqueueOneCellJobs(n);
  ASSERT_EQ(int(ids.size()), n);
  WorkerOptions o;
  o.log_polls = false;
  o.local_queue = 16;
  std::atomic<Worker*> self{nullptr};
  o.on_job_start = [&](const Job&) {  // the first job: stop with the queue full
    if (Worker* w = self.exchange(nullptr)) w->Stop();
  };
  Worker w(store_.get(), nbi::Env{}, o);
  self = &w;
  w.Run();
  int pending = 0, completed = 0;
  for (int64_t id : ids) {
    const Job j = Get(id);
    ASSERT_NE(j.status, JobStatus::kRunning) << "job " << id << " left running";
    if (j.status == JobStatus::kPending) {
      ++pending;
      EXPECT_EQ(j.attempts, 0) << "job " << id << ": a hand-back is not an attempt";
    } else {
      ++completed;
    }
  }
  EXPECT_GE(pending, n - 2) << "the stop came at the first job";
  WorkerOptions again;
  again.exit_when_idle = true;
  again.log_polls = false;
  Worker w2(store_.get(), nbi::Env{}, again);
  EXPECT_EQ(w2.Run(), pending);
  EXPECT_EQ(CellsStored(n), n);
}

// kill -9 of a worker running thousands of one-cell jobs: the parts it held (running ones and
// the local queue's) are all back at the next worker's first housekeeping (its owner lease
// died with it), and every job ends completed once, with its one cell. The worker is frozen
// (SIGSTOP) at a moment it holds queued parts and killed there: between two claims it holds
// none.
TEST_P(LocalQueueTest, KillNineLosesNoQueuedPart) {
  const int n = 3000;
  const std::vector<int64_t> ids = EnqueueOneCellJobs(n);
  ASSERT_EQ(int(ids.size()), n);
  const auto env = Env({"WORKER_POLL_INTERVAL=60000"});
  const std::string log = dir_.File("killed.log");
  int64_t held = 0;
  {
    testing::Child w({testing::BinaryPath(), "worker"}, env, log);
    const Job some = WaitForJob(
        ids[100], [](const Job& j) { return j.status == JobStatus::kCompleted; }, 30000);
    ASSERT_EQ(some.status, JobStatus::kCompleted) << testing::ReadFile(log);
    for (int tries = 0; tries < 500 && held <= 1; ++tries) {
      w.Signal(SIGSTOP);
      held = Running();
      if (held <= 1) {
        w.Signal(SIGCONT);
        SleepMs(1);
      }
    }
    w.Signal(SIGKILL);
    ASSERT_EQ(w.Wait(5000), 128 + SIGKILL);
  }
  ASSERT_NE(Get(ids.back()).status, JobStatus::kCompleted) << "all done before the kill";
  ASSERT_GT(held, 1) << "the worker never held queued parts";
  ASSERT_EQ(Running(), held);
  // The next worker takes every part the dead one held at its first housekeeping.
  const std::string next_log = dir_.File("next.log");
  testing::Child next({testing::BinaryPath(), "process-jobs"}, env, next_log);
  ASSERT_EQ(next.Wait(120'000), 0) << testing::ReadFile(next_log);
  const std::string out = testing::ReadFile(next_log);
  EXPECT_NE(out.find("Rescued " + std::to_string(held) + " job(s) whose worker died"),
            std::string::npos)
      << out;
  for (int64_t id : ids) {
    const Job j = Get(id);
    ASSERT_EQ(j.status, JobStatus::kCompleted) << "job " << id;
    ASSERT_EQ(j.last_processed_index(), 1) << "job " << id;
  }
  EXPECT_EQ(CellsStored(n), n);
}

INSTANTIATE_TEST_SUITE_P(Stores, LocalQueueTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace nbi
