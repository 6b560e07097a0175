// Job parts on both stores, in one process: how a large job is split, claimed and rolled up,
// what a failure, a cancel, a retry and a rescue do to a job of several parts, and that a job
// running mid-way through the upgrade to parts resumes from its lastProcessedIndex.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "store/parts.h"
#include "store_test_util.h"
#include "test_util.h"
#include "worker/worker.h"
#include "worker_fixture.h"

namespace nbi {
namespace {

class JobPartsTest : public WorkerTest {
 protected:
  // 100 x 100 = 10,000 cells in parts of at most 3,000: four parts of 2,500.
  HeatmapJobSpec FourParts() {
    HeatmapJobSpec s = JobOver(47.05, 9.45, 0.1, 0.001);
    s.part_cells = 3000;
    return s;
  }
  // Writes cells [begin, begin + n) of a claimed part with score 1.
  Result<bool> Write(const Job& claimed, int64_t begin, int64_t n,
                     CheckpointProgress* p = nullptr) {
    region_ = *GridRegion::Make(FourParts().bounds, FourParts().grid_step);
    scores_.assign(static_cast<size_t>(n), 1);
    Checkpoint cp;
    cp.job_id = claimed.id;
    cp.part = claimed.part;
    cp.worker_id = *claimed.locked_by;
    cp.region = &region_;
    cp.begin = begin;
    cp.scores = scores_;
    cp.progress = p;
    return store_->WriteCheckpoint(cp);
  }

  GridRegion region_;
  std::vector<uint8_t> scores_;
};

TEST(SplitPartsTest, EqualContiguousRangesCoveringTheJob) {
  for (int64_t total : {1, 7, 2500, 250'000, 250'001, 2'000'000, 9'999'999}) {
    for (int64_t size : {1000, 250'000}) {
      auto parts = SplitParts(total, size);
      ASSERT_FALSE(parts.empty());
      EXPECT_EQ(parts.front().first, 0);
      EXPECT_EQ(parts.back().second, total);
      EXPECT_EQ(static_cast<int64_t>(parts.size()),
                std::max<int64_t>(1, (total + size - 1) / size));
      for (size_t k = 0; k < parts.size(); ++k) {
        EXPECT_LE(parts[k].second - parts[k].first, size);
        if (k) EXPECT_EQ(parts[k].first, parts[k - 1].second);
      }
    }
  }
  EXPECT_EQ(static_cast<int64_t>(SplitParts(int64_t{1} << 40, 1).size()), kMaxParts);
}

// A job over more cells than part_cells is stored with its parts; claims take them in order,
// several at once for a worker with several slots; the job row sums them up.
TEST_P(JobPartsTest, PartsAreClaimedInOrderAndTheJobSumsThemUp) {
  auto e = store_->EnqueueHeatmap(FourParts());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->job.part_count, 4);
  auto parts = Parts(e->job.id);
  ASSERT_EQ(parts.size(), 4u);
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(parts[k].begin, 2500 * k);
    EXPECT_EQ(parts[k].end, 2500 * (k + 1));
    EXPECT_EQ(parts[k].status, PartStatus::kPending);
  }
  auto a = store_->ClaimBatch("a", 3);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->size(), 3u);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ((*a)[k].part, k);
    EXPECT_EQ((*a)[k].part_begin, 2500 * k);
    EXPECT_EQ((*a)[k].starts_job, k == 0) << "only the first claim starts the job";
    EXPECT_EQ((*a)[k].status, JobStatus::kRunning);
  }
  auto b = store_->Claim("b");
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->part, 3);
  EXPECT_FALSE((*b)->starts_job);
  EXPECT_FALSE(store_->Claim("c")->has_value()) << "every part is taken";

  CheckpointProgress p;
  ASSERT_TRUE(Write((*a)[1], 2500, 500, &p).ok());
  EXPECT_EQ(p.done_before, 0);
  EXPECT_EQ(p.done_after, 500);
  ASSERT_TRUE(Write((*a)[0], 0, 1000, &p).ok());
  EXPECT_EQ(p.done_after, 1500);
  Job j = *store_->GetJob(e->job.id);
  EXPECT_EQ(j.last_processed_index(), 1500);
  EXPECT_EQ(j.progress, 15);
  // A chunk outside its part is refused, and a part is written only by its owner.
  EXPECT_EQ(Write((*a)[0], 2400, 200).status().code(), StatusCode::kInvalidArgument);
  Job stolen = (*a)[2];
  stolen.locked_by = "b";
  EXPECT_EQ(Write(stolen, 5000, 10).status().code(), StatusCode::kConflict);

  // The job completes with its last part, exactly once.
  EXPECT_FALSE(*store_->CompletePart(e->job.id, 3, "b"));
  EXPECT_EQ(store_->GetJob(e->job.id)->status, JobStatus::kRunning);
  EXPECT_FALSE(*store_->CompletePart(e->job.id, 0, "a"));
  EXPECT_FALSE(*store_->CompletePart(e->job.id, 2, "a"));
  EXPECT_EQ(store_->CompletePart(e->job.id, 2, "a").status().code(), StatusCode::kConflict);
  EXPECT_TRUE(*store_->CompletePart(e->job.id, 1, "a"));
  j = *store_->GetJob(e->job.id);
  EXPECT_EQ(j.status, JobStatus::kCompleted);
  EXPECT_EQ(j.progress, 100);
  EXPECT_FALSE(j.locked_by.has_value());
}

// Regression: with one slot, a job of several parts is pending between two parts; the next
// claim is not a new run, so "Started job #N" is said once, not again at every part.
TEST_P(JobPartsTest, ThePauseBetweenTwoPartsIsNotANewRun) {
  auto e = store_->EnqueueHeatmap(FourParts());
  ASSERT_TRUE(e.ok());
  auto first = *store_->Claim("a");
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->starts_job);
  ASSERT_TRUE(Write(*first, 0, 2500).ok());
  ASSERT_TRUE(store_->CompletePart(e->job.id, 0, "a").ok());
  EXPECT_EQ(store_->GetJob(e->job.id)->status, JobStatus::kPending) << "no part runs";
  auto second = *store_->Claim("a");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->part, 1);
  EXPECT_FALSE(second->starts_job);
}

// A part that fails for good fails its job, naming the part; the other parts stop at their
// next checkpoint; a retry runs only the unfinished parts, each from its checkpoint.
TEST_P(JobPartsTest, AFailingPartFailsTheJobAndRetryRerunsOnlyUnfinishedParts) {
  auto e = store_->EnqueueHeatmap(FourParts());
  ASSERT_TRUE(e.ok());
  auto a = *store_->ClaimBatch("a", 4);
  ASSERT_EQ(a.size(), 4u);
  ASSERT_TRUE(Write(a[0], 0, 2500).ok());
  ASSERT_TRUE(store_->CompletePart(e->job.id, 0, "a").ok());
  ASSERT_TRUE(Write(a[1], 2500, 700).ok());
  auto failed = store_->FailPart(e->job.id, 2, "a", "disk on fire", /*permanent=*/true);
  ASSERT_TRUE(failed.ok()) << failed.status().ToString();
  EXPECT_EQ(failed->status, JobStatus::kFailed);
  ASSERT_TRUE(failed->error.has_value());
  EXPECT_NE(failed->error->find("part 3 of 4 (cells 5000-7499): disk on fire"), std::string::npos)
      << *failed->error;
  EXPECT_EQ(Write(a[1], 3200, 100).status().code(), StatusCode::kConflict)
      << "a part of a failed job writes nothing more";
  EXPECT_EQ(store_->GetJob(e->job.id)->last_processed_index(), 3200);

  auto again = store_->Retry(e->job.id);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->status, JobStatus::kPending);
  auto parts = Parts(e->job.id);
  EXPECT_EQ(parts[0].status, PartStatus::kCompleted);
  EXPECT_EQ(parts[1].next, 3200) << "resumes from its checkpoint";
  std::set<int> claimed;
  while (auto c = *store_->Claim("b")) {
    claimed.insert(c->part);
    EXPECT_EQ(c->attempts, 1);
    if (c->part == 1) EXPECT_EQ(c->part_next, 3200);
  }
  EXPECT_EQ(claimed, (std::set<int>{1, 2, 3}));
}

// Cancel with several parts in flight (one worker, three slots): every part stops at its next
// chunk and the job ends cancelled once the last has; retry finishes it with the right cells
// and never rewrites a part that had completed.
TEST_P(JobPartsTest, CancelAndRetryWithSeveralPartsInFlight) {
  HeatmapJobSpec spec = JobOver(47.04, 9.44, 0.1, 0.0005);  // 40,000 cells
  spec.part_cells = 5000;                                   // 8 parts
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->job.part_count, 8);
  WorkerOptions o;
  o.chunk_size = 100;
  o.max_concurrent_jobs = 3;
  o.exit_when_idle = true;
  o.log_polls = false;
  std::atomic<int> checkpoints{0};
  std::atomic<int> running_at_cancel{0};
  std::atomic<bool> cancelled{false};
  o.on_checkpoint = [&](int64_t id, int64_t) {
    if (++checkpoints == 60 && !cancelled.exchange(true)) {
      int running = 0;
      for (const JobPart& p : Parts(id)) running += p.status == PartStatus::kRunning;
      running_at_cancel = running;
      ASSERT_TRUE(store_->Cancel(id).ok());
    }
  };
  {
    Worker w(store_.get(), testing::TestEnv(), o);
    w.Run();
  }
  EXPECT_GE(running_at_cancel.load(), 2) << "several parts were in flight";
  Job j = *store_->GetJob(e->job.id);
  EXPECT_EQ(j.status, JobStatus::kCancelled);
  std::vector<std::pair<int64_t, int64_t>> completed;
  for (const JobPart& p : Parts(e->job.id)) {
    EXPECT_NE(p.status, PartStatus::kRunning);
    if (p.status == PartStatus::kCompleted) completed.emplace_back(p.begin, p.end);
  }
  EXPECT_LT(completed.size(), 8u) << "the cancel stopped the job before its end";

  ASSERT_TRUE(store_->Retry(e->job.id).ok());
  std::mutex mu;
  std::vector<int64_t> rewritten;  // checkpoints landing in a part completed before the retry
  o.on_checkpoint = [&](int64_t, int64_t done_to) {
    for (auto [b, en] : completed) {
      if (done_to > b && done_to <= en) {
        std::lock_guard<std::mutex> l(mu);
        rewritten.push_back(done_to);
      }
    }
  };
  {
    Worker w(store_.get(), testing::TestEnv(), o);
    w.Run();
  }
  EXPECT_TRUE(rewritten.empty()) << rewritten.size() << " chunks of completed parts rewritten";
  EXPECT_EQ(store_->GetJob(e->job.id)->status, JobStatus::kCompleted);
  ExpectCellsEqual(spec);
}

// A dead owner's parts are rescued, each on its own; a live owner's parts of the same job are
// left alone.
TEST_P(JobPartsTest, DeadOwnerRescueWorksPerPart) {
  auto e = store_->EnqueueHeatmap(FourParts());
  ASSERT_TRUE(e.ok());
  auto lease = store_->HoldOwnerLease("alive");
  ASSERT_TRUE(lease.ok());
  ASSERT_EQ(store_->ClaimBatch("alive", 2)->size(), 2u);
  ASSERT_EQ(store_->ClaimBatch("dead", 2)->size(), 2u);  // no lease: its process is gone
  EXPECT_TRUE(store_->ClaimBatch("x", 1)->empty()) << "every part is taken";
  auto rescued = store_->RescueDeadOwners();
  ASSERT_TRUE(rescued.ok()) << rescued.status().ToString();
  EXPECT_EQ(*rescued, 2);
  auto parts = Parts(e->job.id);
  EXPECT_EQ(parts[0].locked_by, "alive");
  EXPECT_EQ(parts[1].locked_by, "alive");
  EXPECT_EQ(parts[2].status, PartStatus::kPending);
  EXPECT_EQ(parts[3].status, PartStatus::kPending);
  Job j = *store_->GetJob(e->job.id);
  EXPECT_EQ(j.status, JobStatus::kRunning) << "its live parts still run";
  ASSERT_TRUE(j.error.has_value());
  EXPECT_NE(j.error->find("worker dead died"), std::string::npos) << *j.error;
  EXPECT_NE(j.error->find("part "), std::string::npos) << *j.error;
  auto next = store_->ClaimBatch("other", 4);
  ASSERT_EQ(next->size(), 2u);
  EXPECT_EQ((*next)[0].part, 2);
}

// A job the original app left running mid-way (lastProcessedIndex 1200, no queue columns)
// becomes a job of one part through the upgrade, is rescued and resumes at 1200.
TEST_P(JobPartsTest, AJobRunningMidWayThroughTheUpgradeResumesFromItsIndex) {
  testing::TempDir d2;
  std::string url = testing::FreshStoreUrl(GetParam(), d2);
  const bool pg = GetParam() == Backend::kPostgres;
  const HeatmapJobSpec spec = JobOver(47.05, 9.45, 0.05, 0.001);  // 2,500 cells
  nlohmann::json meta = EncodeHeatmapMetadata(spec);
  meta["lastProcessedIndex"] = 1200;
  testing::ExecSql(url, std::string("CREATE TABLE cities (id ") + (pg ? "SERIAL" : "INTEGER") +
                            " PRIMARY KEY, slug VARCHAR(100) NOT NULL UNIQUE, name TEXT NOT "
                            "NULL, country TEXT, min_lat REAL NOT NULL, min_lng REAL NOT NULL, "
                            "max_lat REAL NOT NULL, max_lng REAL NOT NULL);"
                            "CREATE TABLE jobs (id " +
                            (pg ? "SERIAL" : "INTEGER") +
                            " PRIMARY KEY, type VARCHAR(50) NOT NULL, status VARCHAR(20) NOT "
                            "NULL, city_id INTEGER REFERENCES cities, progress INTEGER DEFAULT "
                            "0, total_items INTEGER, error TEXT, metadata " +
                            (pg ? "JSONB" : "TEXT") +
                            ", created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, started_at "
                            "TIMESTAMP, completed_at TIMESTAMP);"
                            "INSERT INTO jobs (type, status, progress, total_items, metadata) "
                            "VALUES ('heatmap_compute', 'running', 48, 2500, '" +
                            meta.dump() + "');");
  auto s = OpenStore(url, &clock_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Store* st = s->get();
  ASSERT_TRUE(st->UpsertPois(GenerateCity(SmallCity())).ok());
  auto jobs = *st->ListJobs({});
  ASSERT_EQ(jobs.size(), 1u);
  const int64_t id = jobs[0].id;
  auto parts = *st->ListParts(id);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].status, PartStatus::kRunning);
  EXPECT_EQ(parts[0].next, 1200);
  EXPECT_EQ(parts[0].end, 2500);
  WorkerOptions o;
  o.chunk_size = 100;
  o.exit_when_idle = true;
  o.log_polls = false;
  std::vector<int64_t> checkpoints;
  o.on_checkpoint = [&](int64_t, int64_t done_to) { checkpoints.push_back(done_to); };
  Worker w(st, testing::TestEnv(), o);
  w.Run();  // rescues the dead app's run at start, then resumes it
  Job done = *st->GetJob(id);
  EXPECT_EQ(done.status, JobStatus::kCompleted);
  ASSERT_FALSE(checkpoints.empty());
  EXPECT_EQ(checkpoints.front(), 1300) << "resumed at 1200";
  EXPECT_EQ(*st->CountCells(spec.grid_step), 2500 - 1200) << "cells before 1200 not rewritten";
}

INSTANTIATE_TEST_SUITE_P(Stores, JobPartsTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace nbi
